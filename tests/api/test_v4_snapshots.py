"""/api/v4/snapshots: snapshot runs with what they cost and how they ended."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from snapshots.models import Snapshot
from tests.factories import T0, days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db

META_KEYS = [
    "id",
    "taken_at",
    "status",
    "source",
    "kind",
    "source_count",
    "models_seen",
    "ttl_seconds",
    "call_budget",
    "calls_used",
    "quota_remaining",
    "quota_limit",
    "duration_seconds",
    "details_fetched",
    "details_deferred",
    "published_at",
    "error",
    "baseline_24h",
    "baseline_7d",
    "deltas_computed_at",
]


def get_json(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.content
    return json.loads(response.content)


def hub_run(taken_at, **fields) -> Snapshot:
    values = {
        "status": Snapshot.Status.FAILED,
        "source": Snapshot.Source.HUB,
        "started_at": taken_at,
        "finished_at": taken_at + timedelta(seconds=42.5),
        "call_budget": 400,
        "calls_used": 17,
        "quota_remaining": 480,
        "quota_limit": 500,
        "source_count": 2000,
        "models_seen": 1990,
        "details_fetched": 12,
        "details_deferred": 3,
        "ttl_seconds": 3600,
        "error": "HubError: 502 five times",
    }
    values.update(fields)
    return Snapshot.objects.create(taken_at=taken_at, **values)


@pytest.fixture
def runs():
    first = published_snapshot([hub_record("a/one"), hub_record("a/two")], taken_at=T0)
    second = published_snapshot([hub_record("a/one")], taken_at=T0 + days(1))
    failed = hub_run(T0 + days(1) + timedelta(hours=1))
    return first, second, failed


def test_it_lists_complete_snapshots_newest_first_with_their_metadata(client, runs):
    first, second, _ = runs
    body = get_json(client, "/api/v4/snapshots")
    assert (body["status"], body["count"], body["limit"]) == ("complete", 2, 100)
    assert body["next"] is None and body["previous"] is None
    assert [s["id"] for s in body["results"]] == [second.pk, first.pk]
    newest = body["results"][0]
    assert list(newest) == META_KEYS
    second.refresh_from_db()
    assert newest == {
        "id": second.pk,
        "taken_at": "2026-03-02T12:00:00Z",
        "status": "complete",
        "source": "archive",
        "kind": "hourly",
        "source_count": 1,
        "models_seen": 1,
        "ttl_seconds": 3600,
        "call_budget": None,
        "calls_used": 0,
        "quota_remaining": None,
        "quota_limit": None,
        "duration_seconds": round(second.duration.total_seconds(), 3),
        "details_fetched": 0,
        "details_deferred": 0,
        "published_at": second.published_at.isoformat().replace("+00:00", "Z"),
        "error": None,
        "baseline_24h": first.pk,
        "baseline_7d": None,
        "deltas_computed_at": second.deltas_computed_at.isoformat().replace("+00:00", "Z"),
    }


def test_it_shows_failed_runs_when_asked(client, runs):
    _, second, failed = runs
    body = get_json(client, "/api/v4/snapshots?status=failed")
    assert body["status"] == "failed" and body["count"] == 1
    (run,) = body["results"]
    assert {k: run[k] for k in ("id", "status", "source", "error", "duration_seconds")} == {
        "id": failed.pk,
        "status": "failed",
        "source": "hub",
        "error": "HubError: 502 five times",
        "duration_seconds": 42.5,
    }
    assert (run["call_budget"], run["calls_used"]) == (400, 17)
    assert (run["quota_remaining"], run["quota_limit"]) == (480, 500)
    assert (run["source_count"], run["models_seen"]) == (2000, 1990)
    assert (run["details_fetched"], run["details_deferred"]) == (12, 3)
    every = get_json(client, "/api/v4/snapshots?status=all")
    assert [s["id"] for s in every["results"]][:2] == [failed.pk, second.pk]
    assert every["count"] == 3


def test_it_never_caches_runs_that_are_not_complete(client, runs):
    first = client.get("/api/v4/snapshots?status=all")
    assert first["Cache-Control"] == "no-store" and first["X-Cache"] == "MISS"
    hub_run(T0 + days(2), status=Snapshot.Status.RUNNING, error="")
    again = get_json(client, "/api/v4/snapshots?status=all")
    assert again["count"] == 4 and again["results"][0]["status"] == "running"


def test_it_pages(client, runs):
    body = get_json(client, "/api/v4/snapshots?status=all&limit=2")
    assert len(body["results"]) == 2 and body["previous"] is None
    assert body["next"].startswith("http://testserver/api/v4/snapshots?cursor=")
    assert body["next"].endswith("&limit=2&status=all")
    rest = get_json(client, body["next"])
    assert len(rest["results"]) == 1 and rest["next"] is None
    seen = [run["id"] for run in body["results"] + rest["results"]]
    assert seen == [
        run["id"] for run in get_json(client, "/api/v4/snapshots?status=all")["results"]
    ]
    assert get_json(client, rest["previous"])["results"] == body["results"]


@pytest.mark.parametrize(
    ("query", "name"), [("status=done", "status"), ("limit=0", "limit"), ("cursor=x", "cursor")]
)
def test_it_rejects_bad_parameters_by_name(client, runs, query, name):
    error = get_json(client, f"/api/v4/snapshots?{query}", status=400)["error"]
    assert error["code"] == "invalid_parameter" and list(error["fields"]) == [name]
    if name == "status":
        assert error["fields"]["status"] == [
            "must be one of: all, running, complete, partial, failed"
        ]


def test_it_lists_snapshots_in_a_constant_number_of_queries(client):
    def queries_for(n):
        for i in range(n):
            hub_run(T0 + timedelta(minutes=i + n * 100))
        with CaptureQueriesContext(connection) as captured:
            body = get_json(client, "/api/v4/snapshots?status=all&limit=100")
        assert len(body["results"]) >= n
        return len(captured)

    # The version memo, the count, the page (the gate knows the caller's plan).
    assert queries_for(2) == queries_for(30) == 3
