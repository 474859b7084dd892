"""Reads behind the v4 endpoints that the apps' own selectors do not answer."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from api.shared import iso_time
from snapshots import anomalies as anomaly_selectors
from snapshots import selectors as snapshot_selectors
from snapshots.models import Anomaly, Observation, ScoringProfile, Snapshot


def latest_snapshot_id() -> int | None:
    """The id of the snapshot readers are served, or None before the first one."""
    return snapshot_selectors.latest_snapshot_id()


def public_rows(*, snapshot: Snapshot) -> QuerySet[Observation]:
    """The snapshot's public leaderboard, as v4 reads it.

    The catalog's JSON fields stay unread: v4 rows do not show them, and
    decoding them is a good part of the cost of a page. The family is
    joined: every row names it, and the daily history's figures are
    annotated (`day_downloads`, `week_downloads`): every row carries them.
    """
    return snapshot_selectors.with_daily_figures(
        snapshot_selectors.leaderboard_rows(snapshot=snapshot)
        .select_related("model__family_membership__family")
        .defer("model__hub_tags", "model__base_models"),
        snapshot=snapshot,
    )


def latest_anomalies(
    *, model_ids: list[int], snapshot: Snapshot, profile: ScoringProfile | None
) -> dict[int, Anomaly | None]:
    """Model id → its newest anomaly the profile flags, as the pages badge it: one query.

    Newest day first, then the strongest; None where there is none.
    """
    if not model_ids:
        return {}
    found = anomaly_selectors.anomalies_for(model_ids=model_ids, snapshot=snapshot, profile=profile)
    return {pk: (rows[0] if rows else None) for pk, rows in found.items()}


def snapshot_list(*, status: str | None) -> QuerySet[Snapshot]:
    """Snapshots newest first, of one status (None: every status)."""
    snapshots = Snapshot.objects.order_by("-taken_at", "-id")
    if status is not None:
        snapshots = snapshots.filter(status=status)
    return snapshots


def latest_refresh() -> Snapshot | None:
    """The newest hourly Hub refresh run, whatever its status (imports, the demo and
    the daily crawl aside: the crawl has its own health check)."""
    return (
        Snapshot.objects.filter(source=Snapshot.Source.HUB, kind=Snapshot.Kind.HOURLY)
        .order_by("-taken_at", "-id")
        .first()
    )


def refresh_runs_since(*, since) -> list[Snapshot]:
    """Hub refresh runs taken since `since`, oldest first: the upstream quota over time."""
    return list(
        Snapshot.objects.filter(source=Snapshot.Source.HUB, taken_at__gte=since)
        .order_by("taken_at", "id")
        .only("taken_at", "status", "calls_used", "call_budget", "quota_remaining", "quota_limit")
    )


# --- The delta feed (/api/v4/changes) ---------------------------------------------

_FIGURES = (
    "model_id",
    "model__hub_id",
    "model__private",
    "rank",
    "downloads",
    "downloads_all_time",
    "likes",
    "trending_score",
    "last_modified",
    "rank_change_24h",
    "delta_downloads_24h",
    "delta_likes_24h",
    "is_new_24h",
    "delta_downloads_7d",
    "delta_likes_7d",
    "is_new_7d",
)


@dataclass(frozen=True)
class SnapshotFigures:
    """A snapshot's public figures as the delta feed compares them, keyed by model key."""

    rows: dict[int, tuple]  # changes_codec.FIGURES
    observations: int  # private ones included: fewer than models_seen means pruned


def snapshot_figures(*, snapshot: Snapshot) -> SnapshotFigures:
    """Every public model's figures in `snapshot`, as changes_codec.FIGURES tuples: one query.

    The values are those /api/v4/models shows: times as its strings, the
    "new" flags null when the window has no baseline.
    """
    has_24h = snapshot.baseline_24h_id is not None
    has_7d = snapshot.baseline_7d_id is not None
    rows: dict[int, dict] = {}
    observations = 0
    figures = Observation.objects.filter(snapshot=snapshot).order_by().values_list(*_FIGURES)
    for (
        key,
        hub_id,
        private,
        rank,
        downloads,
        downloads_all_time,
        likes,
        trending_score,
        last_modified,
        rank_change_24h,
        delta_downloads_24h,
        delta_likes_24h,
        is_new_24h,
        delta_downloads_7d,
        delta_likes_7d,
        is_new_7d,
    ) in figures.iterator(chunk_size=10_000):
        observations += 1
        if private:
            continue
        # In changes_codec.FIGURES order.
        rows[key] = (
            key,
            hub_id,
            downloads,
            downloads_all_time,
            likes,
            trending_score,
            iso_time(last_modified),
            delta_downloads_7d,
            delta_likes_7d,
            is_new_7d if has_7d else None,
            rank,
            rank_change_24h,
            delta_downloads_24h,
            delta_likes_24h,
            is_new_24h if has_24h else None,
        )
    return SnapshotFigures(rows=rows, observations=observations)


def complete_snapshot(*, pk: int) -> Snapshot | None:
    """The complete snapshot with this id, or None (unknown, running, partial, failed)."""
    return Snapshot.objects.visible().filter(pk=pk).first()
