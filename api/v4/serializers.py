"""The v4 JSON shapes (DESIGN.md, "API contracts"): plain dicts from rows.

Null means unknown and stays null: a delta without a baseline is null, never 0.
Fields not every endpoint fills (badges, score, profile, anomaly) are always
present, empty when not filled, so clients can rely on the keys.
"""

from __future__ import annotations

from api.shared import iso_time
from registry.models import HubModel
from snapshots.anomalies import anomaly_summary
from snapshots.family_selectors import membership_of
from snapshots.models import Anomaly, Observation, Snapshot
from snapshots.scoring import ScoreBreakdown
from snapshots.selectors import DailyPoint, HistoryPoint
from tagging.models import Tag

from .profiles import score_fields

UNSCORED = {"score": None, "profile": None, "score_breakdown": None}
# What a row holds under the profile asked for: the delta feed leaves these out.
SCORED_FIELDS = (*UNSCORED, "anomaly")
# The daily history's figures: later sightings of a day (and a day imported
# out of order) revise them after the snapshot is published, so the delta
# feed, which compares snapshots' own figures, leaves them out too.
DAILY_FIELDS = ("daily_downloads", "weekly_downloads")


def snapshot_ref(snapshot: Snapshot) -> dict:
    return {"id": snapshot.pk, "taken_at": iso_time(snapshot.taken_at)}


def _delta(downloads: int | None, likes: int | None, *, new: bool, has_baseline: bool) -> dict:
    # "new": absent from the baseline (its deltas are null for that reason);
    # null when there is no baseline to be absent from.
    return {"downloads": downloads, "likes": likes, "new": new if has_baseline else None}


def _family_slug(model: HubModel) -> str | None:
    # Joined by the v4 selectors (no query); read on demand otherwise.
    membership = membership_of(model)
    return membership.family.slug if membership is not None else None


def model_row(
    observation: Observation,
    *,
    snapshot: Snapshot,
    tags: list[Tag],
    breakdown: ScoreBreakdown | None = None,
    anomaly: Anomaly | None = None,
) -> dict:
    """One model in one snapshot, in DESIGN.md's v4 shape.

    Beyond DESIGN.md's example, each delta object says whether the model is
    new in that window (`"new"`), which is what tells "no delta because it is
    new" from "no delta because there is no baseline" (`"new": null`), and
    `score_breakdown` lists the parts that add up to `score` (null unscored).
    `daily_downloads` and `weekly_downloads` are the annotations of
    `snapshots.selectors.with_daily_figures` (null when unknown).
    """
    model: HubModel = observation.model
    return {
        "id": model.hub_id,
        "key": model.pk,  # stable: what the delta feed (/api/v4/changes) names models by
        "author": model.author or None,
        "provider": model.provider_name or None,
        "pipeline_tag": model.pipeline_tag or None,
        "library_name": model.library_name or None,
        "license": model.license or None,
        "license_class": model.license_class,
        "parameters": model.parameters,
        "param_class": model.param_class,
        "family": _family_slug(model),
        "tags": [tag.slug for tag in tags],
        "badges": [],
        "downloads": observation.downloads,
        "downloads_all_time": observation.downloads_all_time,
        # From the daily history (snapshots.selectors.with_daily_figures).
        "daily_downloads": getattr(observation, "day_downloads", None),
        "weekly_downloads": getattr(observation, "week_downloads", None),
        "likes": observation.likes,
        "trending_score": observation.trending_score,
        "created_at": iso_time(model.created_at),
        "last_modified": iso_time(observation.last_modified),
        "rank": observation.rank,
        "rank_change_24h": observation.rank_change_24h,
        **(score_fields(breakdown) if breakdown else UNSCORED),
        "delta_24h": _delta(
            observation.delta_downloads_24h,
            observation.delta_likes_24h,
            new=observation.is_new_24h,
            has_baseline=snapshot.baseline_24h_id is not None,
        ),
        "delta_7d": _delta(
            observation.delta_downloads_7d,
            observation.delta_likes_7d,
            new=observation.is_new_7d,
            has_baseline=snapshot.baseline_7d_id is not None,
        ),
        "anomaly": anomaly_summary(anomaly),
        "snapshot": snapshot_ref(snapshot),
        "tier": "free",
        "access": "public",
    }


def without_scores(row: dict) -> dict:
    """A row as the delta feed keeps it: without SCORED_FIELDS (they depend on the
    profile and on every other model) and DAILY_FIELDS (later data revises them)."""
    return {
        name: value
        for name, value in row.items()
        if name not in SCORED_FIELDS and name not in DAILY_FIELDS
    }


def history_point(point: HistoryPoint) -> dict:
    return {
        "snapshot_id": point.snapshot_id,
        "taken_at": iso_time(point.taken_at),
        "rank": point.rank,
        "downloads": point.downloads,
        "likes": point.likes,
        "downloads_all_time": point.downloads_all_time,
        "delta_downloads_24h": point.delta_downloads_24h,
        "daily_downloads": point.daily_downloads,
    }


def daily_point(point: DailyPoint) -> dict:
    return {
        "date": point.day.isoformat(),
        "downloads_all_time": point.downloads_all_time,
        "daily_downloads": point.daily_downloads,
        "gap": point.gap,
    }


def tag_row(tag: Tag) -> dict:
    return {
        "slug": tag.slug,
        "name": tag.name,
        "description": tag.description or None,
        "model_count": tag.model_count,
    }


def snapshot_meta(snapshot: Snapshot) -> dict:
    """A snapshot's run: where it came from, what it cost, how it ended."""
    duration = snapshot.duration
    return {
        "id": snapshot.pk,
        "taken_at": iso_time(snapshot.taken_at),
        "status": snapshot.status,
        "source": snapshot.source,
        "kind": snapshot.kind,
        "source_count": snapshot.source_count,
        "models_seen": snapshot.models_seen,
        "ttl_seconds": snapshot.ttl_seconds,
        "call_budget": snapshot.call_budget,
        "calls_used": snapshot.calls_used,
        "quota_remaining": snapshot.quota_remaining,
        "quota_limit": snapshot.quota_limit,
        "duration_seconds": round(duration.total_seconds(), 3) if duration is not None else None,
        "details_fetched": snapshot.details_fetched,
        "details_deferred": snapshot.details_deferred,
        "published_at": iso_time(snapshot.published_at),
        "error": snapshot.error or None,
        "baseline_24h": snapshot.baseline_24h_id,
        "baseline_7d": snapshot.baseline_7d_id,
        "deltas_computed_at": iso_time(snapshot.deltas_computed_at),
    }
