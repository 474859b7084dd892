"""/api/v4/health: 200 when Modelboard serves fresh data, 503 when degraded.

Operators see every check's figures; the public sees the status alone.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from registry import caching
from registry.models import Organization, Plan
from snapshots.models import Snapshot
from tests.factories import hub_record, published_snapshot

pytestmark = pytest.mark.django_db


TOKEN = "operators-token-for-tests"


@pytest.fixture(autouse=True)
def _operators_token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []


def health(client, **headers) -> tuple[int, dict]:
    """The operators' answer (with the token), unless other headers are given."""
    response = client.get("/api/v4/health", headers=headers or {"X-Metrics-Token": TOKEN})
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response.status_code, json.loads(response.content)


def hub_run(*, minutes_ago: float, status=Snapshot.Status.COMPLETE, **fields) -> Snapshot:
    taken_at = timezone.now() - timedelta(minutes=minutes_ago)
    values = {
        "source": Snapshot.Source.HUB,
        "started_at": taken_at,
        "finished_at": taken_at + timedelta(seconds=30),
        "call_budget": 400,
        "calls_used": 12,
        "quota_remaining": 488,
        "quota_limit": 500,
    }
    values.update(fields)
    return Snapshot.objects.create(taken_at=taken_at, status=status, **values)


@pytest.fixture
def fresh(settings):
    settings.REFRESH_EVERY_MINUTES = 60
    return published_snapshot([hub_record("acme/one")], taken_at=timezone.now())


