"""Retention: full observations for a month, one row per model and day for a year.

Every observation of the last OBSERVATION_RETENTION_DAYS is kept; older
ones are pruned, but their snapshots stay, with their metadata. As they are
pruned they are rolled up into the compact daily history
(`DailyObservation`: each model's figures from the day's latest snapshot),
which is kept for DAILY_HISTORY_DAYS so longer trends stay possible. So the
daily history covers the days beyond the observations' window, as DESIGN.md
puts it; within the window the observations themselves are the history.

Rolling up at prune time rather than on publish keeps the publish path
free of it (an hourly refresh would otherwise rewrite the day's 100k rows
24 times a day, ~2 s a publish with the foreign-key checks, for one row a
model a day in the end), and writes each row once. Deltas are stored when a
snapshot is written, so pruning a baseline later changes no published figure.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .models import DailyObservation, Observation, Snapshot
from .partitions import observations_retire

logger = logging.getLogger("modelboard.retention")

# Rows per DELETE: a large prune is many short transactions, not one long one.
PRUNE_BATCH = 10_000

_FIGURES = ("rank", "downloads", "downloads_all_time", "likes", "trending_score")


def snapshot_day(snapshot: Snapshot) -> date:
    """The UTC day a snapshot belongs to in the daily history."""
    return snapshot.taken_at.astimezone(UTC).date()


def daily_history_rollup(*, snapshot_ids: Iterable[int]) -> int:
    """Fold these snapshots' observations into the daily history of their UTC days.

    Only complete snapshots count (others were never shown). One row per
    model and day: each model's figures from the latest of the day's
    snapshots that observed it. Whatever order snapshots are rolled up in,
    the day's latest wins: a stored row is replaced only by a snapshot taken
    at the same time or later, or when its own snapshot was deleted (it can
    no longer say when it was taken). Rolling up the same snapshots again
    changes nothing. One INSERT … SELECT per day, each committed on its own;
    returns the rows written.
    """
    by_day: dict[date, list[int]] = defaultdict(list)
    for snapshot in Snapshot.objects.visible().filter(pk__in=list(snapshot_ids)).only("taken_at"):
        by_day[snapshot_day(snapshot)].append(snapshot.pk)
    written = 0
    for day, pks in sorted(by_day.items()):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_rollup_sql(len(pks)), [_day_param(day), *pks])
            written += max(cursor.rowcount, 0)
    return written


def _day_param(day: date):
    return connection.ops.adapt_datefield_value(day)


def _rollup_sql(snapshots: int) -> str:
    quote = connection.ops.quote_name
    daily = quote(DailyObservation._meta.db_table)
    observations = quote(Observation._meta.db_table)
    snapshot_table = quote(Snapshot._meta.db_table)
    columns = ", ".join(_FIGURES)
    replace = ", ".join(f"{name} = excluded.{name}" for name in ("snapshot_id", *_FIGURES))
    placeholders = ", ".join(["%s"] * snapshots)
    # ROW_NUMBER rather than DISTINCT ON: SQLite has only the former.
    latest = (
        f"SELECT o.model_id, o.snapshot_id, {', '.join(f'o.{name}' for name in _FIGURES)}, "
        "ROW_NUMBER() OVER (PARTITION BY o.model_id ORDER BY s.taken_at DESC, s.id DESC) AS n "
        f"FROM {observations} AS o JOIN {snapshot_table} AS s ON s.id = o.snapshot_id "
        f"WHERE o.snapshot_id IN ({placeholders})"
    )
    newer_kept = (
        f"SELECT 1 FROM {snapshot_table} AS kept, {snapshot_table} AS candidate "
        f"WHERE kept.id = {daily}.snapshot_id AND candidate.id = excluded.snapshot_id "
        "AND kept.taken_at > candidate.taken_at"
    )
    return (
        f"INSERT INTO {daily} (model_id, day, snapshot_id, {columns}) "
        f"SELECT model_id, %s, snapshot_id, {columns} FROM ({latest}) AS latest WHERE n = 1 "
        f"ON CONFLICT (model_id, day) DO UPDATE SET {replace} "
        f"WHERE {daily}.snapshot_id IS NULL OR ({daily}.snapshot_id <> excluded.snapshot_id "
        f"AND NOT EXISTS ({newer_kept}))"
    )


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed (or, in a dry run, would remove)."""

    snapshots: int  # snapshots whose observations were pruned; their rows stay
    observations: int
    daily_observations: int  # daily history rows deleted
    dry_run: bool = False
    rolled_up: int = 0  # daily history rows written from the pruned observations


