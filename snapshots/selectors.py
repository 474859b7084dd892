"""Reads of snapshot data, for the pages and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import (
    BigIntegerField,
    Case,
    F,
    FilteredRelation,
    Q,
    QuerySet,
    When,
)

from registry.caching import versioned_value
from registry.models import HubModel

from .daily import snapshot_day
from .filters import NOT_FILTERS, LeaderboardFilter, filter_options
from .models import DailyObservation, Observation, Snapshot

HUB_ID_MAX_LENGTH = HubModel._meta.get_field("hub_id").max_length


def latest_snapshot() -> Snapshot | None:
    """The newest complete snapshot with observations: the one every reader is served.

    Daily-crawl snapshots (kind "daily") hold no observations and are never it.
    """
    return Snapshot.objects.served().order_by("-taken_at", "-id").first()


def latest_snapshot_id() -> int | None:
    """The id of `latest_snapshot()`, or None before the first one: one small query."""
    return (
        Snapshot.objects.served().order_by("-taken_at", "-id").values_list("pk", flat=True).first()
    )


# --- Daily figures (the daily history) ------------------------------------------------

# How many days back a model's daily downloads may come from when the served
# snapshot's day has no row for it (DESIGN.md: the newest earlier day within 2 days).
DAILY_FALLBACK_DAYS = 2
WEEK = 7


def with_daily_figures(rows: QuerySet[Observation], *, snapshot: Snapshot) -> QuerySet:
    """Annotate observations with `day_downloads` and `week_downloads` from the daily history.

    `day_downloads`: the daily downloads of the snapshot's UTC day (if that
    day has no row for the model, of the newest earlier day within
    DAILY_FALLBACK_DAYS), else null. `week_downloads`: all-time downloads on
    that day minus 7 days before, null if either is unknown. Each day is a
    LEFT JOIN on the (model, day) key, so a list stays one query and sorting
    a whole snapshot by them is a hash join, not a lookup per row. The names
    differ from Observation's own `daily_downloads` (the change since the
    24h baseline).
    """
    day = snapshot_day(snapshot)
    back = {n: day - timedelta(days=n) for n in (*range(DAILY_FALLBACK_DAYS + 1), WEEK)}
    joined = rows.alias(
        **{
            f"daily_{n}": FilteredRelation("model__daily", condition=Q(model__daily__day=on))
            for n, on in back.items()
        }
    )
    # A day with a row gives its figure, even a null one (a gap before it):
    # only a day without a row falls back to an earlier one.
    fallback = [
        When(**{f"daily_{n}__day__isnull": False, "then": F(f"daily_{n}__daily_downloads")})
        for n in range(DAILY_FALLBACK_DAYS + 1)
    ]
    return joined.annotate(
        day_downloads=Case(*fallback, default=None, output_field=BigIntegerField()),
        week_downloads=F("daily_0__downloads_all_time") - F(f"daily_{WEEK}__downloads_all_time"),
    )


def daily_figures(*, model_ids: list[int], snapshot: Snapshot) -> dict[int, tuple]:
    """Model id → (day_downloads, week_downloads), as `with_daily_figures` has them: one query."""
    day = snapshot_day(snapshot)
    wanted = [day - timedelta(days=n) for n in range(DAILY_FALLBACK_DAYS + 1)]
    rows: dict[int, dict[date, tuple]] = {pk: {} for pk in model_ids}
    for model_id, on, all_time, daily_downloads in DailyObservation.objects.filter(
        model_id__in=model_ids, day__in=[*wanted, day - timedelta(days=WEEK)]
    ).values_list("model_id", "day", "downloads_all_time", "daily_downloads"):
        rows[model_id][on] = (all_time, daily_downloads)
    figures = {}
    for pk, by_day in rows.items():
        newest = next((by_day[d] for d in wanted if d in by_day), None)
        now, then = by_day.get(day), by_day.get(day - timedelta(days=WEEK))
        week = None
        if now and then and now[0] is not None and then[0] is not None:
            week = now[0] - then[0]
        figures[pk] = (newest[1] if newest else None, week)
    return figures


@dataclass(frozen=True)
class DailyPoint:
    day: date
    downloads_all_time: int | None
    daily_downloads: int | None
    gap: bool  # no sighting of the model that day: both figures null


def daily_series(*, model: HubModel, last_day: date, days: int) -> list[DailyPoint]:
    """The model's daily history for the `days` UTC days ending `last_day`, oldest first.

    Every day of the range is there: a day without a row is a gap (null
    figures, `gap` true), never interpolated. A day with a row but no
    previous day has null daily downloads without being a gap. One query.
    """
    first = last_day - timedelta(days=days - 1)
    found = dict(
        (on, (all_time, daily_downloads))
        for on, all_time, daily_downloads in DailyObservation.objects.filter(
            model=model, day__gte=first, day__lte=last_day
        ).values_list("day", "downloads_all_time", "daily_downloads")
    )
    series = []
    for n in range(days):
        on = first + timedelta(days=n)
        row = found.get(on)
        series.append(
            DailyPoint(on, row[0], row[1], gap=False)
            if row is not None
            else DailyPoint(on, None, None, gap=True)
        )
    return series


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
