"""An unreachable receiver: every failure is logged, retried on schedule, and ends.

The connection error's text is long (over 200 characters); it once overflowed
the delivery's `last_error`, the settle failed, and the delivery was sent
again forever. These run on PostgreSQL too, which enforces column lengths.
"""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from api.services import api_key_create
from webhooks.delivery import delivery_run
from webhooks.models import Delivery, DeliveryAttempt, EndpointNotice, Subscription

from .support import run_until_settled

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture(autouse=True)
def operator_token(settings):
    """Health's checks are for operators: they send the metrics token."""
    settings.METRICS_TOKEN = "operator"


def health(client) -> tuple[int, dict]:
    response = client.get("/api/v4/health", headers={"X-Metrics-Token": "operator"})
    return response.status_code, json.loads(response.content)


def test_a_test_event_to_a_closed_port_fails_cleanly_retries_and_disables(
    client, org, closed_port_url, loopback_allowed, django_capture_on_commit_callbacks
):
    loopback_allowed.WEBHOOK_DISABLE_AFTER_DAYS = 2
    loopback_allowed.RATE_LIMIT_ENABLED = False
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(organization=org, name='k')[1]}"}
    created = client.post(
        "/api/v4/webhooks/subscriptions",
        json.dumps({"url": closed_port_url, "event_types": ["snapshot.completed"]}),
        content_type="application/json",
        **auth,
    ).json()

    # The test event is sent on commit (eagerly here): the failure is an answer, not a 500.
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v4/webhooks/subscriptions/{created['id']}/test", **auth)
    assert response.status_code == 202, response.content

    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 1
    assert len(delivery.last_error) > 200 and "Connection refused" in delivery.last_error
    # The backoff is kept: the first retry waits ~5 s (+/- 15 %).
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 5 * 0.85 <= wait <= 5 * 1.15 + 2
    [attempt] = DeliveryAttempt.objects.all()
    assert attempt.error_class == "connection" and attempt.error == delivery.last_error
    assert attempt.number == 1 and attempt.status_code is None
    sub = Subscription.objects.get()
    assert sub.failing_since is not None and sub.is_active

    # Every attempt of the schedule is logged, then it gives up: no attempt past the limit.
    outcomes = run_until_settled(delivery)
    assert outcomes == ["pending"] * 8 + ["failed"]
    assert delivery.status == Delivery.Status.FAILED and delivery.attempts == 10
    numbers = list(DeliveryAttempt.objects.order_by("pk").values_list("number", flat=True))
    assert numbers == list(range(1, 11))
    assert delivery_run(delivery_id=delivery.pk, now=timezone.now() + timedelta(days=9)) == "gone"

    # Failing for the configured days (2 here) disables the endpoint.
    Subscription.objects.filter(pk=sub.pk).update(
        failing_since=timezone.now() - timedelta(days=2, minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            client.post(f"/api/v4/webhooks/subscriptions/{sub.pk}/test", **auth).status_code == 202
        )
    sub.refresh_from_db()
    assert not sub.is_active and sub.disabled_reason == "every delivery failed for 2 days"
    assert EndpointNotice.objects.filter(subscription=sub).count() == 1

    # Health says so.
    status, body = health(client)
    backlog = body["checks"]["backlog"]
    assert "backlog" in body["warnings"] and backlog["status"] == "warning"
    assert backlog["deliveries"]["disabled_recently"] == 1
    assert "disabled for failing" in backlog["detail"]


def test_health_is_degraded_when_deliveries_go_past_their_last_attempt(
    client, org, closed_port_url, loopback_allowed
):
    from .support import publish, subscribe

    subscribe(org, closed_port_url)
    publish()
    # What the overflow used to leave: claimed again and again, never settled.
    Delivery.objects.update(
        status=Delivery.Status.DELIVERING,
        attempts=14,
        claimed_until=timezone.now() + timedelta(seconds=30),
    )
    status, body = health(client)
    assert status == 503 and "backlog" in body["degraded"]
    assert body["checks"]["backlog"]["deliveries"]["over_limit"] == 1
    assert "past their last attempt" in body["checks"]["backlog"]["detail"]


def test_a_response_body_with_nul_bytes_is_logged_not_a_failed_settle(
    org, receiver, loopback_allowed
):
    from .conftest import Reply
    from .support import publish, subscribe

    receiver.default = Reply(500, body=b"bad\x00binary\x00")
    subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    assert delivery_run(delivery_id=delivery.pk) == "pending"
    [attempt] = DeliveryAttempt.objects.all()
    assert attempt.response_body == "bad\ufffdbinary\ufffd" and attempt.status_code == 500
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING and delivery.last_error == "HTTP 500"
