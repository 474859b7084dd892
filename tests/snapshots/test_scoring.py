"""Scoring: components at publish, weighted scores, breakdowns that add up, validation."""

from __future__ import annotations

import random

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import F

from snapshots.deltas import snapshots_recompute_deltas
from snapshots.models import Observation, ScoringProfile, Snapshot
from snapshots.scoring import (
    PERCENTILE_COLUMNS,
    apportion,
    order_by_score,
    percent_ranks,
    profile_by_slug,
    score_breakdown,
    snapshot_compute_components,
    with_profile_score,
)
from snapshots.selectors import leaderboard_rows
from tests.factories import T0, days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db


def components_by_model(snapshot) -> dict[str, dict]:
    """What the breakdown shows for each model: the stored percentiles and license openness."""
    profile = ScoringProfile.objects.get(slug="research")
    rows = with_profile_score(Observation.objects.filter(snapshot=snapshot), profile)
    return {
        o.model.hub_id: {p.component: p.value for p in score_breakdown(o, profile).parts}
        for o in rows.select_related("model")
    }


def test_components_are_percentiles_within_the_snapshot():
    snapshot = published_snapshot(
        [
            hub_record("a/low", downloads=100, likes=5, trendingScore=1,
                       lastModified="2026-01-01T00:00:00Z", tags=["license:cc-by-nc-4.0"],
                       cardData={"license": "cc-by-nc-4.0"}),
            hub_record("a/mid", downloads=200, likes=5, trendingScore=None,
                       lastModified="2026-02-01T00:00:00Z", tags=["license:gpl-3.0"],
                       cardData={"license": "gpl-3.0"}),
            hub_record("a/top", downloads=300, likes=50, trendingScore=9,
                       lastModified="2026-03-01T00:00:00Z"),
        ]
    )  # fmt: skip
    got = components_by_model(snapshot)
    assert got["a/low"] == {
        "downloads": 0.0,
        "likes": 0.0,  # tied with a/mid: both take the lower rank
        "downloads_growth": None,  # no baseline a week before
        "likes_growth": None,
        "recency": 0.0,
        "trending": 0.0,
        "license": 0.25,  # non-commercial
    }
    assert got["a/mid"]["downloads"] == 0.5 and got["a/mid"]["likes"] == 0.0
    assert got["a/mid"]["trending"] is None  # unknown stays unknown
    assert got["a/mid"]["license"] == 0.75  # copyleft
    assert got["a/top"] == {
        "downloads": 1.0,
        "likes": 1.0,
        "downloads_growth": None,
        "likes_growth": None,
        "recency": 1.0,
        "trending": 1.0,  # among the two that have one
        "license": 1.0,  # apache-2.0: permissive
    }


def test_growth_is_relative_to_a_week_before_with_a_floor():
    published_snapshot(
        [
            hub_record("g/big", downloads=1_000_000, likes=1000),
            hub_record("g/small", downloads=50, likes=2),
            hub_record("g/mid", downloads=10_000, likes=100),
        ],
        taken_at=T0,
    )
    week = published_snapshot(
        [
            hub_record("g/big", downloads=1_200_000, likes=1100),  # +20%, +10%
            hub_record("g/small", downloads=500, likes=6),  # +450 over a 1,000 floor; +4 over 10
            hub_record("g/mid", downloads=15_000, likes=150),  # +50%, +50%
        ],
        taken_at=T0 + days(7),
    )
    got = components_by_model(week)
    # Relative: g/mid grew most; g/small's 10x on 50 downloads counts as 45% of the floor.
    assert [got[m]["downloads_growth"] for m in ("g/big", "g/small", "g/mid")] == [0.0, 0.5, 1.0]
    assert [got[m]["likes_growth"] for m in ("g/big", "g/small", "g/mid")] == [0.0, 0.5, 1.0]


def two_models_snapshot():
    # a/popular: most downloads; a/loved: most likes and trending. Same license and age.
    return published_snapshot(
        [
            hub_record("a/popular", downloads=900_000, likes=10, trendingScore=1),
            hub_record("a/loved", downloads=1_000, likes=900, trendingScore=80),
        ]
    )


def ordered(snapshot, slug: str) -> list[str]:
    profile = profile_by_slug(slug=slug)
    rows = order_by_score(with_profile_score(leaderboard_rows(snapshot=snapshot), profile))
    return [o.model.hub_id for o in rows]


