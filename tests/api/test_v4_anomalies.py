"""/api/v4/anomalies and its CSV export (premium)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from registry.caching import content_changed
from registry.models import HubModel, Organization
from snapshots.models import Anomaly, ScoringProfile
from tests.api.callers import on_plan
from tests.factories import T0, days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db

SPIKE_DAY = (T0 + days(15)).date().isoformat()


@pytest.fixture
def spikes():
    """16 daily snapshots: on the last day a/downloads jumps 9x, a/likes gains 60 likes."""
    total, likes = 1_000_000, 100
    snapshots = []
    for i in range(16):
        total += 9000 if i == 15 else 1000
        likes += 60 if i == 15 else 2
        snapshots.append(
            published_snapshot(
                [
                    hub_record("a/downloads", downloadsAllTime=total, likes=10),
                    hub_record("a/likes", downloadsAllTime=1000 * i, likes=likes),
                    hub_record("a/flat", downloadsAllTime=500 * i, likes=3),
                ],
                taken_at=T0 + days(i),
            )
        )
    return snapshots


def who(plan: str) -> dict:
    return on_plan(plan)


def get_json(client, url: str, status: int = 200, **extra) -> dict:
    response = client.get(url, **extra)
    assert response.status_code == status, response.content
    return json.loads(response.content)


def test_it_lists_anomalies_strongest_first(client, spikes):
    body = get_json(client, "/api/v4/anomalies")
    assert body["count"] == 2 and body["profile"] is None
    assert [(r["model"], r["metric"], r["day"], r["z"]) for r in body["results"]] == [
        # Both follow flat series, so z is the change over the floor of 1 a day.
        ("a/downloads", "downloads", SPIKE_DAY, 8000.0),
        ("a/likes", "likes", SPIKE_DAY, 58.0),
    ]
    downloads = body["results"][0]
    assert downloads == {
        "model": "a/downloads",
        "day": SPIKE_DAY,
        "metric": "downloads",
        "basis": "all_time",
        "value": 9000.0,
        "median": 1000.0,
        "mad": 0.0,
        "z": 8000.0,
        "change": 8000.0,
        "history_days": 14,
        "profiles": ["research", "community"],
        "snapshot": {"id": spikes[-1].pk, "taken_at": "2026-03-16T12:00:00Z"},
    }
    assert body["results"][1]["profiles"] == ["research", "production", "community"]


def test_it_filters(client, spikes):
    def models(query: str) -> list[str]:
        return [r["model"] for r in get_json(client, "/api/v4/anomalies" + query)["results"]]

    assert models("?metric=downloads") == ["a/downloads"]
    assert models("?model=a/likes") == ["a/likes"]
    assert models("?profile=production") == ["a/likes"]  # 8,000 < its 10,000 minimum
    assert models(f"?since={SPIKE_DAY}&until={SPIKE_DAY}") == ["a/downloads", "a/likes"]
    assert models("?until=2026-03-15") == []
    assert models(f"?snapshot={spikes[-1].pk}") == ["a/downloads", "a/likes"]
    assert models(f"?snapshot={spikes[-2].pk}") == []


def test_it_pages_by_cursor(client, spikes):
    response = client.get("/api/v4/anomalies?limit=1")
    body = json.loads(response.content)
    assert body["count"] == 2 and body["previous"] is None
    assert [a["model"] for a in body["results"]] == ["a/downloads"]
    assert body["next"].startswith("http://testserver/api/v4/anomalies?cursor=")
    assert response["Link"] == f'<{body["next"]}>; rel="next"'
    second = get_json(client, body["next"])
    assert [a["model"] for a in second["results"]] == ["a/likes"]
    assert second["next"] is None
    back = get_json(client, second["previous"])
    assert back["results"] == body["results"] and back["previous"] is None


def test_a_cursor_is_bound_to_its_filters(client, spikes):
    body = get_json(client, "/api/v4/anomalies?limit=1")
    cursor = body["next"].split("cursor=")[1].split("&")[0]
    error = get_json(client, f"/api/v4/anomalies?metric=likes&cursor={cursor}", status=400)
    assert error["error"]["fields"]["cursor"] == [
        "this cursor is for metric=(none), not metric=likes; start again without a cursor"
    ]
    error = get_json(client, "/api/v4/anomalies?cursor=W10", status=400)
    assert "cursor" in error["error"]["fields"]


def test_offset_is_gone(client, spikes):
    body = get_json(client, "/api/v4/anomalies?offset=1", status=400)
    assert body["error"]["fields"] == {"offset": ["unknown parameter"]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?metric=stars", "metric"),
        ("?since=yesterday", "since"),
        ("?since=2026-03-10&until=2026-03-01", "until"),
        ("?profile=nope", "profile"),
        ("?snapshot=x", "snapshot"),
        ("?limit=0", "limit"),
    ],
)
def test_bad_input_is_a_400_with_the_field_named(client, spikes, query, field):
    body = get_json(client, "/api/v4/anomalies" + query, status=400)
    assert body["error"]["code"] == "invalid_parameter"
    assert field in body["error"]["fields"]


def test_unknown_parameters_are_refused(client):
    body = get_json(client, "/api/v4/anomalies?tag=chat", status=400)
    assert body["error"]["code"] == "unknown_parameter"


def test_the_list_takes_a_fixed_number_of_queries(client, spikes, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        get_json(client, "/api/v4/anomalies?profile=community&limit=100")


def test_the_csv_export_is_premium(client, spikes):
    body = get_json(client, "/api/v4/anomalies.csv", status=403)
    assert body["error"]["code"] == "plan_required"
    assert body["error"]["message"] == (
        "Exporting anomalies as CSV needs the pro plan (you are on free)."
    )


def test_the_csv_export_streams_the_filtered_list(client, spikes):
    response = client.get("/api/v4/anomalies.csv?metric=downloads", **who("pro"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["model", "day", "metric", "basis"]
    assert rows[1:] == [
        [
            "a/downloads",
            SPIKE_DAY,
            "downloads",
            "all_time",
            "9000.0",
            "1000.0",
            "0.0",
            "8000.0",
            "8000.0",
            "14",
            "research community",
            str(spikes[-1].pk),
        ]
    ]


def test_the_csv_export_stops_at_the_plan_s_export_rows(client, spikes):
    response = client.get("/api/v4/anomalies.csv", **on_plan("pro", export_rows=1))
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("a/downloads,")
    assert Anomaly.objects.count() == 2


def test_the_list_is_cached_until_a_profile_changes(client, spikes):
    first = client.get("/api/v4/anomalies?profile=production")
    assert first["X-Cache"] == "MISS" and json.loads(first.content)["count"] == 1
    assert client.get("/api/v4/anomalies?profile=production")["X-Cache"] == "HIT"
    # What the admin does when a curator saves a profile: change it, then retire the caches.
    ScoringProfile.objects.filter(slug="production").update(anomaly_min_downloads=1000)
    content_changed(reason="scoring profile production saved")
    again = client.get("/api/v4/anomalies?profile=production")
    assert again["X-Cache"] == "MISS" and json.loads(again.content)["count"] == 2


def test_the_csv_export_defuses_formulas_and_says_what_it_holds(client, spikes):
    HubModel.objects.filter(hub_id="a/downloads").update(hub_id="=evil/downloads")
    response = client.get("/api/v4/anomalies.csv", **on_plan("pro", export_rows=1))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1][0] == "'=evil/downloads"
    assert rows[1][4] == "9000.0"  # numbers stay numbers
    assert (
        response["X-Export-Rows"],
        response["X-Export-Total"],
        response["X-Export-Row-Limit"],
        response["X-Export-Truncated"],
    ) == ("1", "2", "1", "true")


def test_answers_naming_an_organization_s_own_profile_are_never_stored(client, spikes):
    keyed = on_plan("pro")
    shared = client.get("/api/v4/anomalies", **keyed)
    assert shared["Cache-Control"] == "private, max-age=60"
    assert client.get("/api/v4/anomalies", **keyed)["X-Cache"] == "HIT"
    org = Organization.objects.get(slug="org-pro")
    ScoringProfile.objects.create(
        slug="org-pro-fresh", name="Fresh", organization=org, weight_recency=100
    )
    content_changed(reason="scoring profile org-pro-fresh saved")
    own = client.get("/api/v4/anomalies", **keyed)
    assert own["Cache-Control"] == "private, no-store"
    assert client.get("/api/v4/anomalies", **keyed)["X-Cache"] == "MISS"
    # An organization without profiles of its own still gets a storable answer.
    other = client.get("/api/v4/anomalies", **on_plan("enterprise"))
    assert other["Cache-Control"] == "private, max-age=60"


def test_model_rows_carry_the_newest_anomaly_their_profile_flags(client, spikes):
    def anomalies(query: str) -> dict:
        body = get_json(client, f"/api/v4/models?{query}")
        return {row["id"]: row["anomaly"] for row in body["results"]}

    community = anomalies("profile=community")
    assert community == {
        "a/downloads": {
            "day": SPIKE_DAY,
            "metric": "downloads",
            "value": 9000.0,
            "median": 1000.0,
            "z": 8000.0,
        },
        "a/likes": {"day": SPIKE_DAY, "metric": "likes", "value": 60.0, "median": 2.0, "z": 58.0},
        "a/flat": None,
    }
    # production's thresholds let the download spike pass.
    production = anomalies("profile=production")
    assert production["a/downloads"] is None and production["a/likes"] == community["a/likes"]
    detail = get_json(client, "/api/v4/models/a/downloads?profile=production")["model"]
    assert detail["anomaly"] is None
    detail = get_json(client, "/api/v4/models/a/downloads")["model"]
    assert detail["anomaly"]["metric"] == "downloads"
