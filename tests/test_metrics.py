"""/metrics: django-prometheus's metrics plus ours (registry.metrics)."""

from __future__ import annotations

import pytest
from celery import shared_task
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from registry.hub import HubClient
from snapshots.models import Snapshot
from snapshots.services import snapshot_refresh
from tests.factories import hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db

TOKEN = "scraper-token-for-tests"


@pytest.fixture(autouse=True)
def _scraper_token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample /metrics exposes: (name, sorted labels) -> value."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_it_exposes_refresh_duration_upstream_calls_and_quota(client, replay_hub, hub_settings):
    before = scrape(client)
    hub = replay_hub(hub_records(30))
    client_ = HubClient(endpoint=hub.url, sleep=lambda s: None, backoff_base=0.01)
    snapshot = snapshot_refresh(client=client_, max_models=30, page_size=10)
    assert snapshot.status == Snapshot.Status.COMPLETE
    after = scrape(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("modelboard_snapshot_duration_seconds_count", status="complete") == 1
    duration = (snapshot.finished_at - snapshot.started_at).total_seconds()
    assert grew("modelboard_snapshot_duration_seconds_sum", status="complete") == pytest.approx(
        duration
    )
    assert grew("modelboard_refresh_runs_total", status="complete") == 1
    assert grew("modelboard_upstream_calls_total") == snapshot.calls_used == 3 + 30
    assert value(after, "modelboard_upstream_quota_remaining") == snapshot.quota_remaining
    assert value(after, "modelboard_upstream_quota_limit") == 500
    assert value(after, "modelboard_refresh_last_complete_timestamp_seconds") == pytest.approx(
        snapshot.taken_at.timestamp()
    )


def test_it_counts_a_failed_refresh(client, replay_hub, hub_settings):
    from registry.replay import FaultPlan

    before = scrape(client)
    hub = replay_hub(hub_records(5), faults=FaultPlan(status_5xx=set(range(1, 50))))
    client_ = HubClient(endpoint=hub.url, sleep=lambda s: None, backoff_base=0.01, max_retries=2)
    snapshot = snapshot_refresh(client=client_, max_models=5, page_size=5)
    assert snapshot.status == Snapshot.Status.FAILED
    after = scrape(client)
    assert (
        value(after, "modelboard_refresh_runs_total", status="failed")
        - value(before, "modelboard_refresh_runs_total", status="failed")
        == 1
    )
    assert (
        value(after, "modelboard_upstream_calls_total")
        - value(before, "modelboard_upstream_calls_total")
        == snapshot.calls_used
        > 0
    )


def test_it_exposes_cache_hits_and_misses(client):
    published_snapshot([hub_record("acme/one")])
    before = scrape(client)
    for _ in range(3):
        client.get("/api/v4/models")
    after = scrape(client)
    for result, expected in (("hit", 2), ("miss", 1)):
        name = "modelboard_cache_lookups_total"
        grown = value(after, name, result=result) - value(before, name, result=result)
        assert grown == expected


@shared_task(name="tests.metrics.add", bind=True, max_retries=1)
def add(self, a, b, *, fail=False, retry=False):
    if retry and self.request.retries == 0:
        raise self.retry(countdown=0)
    if fail:
        raise ValueError("asked to fail")
    return a + b


def sample(name, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_it_counts_celery_tasks_their_failures_retries_and_runtimes():
    task = {"task": "tests.metrics.add"}
    names = {
        "started": ("modelboard_celery_tasks_started_total", task),
        "success": ("modelboard_celery_tasks_finished_total", {**task, "state": "success"}),
        "failure": ("modelboard_celery_tasks_finished_total", {**task, "state": "failure"}),
        "retry": ("modelboard_celery_tasks_finished_total", {**task, "state": "retry"}),
        "raised": ("modelboard_celery_task_failures_total", {**task, "exception": "ValueError"}),
        "retries": ("modelboard_celery_task_retries_total", task),
        "timed": ("modelboard_celery_task_runtime_seconds_count", task),
    }
    before = {key: sample(name, **labels) for key, (name, labels) in names.items()}

    # throw=False runs them as a worker does: errors are handled, not raised
    # to the caller (eager propagation skips Celery's failure handling).
    assert add.apply((2, 3), throw=False).get() == 5
    assert isinstance(add.apply((1, 1), {"fail": True}, throw=False).result, ValueError)
    assert add.apply((1, 2), {"retry": True}, throw=False).get() == 3  # retried once

    grown = {key: sample(name, **labels) - before[key] for key, (name, labels) in names.items()}
    assert grown == {
        "started": 4,
        "success": 2,
        "failure": 1,
        "retry": 1,
        "raised": 1,
        "retries": 1,
        "timed": 4,
    }


def test_it_still_answers_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    samples = scrape(client)
    assert not any(name == "modelboard_queue_depth" for name, _ in samples)
    assert ("modelboard_upstream_calls_total", ()) in samples


def test_it_exports_the_health_figures_at_scrape_time(client):
    from datetime import timedelta

    from django.utils import timezone

    from registry import caching

    now = timezone.now()
    for hours_ago, calls in ((30, 500), (3, 40), (1, 25)):
        taken_at = now - timedelta(hours=hours_ago)
        Snapshot.objects.create(
            taken_at=taken_at, started_at=taken_at, status="complete", calls_used=calls
        )
    caching.record_lookup(hit=True)
    caching.record_lookup(hit=True)
    caching.record_lookup(hit=False)
    samples = scrape(client)
    assert value(samples, "modelboard_upstream_calls_recent") == 65
    assert value(samples, "modelboard_cache_hit_ratio") == pytest.approx(2 / 3)
    assert samples[("modelboard_webhook_deliveries_due", ())] == 0
    assert samples[("modelboard_webhook_oldest_due_seconds", ())] == 0
    saturation = samples.get(("modelboard_cache_memory_saturation", ()))
    if saturation is not None:  # Redis without maxmemory has no saturation
        assert 0 < saturation <= 1


# --- Who may scrape ------------------------------------------------------------

METRIC = b"modelboard_upstream_calls_total"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-Forwarded-For": "10.1.2.3"},  # a client can write it: never trusted here
    ],
)
def test_it_refuses_a_scrape_without_the_token(client, settings, headers):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 403
    assert METRIC not in response.content and b"METRICS_TOKEN" in response.content


@pytest.mark.parametrize(
    "headers", [{"Authorization": f"Bearer {TOKEN}"}, {"X-Metrics-Token": TOKEN}]
)
def test_it_answers_a_scrape_with_the_token(client, headers):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200 and METRIC in response.content


def test_it_answers_an_allowed_network_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "2001:db8::/32"]
    assert METRIC in client.get("/metrics", REMOTE_ADDR="10.20.30.40").content
    assert METRIC in client.get("/metrics", REMOTE_ADDR="2001:db8::5").content
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_production_with_nothing_configured_is_closed_and_debug_is_open(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    assert client.get("/metrics").status_code == 403
    settings.DEBUG = True
    assert METRIC in client.get("/metrics").content


def test_debug_does_not_open_it_once_a_token_is_set(client, settings):
    settings.DEBUG = True
    assert client.get("/metrics").status_code == 403


def test_staff_may_read_it_in_the_browser(client, django_user_model):
    user = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client.force_login(user)
    assert METRIC in client.get("/metrics").content