def test_it_answers_200_with_every_check_when_all_is_well(client, fresh, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    run = hub_run(minutes_ago=5)
    client.get("/api/v4/models")
    client.get("/api/v4/models")
    status, body = health(client)
    assert status == 200, body
    assert body["status"] == "ok" and body["degraded"] == [] and body["warnings"] == []
    checks = body["checks"]
    assert list(checks) == [
        "database",
        "cache",
        "broker",
        "queues",
        "snapshot",
        "refresh",
        "crawl",
        "quota",
        "cache_hit_rate",
        "cache_memory",
        "backlog",
    ]
    assert checks["database"]["status"] == "ok" and checks["database"]["latency_ms"] >= 0
    assert checks["cache"]["status"] == "ok"
    assert checks["broker"]["status"] == "eager"
    assert checks["queues"] == {
        "status": "ok",
        "depths": None,
        "detail": "queue depth is read from Redis brokers only",
    }
    assert checks["snapshot"]["id"] == fresh.pk
    assert 0 <= checks["snapshot"]["age_seconds"] < 60
    assert checks["snapshot"]["max_age_seconds"] == (2 * 60 + 15) * 60
    assert checks["refresh"]["last"]["id"] == run.pk
    assert checks["refresh"]["last"]["status"] == "complete"
    assert checks["refresh"]["last"]["duration_seconds"] == 30.0
    assert (checks["quota"]["remaining"], checks["quota"]["limit"]) == (488, 500)
    assert checks["cache_hit_rate"] == {"status": "ok", "hits": 1, "misses": 1, "hit_rate": 0.5}


def test_it_is_never_cached(client, fresh):
    health(client)
    assert caching.lookup_stats() == {"hit": 0, "miss": 0}


def test_it_answers_503_when_the_snapshot_served_is_stale(client, settings):
    settings.REFRESH_EVERY_MINUTES = 60
    published_snapshot([hub_record("acme/one")], taken_at=timezone.now() - timedelta(hours=3))
    status, body = health(client)
    assert status == 503
    assert body["status"] == "degraded" and body["degraded"] == ["snapshot"]
    assert body["checks"]["snapshot"]["age_seconds"] >= 3 * 3600 - 5
    assert "older than the schedule allows" in body["checks"]["snapshot"]["detail"]


def test_it_allows_two_periods_and_the_grace(client, settings):
    settings.REFRESH_EVERY_MINUTES = 60
    published_snapshot([hub_record("acme/one")], taken_at=timezone.now() - timedelta(minutes=130))
    assert health(client)[0] == 200


def test_it_answers_503_before_any_snapshot(client):
    status, body = health(client)
    assert status == 503 and body["degraded"] == ["snapshot"]
    assert body["checks"]["snapshot"]["detail"] == "no complete snapshot yet"


@pytest.mark.parametrize("failure", [Snapshot.Status.FAILED, Snapshot.Status.PARTIAL])
def test_it_answers_503_when_the_last_refresh_failed(client, fresh, failure):
    hub_run(minutes_ago=30)
    run = hub_run(minutes_ago=2, status=failure, error="HubError: 503 from the Hub five times")
    status, body = health(client)
    assert status == 503 and body["degraded"] == ["refresh"]
    last = body["checks"]["refresh"]["last"]
    assert (last["id"], last["status"]) == (run.pk, failure)
    assert last["error"] == "HubError: 503 from the Hub five times"


def test_it_warns_of_a_low_quota_but_stays_up(client, fresh):
    hub_run(minutes_ago=1, quota_remaining=20, quota_limit=500)
    status, body = health(client)
    assert status == 200 and body["warnings"] == ["quota"]
    assert body["checks"]["quota"]["status"] == "warning"


def test_it_reports_a_check_that_raises_as_degraded_not_500(client, fresh, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("cache server gone")

    monkeypatch.setattr("api.health.cache.set", broken)
    status, body = health(client)
    assert status == 503 and "cache" in body["degraded"]
    assert body["checks"]["cache"] == {
        "status": "degraded",
        "error": "ConnectionError: cache server gone",
    }


def test_it_answers_503_when_the_broker_is_unreachable(client, fresh, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    status, body = health(client)
    assert status == 503
    assert body["degraded"] == ["broker", "queues"]
    assert body["checks"]["broker"]["status"] == "degraded"


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_it_counts_messages_waiting_in_each_queue(client, fresh, settings):
    import redis

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = os.environ["REDIS_URL"]
    suffix = uuid.uuid4().hex[:8]
    settings.CELERY_TASK_DEFAULT_QUEUE = f"default-{suffix}"
    settings.CELERY_TASK_ROUTES = {"snapshots.tasks.*": {"queue": f"refresh-{suffix}"}}
    broker = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        broker.rpush(f"refresh-{suffix}", "a", "b", "c")
        broker.rpush(f"refresh-{suffix}\x06\x163", "high")
        status, body = health(client)
    finally:
        broker.delete(f"refresh-{suffix}", f"refresh-{suffix}\x06\x163")
    assert status == 200, body
    assert body["checks"]["broker"]["status"] == "ok"
    assert body["checks"]["queues"]["depths"] == {f"default-{suffix}": 0, f"refresh-{suffix}": 4}


def test_it_shows_the_upstream_quota_spent_over_the_last_day(client, fresh):
    hub_run(minutes_ago=60 * 30, calls_used=99)  # older than the window
    first = hub_run(minutes_ago=120, calls_used=40, quota_remaining=460)
    second = hub_run(minutes_ago=60, calls_used=25, quota_remaining=435)
    status, body = health(client)
    history = body["checks"]["quota"]["history"]
    assert history["hours"] == 24 and history["calls_used"] == 65
    assert [run["taken_at"] for run in history["runs"]] == [
        first.taken_at.isoformat().replace("+00:00", "Z"),
        second.taken_at.isoformat().replace("+00:00", "Z"),
    ]
    assert [(run["calls_used"], run["quota_remaining"]) for run in history["runs"]] == [
        (40, 460),
        (25, 435),
    ]


def test_it_says_how_full_the_cache_is(client, fresh):
    status, body = health(client)
    memory = body["checks"]["cache_memory"]
    assert memory["status"] == "ok"
    if os.environ.get("REDIS_URL"):
        assert memory["backend"] == "redis" and memory["used_bytes"] > 0
        if memory["max_bytes"]:
            assert memory["saturation"] == round(memory["used_bytes"] / memory["max_bytes"], 4)
    else:
        assert memory["backend"] == "locmem" and memory["max_entries"] == 300
        assert memory["saturation"] == round(memory["entries"] / 300, 4)


def test_it_warns_when_the_cache_is_nearly_full(client, fresh, monkeypatch):
    monkeypatch.setattr(
        "registry.metrics.cache_memory",
        lambda: {"backend": "redis", "used_bytes": 95, "max_bytes": 100, "saturation": 0.95},
    )
    status, body = health(client)
    assert status == 200 and body["warnings"] == ["cache_memory"]
    assert "nearly full" in body["checks"]["cache_memory"]["detail"]


def test_it_counts_the_webhook_backlog_and_warns_of_an_old_due_delivery(client, fresh, settings):
    from webhooks.models import Delivery
    from webhooks.services import events_publish, subscription_create

    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_REQUIRE_HTTPS = False
    org = Organization.objects.create(name="Acme", slug="acme", plan=Plan.objects.get(slug="pro"))
    for port in (9001, 9002, 9003):
        subscription_create(
            organization=org,
            url=f"http://127.0.0.1:{port}/hook",
            event_types=["snapshot.completed"],
        )
    events_publish(type="snapshot.completed", data={})  # sent on commit: never, in a test
    first, second, third = Delivery.objects.order_by("pk")
    now = timezone.now()
    Delivery.objects.filter(pk=first.pk).update(next_attempt_at=now - timedelta(minutes=10))
    Delivery.objects.filter(pk=second.pk).update(next_attempt_at=now + timedelta(hours=2))
    Delivery.objects.filter(pk=third.pk).update(status=Delivery.Status.DELIVERING)
    status, body = health(client)
    backlog = body["checks"]["backlog"]
    assert status == 200 and body["warnings"] == ["backlog"]
    deliveries = backlog["deliveries"]
    assert (deliveries["due"], deliveries["waiting"], deliveries["delivering"]) == (1, 1, 1)
    assert 600 <= deliveries["oldest_due_seconds"] < 660
    assert "has been due for" in backlog["detail"]


# --- Who sees what -------------------------------------------------------------


def test_the_public_gets_the_status_alone(client, fresh):
    hub_run(minutes_ago=5)
    status, body = health(client, Accept="application/json")
    assert (status, body) == (200, {"status": "ok"})


def test_the_public_still_gets_503_when_degraded(client):
    status, body = health(client, Accept="application/json")
    assert (status, body) == (503, {"status": "degraded"})


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Metrics-Token": "not-the-token"},
        {"X-Metrics-Token": ""},
        {"X-Forwarded-For": "10.1.2.3"},  # a client can write it: never trusted here
    ],
)
def test_a_wrong_token_or_a_forged_address_gets_the_public_answer(client, fresh, settings, headers):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    status, body = health(client, **headers)
    assert body == {"status": "ok"}


def test_an_allowed_network_gets_the_checks(client, fresh, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "2001:db8::/32"]
    inside = client.get("/api/v4/health", REMOTE_ADDR="10.9.8.7").json()
    outside = client.get("/api/v4/health", REMOTE_ADDR="192.0.2.1").json()
    assert inside["checks"]["snapshot"]["id"] == fresh.pk
    assert outside == {"status": "ok"}


def test_staff_get_the_checks_and_other_users_do_not(client, fresh, django_user_model):
    user = django_user_model.objects.create_user("someone", password="x")
    client.force_login(user)
    assert client.get("/api/v4/health").json() == {"status": "ok"}
    user.is_staff = True
    user.save()
    body = client.get("/api/v4/health").json()
    assert body["checks"]["snapshot"]["id"] == fresh.pk and body["degraded"] == []


def test_in_debug_with_nothing_configured_it_is_open(client, fresh, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = True
    assert client.get("/api/v4/health").json()["checks"]["snapshot"]["id"] == fresh.pk
    settings.DEBUG = False
    assert client.get("/api/v4/health").json() == {"status": "ok"}


def test_public_calls_run_the_checks_once_per_period(client, fresh, settings, monkeypatch):
    from api import health as health_module

    settings.HEALTH_PUBLIC_SECONDS = 60
    runs = []
    real = health_module.run_checks
    monkeypatch.setattr(health_module, "run_checks", lambda: runs.append(1) or real())
    for _ in range(5):
        assert client.get("/api/v4/health").json() == {"status": "ok"}
    assert len(runs) == 1
    health(client)  # operators always look again
    health(client)
    assert len(runs) == 3
