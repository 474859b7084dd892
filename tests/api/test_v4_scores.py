"""`?profile=` on /api/v4/models, its detail and export.csv: scores, breakdowns, sort=score."""

from __future__ import annotations

import csv
import io
import json

import pytest

from registry.models import Organization
from snapshots.models import ScoringProfile
from tests.api.callers import on_plan
from tests.factories import T0, days, hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db


def get_json(client, url: str, status: int = 200, **extra) -> dict:
    response = client.get(url, **extra)
    assert response.status_code == status, response.content
    return json.loads(response.content)


@pytest.fixture
def rivals():
    """One model everybody downloads, one people like and keep updating."""
    return published_snapshot(
        [
            hub_record("big/downloads", downloads=1_000_000, likes=1, trendingScore=1),
            hub_record(
                "loved/likes",
                downloads=10,
                likes=500,
                trendingScore=1,
                lastModified="2026-02-25T10:00:00.000Z",
            ),
        ],
        taken_at=T0,
    )


def scores(client, query: str) -> list[tuple[str, float]]:
    body = get_json(client, f"/api/v4/models?{query}")
    return [(row["id"], row["score"]) for row in body["results"]]


def test_the_profile_decides_the_order_as_its_weights_say(client, rivals):
    # production: downloads 35 + license 30 against likes 10 + recency 10 + license 30.
    assert scores(client, "profile=production&sort=-score") == [
        ("big/downloads", 65.0),
        ("loved/likes", 50.0),
    ]
    # research: downloads 10 against likes 25 + recency 20.
    assert scores(client, "profile=research&sort=-score") == [
        ("loved/likes", 45.0),
        ("big/downloads", 10.0),
    ]
    # community is the default: likes 20 + recency 5 against downloads 15.
    assert scores(client, "sort=-score") == [("loved/likes", 25.0), ("big/downloads", 15.0)]
    assert scores(client, "sort=score") == [("big/downloads", 15.0), ("loved/likes", 25.0)]


def test_every_row_carries_its_breakdown_and_the_parts_add_up(client, rivals):
    body = get_json(client, "/api/v4/models?profile=production")
    assert body["profile"] == "production"
    big = body["results"][0]
    assert (big["profile"], big["score"]) == ("production", 65.0)
    parts = {part["component"]: part for part in big["score_breakdown"]}
    assert parts["downloads"] == {
        "component": "downloads",
        "weight": 35,
        "value": 1.0,
        "points": 35.0,
    }
    assert parts["license"] == {"component": "license", "weight": 30, "value": 1.0, "points": 30.0}
    assert parts["downloads_growth"]["value"] is None  # no baseline: unknown, counts 0
    assert sum(p["weight"] for p in parts.values()) == 100
    for row in body["results"]:
        assert round(sum(p["points"] for p in row["score_breakdown"]), 1) == row["score"]


def test_the_detail_and_the_export_take_the_profile_too(client, rivals):
    model = get_json(client, "/api/v4/models/loved/likes?profile=research")["model"]
    assert (model["profile"], model["score"]) == ("research", 45.0)
    assert get_json(client, "/api/v4/models/loved/likes")["model"]["profile"] == "community"
    response = client.get("/api/v4/export.csv?profile=research&sort=-score", **on_plan("pro"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["id"], r["score"], r["profile"]) for r in rows] == [
        ("loved/likes", "45.0", "research"),
        ("big/downloads", "10.0", "research"),
    ]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v4/models?profile=nope",
        "/api/v4/models/loved/likes?profile=nope",
        "/api/v4/export.csv?profile=nope",
    ],
)
def test_an_unknown_profile_is_a_400_naming_the_known_ones(client, rivals, url):
    error = get_json(client, url, status=400)["error"]
    assert error["code"] == "invalid_parameter"
    assert error["fields"] == {
        "profile": ["no profile 'nope'; choose one of: research, production, community"]
    }


@pytest.fixture
def own_profile():
    """org-free and org-pro (the organizations of on_plan's keys), each with a profile."""
    on_plan("free")
    on_plan("pro")
    for slug in ("free", "pro"):
        ScoringProfile.objects.create(
            slug=f"{slug}-downloads",
            name="Downloads only",
            organization=Organization.objects.get(slug=f"org-{slug}"),
            weight_downloads=100,
        )


def test_a_custom_profile_needs_a_plan_and_is_never_shared(client, rivals, own_profile):
    error = get_json(client, "/api/v4/models?profile=free-downloads", 403, **on_plan("free"))
    assert error["error"]["code"] == "plan_required"
    assert error["error"]["message"] == (
        "Scoring with a custom profile needs the pro plan (you are on free)."
    )
    # Another organization's profile is not even named.
    error = get_json(client, "/api/v4/models?profile=pro-downloads", 400, **on_plan("free"))
    assert "pro-downloads" not in error["error"]["fields"]["profile"][0].split("choose")[1]
    get_json(client, "/api/v4/models?profile=pro-downloads", 400)  # anonymous
    response = client.get("/api/v4/models?profile=pro-downloads&sort=-score", **on_plan("pro"))
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    body = json.loads(response.content)
    assert [(r["id"], r["score"]) for r in body["results"]] == [
        ("big/downloads", 100.0),
        ("loved/likes", 0.0),
    ]
    curated = client.get("/api/v4/models?profile=research", **on_plan("pro"))
    assert curated["Cache-Control"] == "private, max-age=60"


def test_pages_sorted_by_score_walk_every_row_once_and_stay_bound_to_the_profile(client):
    records = hub_records(9)
    published_snapshot(records, taken_at=T0)
    published_snapshot(records, taken_at=T0 + days(1))
    seen, url = [], "/api/v4/models?sort=-score&profile=research&limit=4"
    while url:
        body = get_json(client, url)
        seen += [(row["score"], row["id"]) for row in body["results"]]
        url = body["next"]
    assert len(seen) == 9 and len({hub_id for _, hub_id in seen}) == 9
    assert [s for s, _ in seen] == sorted((s for s, _ in seen), reverse=True)
    whole = get_json(client, "/api/v4/models?sort=-score&profile=research")["results"]
    assert [hub_id for _, hub_id in seen] == [row["id"] for row in whole]
    first = get_json(client, "/api/v4/models?sort=-score&profile=research&limit=4")
    cursor = first["next"].split("cursor=")[1].split("&")[0]
    error = get_json(
        client, f"/api/v4/models?sort=-score&profile=production&limit=4&cursor={cursor}", 400
    )
    assert error["error"]["fields"]["cursor"] == [
        "this cursor is for profile=research, not profile=production; start again without a cursor"
    ]