def test_switching_profiles_reorders_as_the_weights_say():
    snapshot = two_models_snapshot()
    # production: downloads 35 + license 30 = 65 for a/popular; likes 10 + trending 5 + 30 = 45.
    assert ordered(snapshot, "production") == ["a/popular", "a/loved"]
    # community: downloads 15 + 100×0 … = 15 (+0 license) against likes 20 + trending 30 = 50.
    assert ordered(snapshot, "community") == ["a/loved", "a/popular"]
    scores = {
        slug: {
            o.model.hub_id: o.score
            for o in with_profile_score(
                leaderboard_rows(snapshot=snapshot), profile_by_slug(slug=slug)
            )
        }
        for slug in ("production", "community", "research")
    }
    assert scores["production"] == {"a/popular": 65.0, "a/loved": 45.0}
    assert scores["community"] == {"a/popular": 15.0, "a/loved": 50.0}
    assert scores["research"] == {"a/popular": 10.0, "a/loved": 35.0}


def test_a_profile_of_one_component_orders_by_it_alone():
    snapshot = two_models_snapshot()
    ScoringProfile.objects.create(slug="by-likes", name="By likes", weight_likes=100)
    ScoringProfile.objects.create(slug="by-downloads", name="By downloads", weight_downloads=100)
    assert ordered(snapshot, "by-likes") == ["a/loved", "a/popular"]
    assert ordered(snapshot, "by-downloads") == ["a/popular", "a/loved"]


def test_the_breakdown_adds_up_to_the_score():
    rng = random.Random(3)
    records = [
        hub_record(
            f"r/m{i}",
            downloads=rng.randint(0, 10**6),
            likes=rng.randint(0, 5000),
            trendingScore=rng.choice([None, rng.random() * 100]),
            lastModified=f"2026-0{rng.randint(1, 2)}-{rng.randint(10, 28)}T00:00:00Z",
        )
        for i in range(37)
    ]
    published_snapshot(records, taken_at=T0)
    snapshot = published_snapshot(
        [{**r, "downloads": r["downloads"] + rng.randint(0, 9999)} for r in records],
        taken_at=T0 + days(7),
    )
    for profile in ScoringProfile.objects.all():
        rows = with_profile_score(leaderboard_rows(snapshot=snapshot), profile)
        for obs in rows:
            breakdown = score_breakdown(obs, profile)
            # Exactly as displayed: tenths that sum to the score's tenths.
            assert sum(round(p.points * 10) for p in breakdown.parts) == round(breakdown.score * 10)
            assert abs(breakdown.score - obs.score) <= 0.05 + 1e-9  # the exact score, rounded
            for part in breakdown.parts:
                exact = part.weight * (part.value or 0)
                assert abs(part.points - exact) < 0.1 + 1e-9
        # The displayed order never contradicts the displayed scores.
        shown = [score_breakdown(o, profile).score for o in order_by_score(rows)]
        assert shown == sorted(shown, reverse=True)


def test_apportion_gives_every_tenth_to_the_largest_remainders():
    assert apportion([10.04, 10.04, 10.04]) == (30.1, [10.1, 10.0, 10.0])
    assert apportion([33.333, 33.333, 33.334]) == (100.0, [33.3, 33.3, 33.4])
    assert apportion([0.0, 12.25]) == (12.3, [0.0, 12.3])


def test_the_breakdown_reads_stored_components_and_says_what_is_unknown():
    snapshot = published_snapshot([hub_record("a/one", trendingScore=None)])
    obs = Observation.objects.select_related("snapshot", "model").get(snapshot=snapshot)
    breakdown = score_breakdown(obs, profile_by_slug(slug="community"))
    parts = {p.component: p for p in breakdown.parts}
    assert parts["trending"].unknown and parts["trending"].points == 0
    assert parts["license"].value == 1.0 and parts["license"].weight == 0
    assert breakdown.score == sum(p.points for p in breakdown.parts)


def test_snapshots_whose_components_were_never_computed_have_no_score():
    snapshot = published_snapshot([hub_record("a/one")])
    Snapshot.objects.update(components_computed_at=None)
    profile = profile_by_slug(slug="research")
    obs = with_profile_score(leaderboard_rows(snapshot=snapshot), profile).get()
    assert obs.score is None
    assert score_breakdown(obs, profile).score is None


def stored_percentiles(snapshot) -> dict:
    return {
        row[0]: row[1:]
        for row in Observation.objects.filter(snapshot=snapshot).values_list(
            "model_id", *PERCENTILE_COLUMNS
        )
    }


def test_ingest_and_the_sql_recompute_agree():
    rng = random.Random(11)
    records = [
        hub_record(
            f"q/m{i}",
            downloads=rng.choice([None, rng.randint(0, 5000)]),
            likes=rng.choice([None, rng.randint(0, 50)]),
            trendingScore=rng.choice([None, rng.randint(0, 9)]),
            lastModified=rng.choice([None, f"2026-02-{rng.randint(10, 12)}T00:00:00Z"]),
        )
        for i in range(60)
    ]
    published_snapshot(records, taken_at=T0)
    moved = [
        {
            **r,
            "downloads": None
            if r["downloads"] is None
            else r["downloads"] + rng.randint(-500, 5000),
        }
        for r in records
    ]
    snapshot = published_snapshot(moved, taken_at=T0 + days(7))
    written = stored_percentiles(snapshot)
    Observation.objects.filter(snapshot=snapshot).update(**dict.fromkeys(PERCENTILE_COLUMNS, None))
    assert snapshot_compute_components(snapshot=snapshot) == 60
    recomputed = stored_percentiles(snapshot)
    assert written.keys() == recomputed.keys()
    for model_id, values in written.items():
        assert recomputed[model_id] == pytest.approx(values, nan_ok=False), model_id
    assert any(v[2] is not None for v in written.values())  # growth was computed


