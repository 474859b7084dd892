"""Reads of snapshot data, for the pages and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import QuerySet

from registry.caching import versioned_value
from registry.models import HubModel

from .filters import NOT_FILTERS, LeaderboardFilter, filter_options
from .models import Observation, Snapshot

HUB_ID_MAX_LENGTH = HubModel._meta.get_field("hub_id").max_length


def latest_snapshot() -> Snapshot | None:
    """The newest complete snapshot: the one every reader is served."""
    return Snapshot.objects.visible().order_by("-taken_at", "-id").first()


def leaderboard_rows(*, snapshot: Snapshot) -> QuerySet[Observation]:
    """A snapshot's public observations in rank order, with model and provider joined.

    Private models (listed by the Hub to a token's owner) are never shown on
    public pages or APIs, so they are left out here, where every reader starts.
    """
    return (
        Observation.objects.filter(snapshot=snapshot, model__private=False)
        .select_related("model", "model__provider")
        .order_by("rank", "model__hub_id")
    )


def board_count(*, snapshot: Snapshot, filterset: LeaderboardFilter) -> int:
    """How many rows `filterset` keeps of `snapshot`'s public board (after is_valid()).

    `filterset` must filter `leaderboard_rows(snapshot=snapshot)` (scored or
    not, as the pages and the API do). On a large board the exact COUNT(*)
    is most of an uncached list's time, and a complete snapshot's rows do
    not change: the count is kept per snapshot and normalized filter (every
    sort and page shares it) until content changes, since a curation edit
    (tags, providers, families) moves models in and out of filters.
    """
    pairs = [pair for pair in filterset.normalized() if pair[0] not in NOT_FILTERS]
    return versioned_value("board-count", snapshot.pk, *pairs, compute=filterset.qs.count)


def filter_bar_options(*, snapshot: Snapshot | None) -> dict[str, list[tuple[str, str]]]:
    """The leaderboard filter bar's choices (filters.filter_options), kept per snapshot.

    The tasks are a DISTINCT over the whole catalog, tens of milliseconds at
    100k models, for a list that changes only when a snapshot is published
    (or curators edit tags, providers, families: content changes then too).
    """
    return versioned_value(
        "filter-options", snapshot.pk if snapshot is not None else 0, compute=filter_options
    )


@dataclass(frozen=True)
class ModelView:
    model: HubModel
    observation: Observation | None  # None: not in the latest snapshot
    snapshot: Snapshot | None


def model_in_snapshot(*, hub_id: str, snapshot: Snapshot | None) -> ModelView | None:
    """A public catalog model with its observation in `snapshot`; None if we never saw it.

    The model comes with its provider and its family membership joined.
    """
    if "\x00" in hub_id or len(hub_id) > HUB_ID_MAX_LENGTH:
        return None  # no Hub id looks like that, and PostgreSQL refuses NUL in text
    model = (
        HubModel.objects.select_related(
            "provider", "family_membership__family", "family_membership__source"
        )
        .filter(hub_id=hub_id, private=False)
        .first()
    )
    if model is None:
        return None
    observation = None
    if snapshot is not None:
        observation = Observation.objects.filter(snapshot=snapshot, model=model).first()
    return ModelView(model=model, observation=observation, snapshot=snapshot)


@dataclass(frozen=True)
class HistoryPoint:
    snapshot_id: int
    taken_at: object  # datetime
    rank: int | None
    downloads: int | None
    likes: int | None
    downloads_all_time: int | None
    delta_downloads_24h: int | None
    daily_downloads: int | None
    delta_likes_24h: int | None
    rank_change_24h: int | None
    is_new_24h: bool


def model_history(
    *, model: HubModel, days: int = 30, snapshot: Snapshot | None = None
) -> list[HistoryPoint]:
    """The model's observations in complete snapshots of the last `days` days, oldest first.

    The window ends at `snapshot` (the latest complete one when not given),
    not at the wall clock, so an archive imported long ago still shows its
    own last 30 days. Callers that already hold the latest snapshot pass it.
    """
    latest = snapshot if snapshot is not None else latest_snapshot()
    if latest is None:
        return []
    since = latest.taken_at - timedelta(days=days)
    rows = (
        Observation.objects.filter(
            model=model,
            snapshot__status=Snapshot.Status.COMPLETE,
            snapshot__taken_at__gte=since,
            snapshot__taken_at__lte=latest.taken_at,
        )
        .order_by("snapshot__taken_at", "snapshot_id")
        .values_list(
            "snapshot_id",
            "snapshot__taken_at",
            "rank",
            "downloads",
            "likes",
            "downloads_all_time",
            "delta_downloads_24h",
            "daily_downloads",
            "delta_likes_24h",
            "rank_change_24h",
            "is_new_24h",
        )
    )
    return [HistoryPoint(*row) for row in rows]


def sparkline_series(
    *, snapshot: Snapshot, model_ids: list[int], days: int = 30, field: str = "downloads"
) -> dict[int, list[tuple[object, int | None]]]:
    """(taken_at, value) series for many models at once, oldest first: one query.

    For the leaderboard's sparklines: the complete snapshots of the `days`
    before `snapshot`, for the models on the page.
    """
    since = snapshot.taken_at - timedelta(days=days)
    rows = (
        Observation.objects.filter(
            model_id__in=model_ids,
            snapshot__status=Snapshot.Status.COMPLETE,
            snapshot__taken_at__gte=since,
            snapshot__taken_at__lte=snapshot.taken_at,
        )
        .order_by("snapshot__taken_at", "snapshot_id")
        .values_list("model_id", "snapshot__taken_at", field)
    )
    series: dict[int, list[tuple[object, int | None]]] = {pk: [] for pk in model_ids}
    for model_id, taken_at, value in rows:
        series[model_id].append((taken_at, value))
    return series


def snapshot_completed_facts(*, snapshot: Snapshot, movers: int = 10) -> dict:
    """The thin payload of a snapshot.completed webhook: facts, counts, top movers by 24h.

    Plain data for the outbox. Movers are public models only, by 24h download
    delta (nulls, meaning unknown, left out).
    """
    top = (
        Observation.objects.filter(
            snapshot=snapshot, model__private=False, delta_downloads_24h__isnull=False
        )
        .order_by("-delta_downloads_24h", "model__hub_id")
        .values_list(
            "model__hub_id", "rank", "rank_change_24h", "downloads", "delta_downloads_24h"
        )[:movers]
    )
    return {
        "snapshot": {
            "id": snapshot.pk,
            "taken_at": snapshot.taken_at.isoformat().replace("+00:00", "Z"),
        },
        "counts": {
            "models": Observation.objects.filter(snapshot=snapshot, model__private=False).count(),
            "new_24h": Observation.objects.filter(
                snapshot=snapshot, model__private=False, is_new_24h=True
            ).count(),
        },
        "top_movers_24h": [
            {
                "id": hub_id,
                "rank": rank,
                "rank_change_24h": rank_change,
                "downloads": downloads,
                "delta_downloads_24h": delta,
            }
            for hub_id, rank, rank_change, downloads, delta in top
        ],
    }
