"""Delivery with real receivers: retries, 410, redirects, Retry-After, limits, auto-disable."""

import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks.delivery import delivery_run, next_delay, retry_after_seconds
from webhooks.models import Delivery, DeliveryAttempt, EndpointNotice, Event, Subscription

from .conftest import Reply, make_org
from .support import publish, run_until_settled, subscribe

pytestmark = pytest.mark.django_db


def test_a_receiver_that_fails_three_times_then_succeeds_gets_one_success(
    org, receiver, loopback_allowed
):
    receiver.then(Reply(500), Reply(503), Reply(502))
    subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()

    outcomes = run_until_settled(delivery)

    assert outcomes == ["pending", "pending", "pending", "succeeded"]
    assert delivery.status == Delivery.Status.SUCCEEDED and delivery.attempts == 4
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {delivery.msg_id} and len(receiver.requests) == 4
    log = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [a.status_code for a in log] == [500, 503, 502, 200]
    assert [a.succeeded for a in log] == [False, False, False, True]
    assert [a.number for a in log] == [1, 2, 3, 4]
    assert DeliveryAttempt.objects.filter(succeeded=True).count() == 1
    assert log[0].error_class == "http_status" and log[0].response_body == "ok"
    assert log[3].request_headers["webhook-id"] == delivery.msg_id
    assert log[3].request_headers["webhook-signature"].startswith("v1,")
    assert log[3].latency_ms is not None and log[3].address == "127.0.0.1"
    sub = Subscription.objects.get()
    assert sub.last_success_at is not None and sub.failing_since is None


def test_retries_follow_the_jittered_schedule(org, receiver, loopback_allowed):
    receiver.default = Reply(500)
    subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    waits = []
    for _ in range(3):
        before = timezone.now()
        delivery_run(delivery_id=delivery.pk, now=max(before, delivery.next_attempt_at))
        delivery.refresh_from_db()
        waits.append((delivery.next_attempt_at - before).total_seconds())
    assert 5 * 0.85 - 0.5 <= waits[0] <= 5 * 1.15 + 0.5
    assert 300 * 0.85 - 1 <= waits[1] <= 300 * 1.15 + 1
    assert 1800 * 0.85 - 1 <= waits[2] <= 1800 * 1.15 + 1


def test_the_schedule_spans_about_three_days_then_gives_up(settings):
    settings.WEBHOOK_RETRY_JITTER = 0
    delays = [next_delay(attempts=n, retry_after=None) for n in range(1, 10)]
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    assert 3 < sum(delays) / 86400 < 3.3
    assert next_delay(attempts=10, retry_after=None) is None


def test_it_gives_up_after_the_last_attempt(org, receiver, loopback_allowed):
    receiver.default = Reply(500)
    subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    outcomes = run_until_settled(delivery)
    assert outcomes[-1] == "failed" and len(outcomes) == 10
    assert delivery.status == Delivery.Status.FAILED and delivery.finished_at is not None
    assert len(receiver.requests) == 10