def _delete_in_batches(queryset) -> int:
    # Each batch commits on its own (autocommit), so a prune of millions of
    # rows never holds one giant transaction or its locks.
    deleted = 0
    while True:
        with transaction.atomic():
            batch = queryset.model.objects.filter(
                pk__in=queryset.order_by().values("pk")[:PRUNE_BATCH]
            )
            count, _ = batch.delete()
        deleted += count
        if count < PRUNE_BATCH:
            return deleted


def observations_prune(
    *,
    older_than_days: int | None = None,
    daily_older_than_days: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneResult:
    """Retire observations of old snapshots, and delete daily history older than a year.

    Observations go when their snapshot was taken more than `older_than_days`
    (default OBSERVATION_RETENTION_DAYS) before `now`; the snapshot rows stay.
    They are rolled up into the daily history first (`daily_history_rollup`,
    committed before anything is deleted: a prune stopped halfway loses
    nothing, and running it again rolls up the rest). The newest complete
    snapshot keeps its observations whatever its age: it is what readers are
    served, and a stalled refresh must not empty the site. Daily history goes
    when its day is more than `daily_older_than_days` (default
    DAILY_HISTORY_DAYS) before today. With `dry_run`, only counts.

    Observations are retired a snapshot at a time (`observations_retire`):
    on PostgreSQL the snapshot's partition is dropped, never DELETEd in
    batches; elsewhere its rows are deleted.
    """
    now = now or timezone.now()
    if older_than_days is None:
        older_than_days = settings.OBSERVATION_RETENTION_DAYS
    if daily_older_than_days is None:
        daily_older_than_days = settings.DAILY_HISTORY_DAYS
    cutoff = now - timedelta(days=older_than_days)
    day_cutoff = now.astimezone(UTC).date() - timedelta(days=daily_older_than_days)

    newest = (
        Snapshot.objects.visible().order_by("-taken_at", "-id").values_list("pk", flat=True)[:1]
    )
    stale = list(
        Snapshot.objects.filter(taken_at__lt=cutoff)
        .exclude(pk__in=list(newest))
        .filter(Exists(Observation.objects.filter(snapshot=OuterRef("pk"))))
        .order_by("taken_at", "id")
        .values_list("pk", flat=True)
    )
    old_daily = DailyObservation.objects.filter(day__lt=day_cutoff)
    if dry_run:
        return PruneResult(
            snapshots=len(stale),
            observations=Observation.objects.filter(snapshot_id__in=stale).count(),
            daily_observations=old_daily.count(),
            dry_run=True,
        )
    rolled_up = daily_history_rollup(snapshot_ids=stale)
    observations = 0
    for pk in stale:
        # A whole snapshot at a time: on PostgreSQL its partition is dropped.
        with transaction.atomic():
            observations += observations_retire(snapshot_id=pk)
    daily = _delete_in_batches(old_daily)
    logger.info(
        "pruned %d observation(s) of %d snapshot(s) before %s (%d daily row(s) written), "
        "%d daily row(s) before %s",
        observations,
        len(stale),
        cutoff.isoformat(),
        rolled_up,
        daily,
        day_cutoff.isoformat(),
    )
    return PruneResult(
        snapshots=len(stale),
        observations=observations,
        daily_observations=daily,
        rolled_up=rolled_up,
    )