def test_components_are_recomputed_with_the_deltas():
    snapshot = two_models_snapshot()
    before = components_by_model(snapshot)
    Observation.objects.filter(snapshot=snapshot).update(pct_downloads=None)
    snapshots_recompute_deltas()
    assert components_by_model(snapshot) == before


def test_scores_sort_in_sql():
    snapshot = two_models_snapshot()
    profile = profile_by_slug(slug="community")
    rows = with_profile_score(leaderboard_rows(snapshot=snapshot), profile)
    top = rows.order_by(F("score").desc())[0]
    assert top.model.hub_id == "a/loved"


# --- Validation ---------------------------------------------------------------------


def test_weights_must_add_up_to_100():
    profile = ScoringProfile(slug="x", name="X", weight_downloads=60, weight_likes=30)
    with pytest.raises(ValidationError) as caught:
        profile.full_clean()
    assert "add up to 100 points; they add up to 90" in str(caught.value)
    profile.weight_license = 10
    profile.full_clean()


def test_weights_cannot_be_negative_and_thresholds_not_too_low():
    profile = ScoringProfile(slug="x", name="X", weight_downloads=110, weight_likes=-10)
    with pytest.raises(ValidationError) as caught:
        profile.full_clean()
    assert "weight_likes" in caught.value.message_dict
    profile = ScoringProfile(slug="x", name="X", weight_downloads=100, anomaly_z_threshold=1)
    with pytest.raises(ValidationError) as caught:
        profile.full_clean()
    assert "anomaly_z_threshold" in caught.value.message_dict


def test_the_seeded_profiles_are_valid():
    profiles = list(ScoringProfile.objects.curated())
    assert [p.slug for p in profiles] == ["research", "production", "community"]
    for profile in profiles:
        profile.full_clean()
        assert sum(profile.weights().values()) == 100


def test_the_admin_refuses_weights_that_do_not_add_up(client):
    admin = get_user_model().objects.create_superuser("curator", "c@example.com", "pw")
    client.force_login(admin)
    form = {
        "name": "Mine",
        "slug": "mine",
        "position": 9,
        "weight_downloads": 50,
        "weight_likes": 40,
        "weight_downloads_growth": 0,
        "weight_likes_growth": 0,
        "weight_recency": 0,
        "weight_trending": 0,
        "weight_license": 0,
        "anomaly_z_threshold": 3.5,
        "anomaly_min_downloads": 1000,
        "anomaly_min_likes": 10,
    }
    response = client.post("/admin/snapshots/scoringprofile/add/", form)
    assert response.status_code == 200
    assert b"they add up to 90" in response.content
    assert not ScoringProfile.objects.filter(slug="mine").exists()
    form["weight_license"] = 10
    response = client.post("/admin/snapshots/scoringprofile/add/", form)
    assert response.status_code == 302
    assert ScoringProfile.objects.get(slug="mine").weights()["license"] == 10


def test_percent_ranks_match_sql():
    assert percent_ranks([30, None, 10, 20, 10]) == [1.0, None, 0.0, 2 / 3, 0.0]
    assert percent_ranks([None, 5]) == [None, 0.0]
    assert percent_ranks([None, None]) == [None, None]
    assert percent_ranks([]) == []


def test_the_score_snippet_shows_the_breakdown_without_javascript():
    from django.template import Context, Template

    snapshot = two_models_snapshot()
    profile = profile_by_slug(slug="production")
    rows = order_by_score(with_profile_score(leaderboard_rows(snapshot=snapshot), profile))
    html = Template(
        "{% load scores %}{% for row in rows %}{% score_cell row profile %}{% endfor %}"
    )  # noqa: E501
    out = html.render(Context({"rows": list(rows), "profile": profile}))
    first = out[: out.index("</details>")]
    assert "<summary" in first and ">65.0</summary>" in first
    assert "<caption>Production profile: points out of 100</caption>" in first
    # Downloads: the top percentile (100.0) × 35 points = 35.0; license 1 × 30 = 30.0.
    assert '<th scope="row">Downloads (30 days)</th><td class="num">100.0</td>' in first
    assert '<td class="num">35</td><td class="num">35.0</td>' in first
    assert '<th scope="row">Likes growth (7 days)</th>' not in first  # 0 points: not listed
    assert "unknown" in first  # download growth: no week-old baseline