def test_retry_after_is_honoured_and_capped(org, receiver, loopback_allowed):
    receiver.then(Reply(429, headers={"Retry-After": "120"}))
    subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    before = timezone.now()
    assert delivery_run(delivery_id=delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert 119 <= (delivery.next_attempt_at - before).total_seconds() <= 122

    now = timezone.now()
    assert retry_after_seconds("999999", now=now) == 86400
    http_date = (now + timedelta(minutes=10)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 598 <= retry_after_seconds(http_date, now=now) <= 600
    assert retry_after_seconds("soon", now=now) is None


def test_410_disables_the_subscription_and_records_a_notice(org, receiver, loopback_allowed):
    receiver.default = Reply(410)
    sub, _ = subscribe(org, receiver.url)
    publish()
    publish()
    first, second = Delivery.objects.order_by("sequence")

    assert delivery_run(delivery_id=first.pk) == "failed"

    sub.refresh_from_db()
    assert not sub.is_active and "410" in sub.disabled_reason
    notice = EndpointNotice.objects.get(subscription=sub)
    assert notice.kind == "endpoint.disabled" and "410" in notice.message
    assert Event.objects.filter(type="endpoint.disabled").count() == 1
    # The rest wait, paused, and are not sent while it is disabled.
    assert delivery_run(delivery_id=second.pk) == "gone"
    assert len(receiver.requests) == 1


def test_endpoint_disabled_is_sent_to_the_organizations_other_endpoints(
    org, receivers, loopback_allowed
):
    gone, watcher = receivers(), receivers()
    gone.default = Reply(410)
    subscribe(org, gone.url)
    subscribe(org, watcher.url, event_types=["endpoint.disabled"])
    outsider = make_org("other", plan="pro")
    subscribe(outsider, watcher.url + "/outsider", event_types=["endpoint.disabled"])
    publish()
    delivery_run(delivery_id=Delivery.objects.get(event__type="snapshot.completed").pk)

    notice = Delivery.objects.get(event__type="endpoint.disabled")
    assert notice.subscription.organization == org
    assert delivery_run(delivery_id=notice.pk) == "succeeded"
    assert watcher.requests[0].path == "/"
    assert b'"type":"endpoint.disabled"' in watcher.requests[0].body


def test_a_redirect_is_a_failure_and_is_never_followed(org, receivers, loopback_allowed):
    target, redirector = receivers(), receivers()
    redirector.default = Reply(302, headers={"Location": target.url + "/elsewhere"})
    subscribe(org, redirector.url)
    publish()
    delivery = Delivery.objects.get()

    assert delivery_run(delivery_id=delivery.pk) == "pending"

    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code == 302 and attempt.error_class == "redirect"
    assert not attempt.succeeded
    assert target.requests == []


def test_it_reads_at_most_4_kb_of_the_response(org, receiver, loopback_allowed):
    receiver.default = Reply(200, body=b"x" * 100_000)
    subscribe(org, receiver.url)
    publish()
    delivery_run(delivery_id=Delivery.objects.get().pk)
    attempt = DeliveryAttempt.objects.get()
    assert attempt.succeeded and len(attempt.response_body) == 4096


def test_a_slow_receiver_times_out(org, receiver, loopback_allowed):
    loopback_allowed.WEBHOOK_TOTAL_TIMEOUT = 0.3
    receiver.then(Reply(200, delay=1.0))
    subscribe(org, receiver.url)
    publish()
    assert delivery_run(delivery_id=Delivery.objects.get().pk) == "pending"
    attempt = DeliveryAttempt.objects.get()
    assert attempt.error_class == "timeout" and attempt.status_code is None
    assert attempt.latency_ms < 1000


def test_a_subscription_failing_for_five_days_is_disabled(org, receiver, loopback_allowed):
    receiver.default = Reply(500)
    sub, _ = subscribe(org, receiver.url)
    publish()
    publish()
    first, second = Delivery.objects.order_by("sequence")
    delivery_run(delivery_id=first.pk)
    sub.refresh_from_db()
    assert sub.is_active and sub.failing_since is not None

    # Four days of failures are not enough.
    Subscription.objects.filter(pk=sub.pk).update(
        failing_since=timezone.now() - timedelta(days=4, hours=23)
    )
    delivery_run(delivery_id=second.pk)
    sub.refresh_from_db()
    assert sub.is_active

    Subscription.objects.filter(pk=sub.pk).update(
        failing_since=timezone.now() - timedelta(days=5, minutes=1)
    )
    second.refresh_from_db()
    delivery_run(delivery_id=second.pk, now=second.next_attempt_at)
    sub.refresh_from_db()
    assert not sub.is_active and "5 days" in sub.disabled_reason
    assert EndpointNotice.objects.filter(subscription=sub, kind="endpoint.disabled").count() == 1


def test_a_success_ends_the_failure_streak(org, receiver, loopback_allowed):
    receiver.then(Reply(500))
    sub, _ = subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    delivery_run(delivery_id=delivery.pk)
    Subscription.objects.filter(pk=sub.pk).update(failing_since=timezone.now() - timedelta(days=4))
    run_until_settled(delivery)
    sub.refresh_from_db()
    assert sub.failing_since is None and sub.is_active


def test_concurrency_is_capped_by_plan(org, receiver, loopback_allowed):
    free = make_org("tiny", plan="free")
    subscribe(free, receiver.url)
    publish()
    publish()
    first, second = Delivery.objects.order_by("sequence")
    # One is being delivered (claimed by another worker): free allows one at a time.
    Delivery.objects.filter(pk=first.pk).update(
        status=Delivery.Status.DELIVERING, claimed_until=timezone.now() + timedelta(seconds=30)
    )
    assert delivery_run(delivery_id=second.pk) == "busy"
    second.refresh_from_db()
    assert second.status == Delivery.Status.PENDING and second.enqueued_at is None
    assert receiver.requests == []


def test_sequence_numbers_only_go_up_per_subscription(org, receivers, loopback_allowed):
    a, b = receivers(), receivers()
    sub_a, _ = subscribe(org, a.url)
    publish()
    sub_b, _ = subscribe(org, b.url)
    publish()
    publish()
    assert list(
        Delivery.objects.filter(subscription=sub_a)
        .order_by("pk")
        .values_list("sequence", flat=True)
    ) == [1, 2, 3]
    assert list(
        Delivery.objects.filter(subscription=sub_b)
        .order_by("pk")
        .values_list("sequence", flat=True)
    ) == [1, 2]


@pytest.fixture
def trickler():
    """A raw server sending one header byte every 0.1 s: each read is quick, the whole is not."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 100:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/"
    stop.set()
    server.close()


def test_the_total_timeout_holds_against_a_trickling_receiver(org, trickler, loopback_allowed):
    loopback_allowed.WEBHOOK_TOTAL_TIMEOUT = 0.6
    subscribe(org, trickler)
    publish()
    started = time.monotonic()
    assert delivery_run(delivery_id=Delivery.objects.get().pk) == "pending"
    assert time.monotonic() - started < 3  # the trickle alone would last ~10 s
    attempt = DeliveryAttempt.objects.get()
    assert attempt.error_class == "timeout" and attempt.error == "over 0.6 s in total"
