"""Retention: full observations for a month, one row per model and day for a year.

Every observation of the last OBSERVATION_RETENTION_DAYS is kept; older
ones are pruned, but their snapshots stay, with their metadata. Before that,
each published snapshot has already written the compact daily history
(`DailyObservation`), which is kept for DAILY_HISTORY_DAYS so longer trends
stay possible. Deltas are stored when a snapshot is published, so pruning a
baseline later changes no published figure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .models import DailyObservation, Observation, Snapshot

logger = logging.getLogger("modelboard.retention")

# Rows per DELETE: a large prune is many short transactions, not one long one.
PRUNE_BATCH = 10_000


def snapshot_day(snapshot: Snapshot) -> date:
    """The UTC day a snapshot belongs to in the daily history."""
    return snapshot.taken_at.astimezone(UTC).date()


def daily_history_record(*, snapshot: Snapshot) -> None:
    """Write the snapshot's observations into the daily history of its UTC day.

    One row per model and day; the day's latest snapshot wins, whatever
    order snapshots arrive in: a stored row is replaced only by a snapshot
    taken at the same time or later. One upsert for the whole snapshot, run
    inside the publishing transaction.
    """
    day = snapshot_day(snapshot)
    day_ends = datetime.combine(day, time.min, tzinfo=UTC) + timedelta(days=1)
    # The day's rows can only come from the day's snapshots: those taken
    # after this one (usually none) keep theirs.
    newer = list(
        Snapshot.objects.filter(taken_at__gt=snapshot.taken_at, taken_at__lt=day_ends)
        .exclude(pk=snapshot.pk)
        .values_list("pk", flat=True)
    )
    quote = connection.ops.quote_name
    daily = quote(DailyObservation._meta.db_table)
    observations = quote(Observation._meta.db_table)
    figures = ("rank", "downloads", "downloads_all_time", "likes", "trending_score")
    columns = ", ".join(figures)
    replace = ", ".join(f"{name} = excluded.{name}" for name in ("snapshot_id", *figures))
    # A row whose snapshot was deleted cannot say when it was taken: replace it.
    keep_newer = " AND ".join(f"{daily}.snapshot_id <> %s" for _ in newer)
    condition = f"{daily}.snapshot_id IS NULL OR ({daily}.snapshot_id <> excluded.snapshot_id"
    condition += f" AND {keep_newer})" if newer else ")"
    sql = (
        f"INSERT INTO {daily} (model_id, day, snapshot_id, {columns}) "
        f"SELECT model_id, %s, snapshot_id, {columns} FROM {observations} "
        "WHERE snapshot_id = %s "
        f"ON CONFLICT (model_id, day) DO UPDATE SET {replace} WHERE {condition}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datefield_value(day), snapshot.pk, *newer])


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed (or, in a dry run, would remove)."""

    snapshots: int  # snapshots whose observations were pruned; their rows stay
    observations: int
    daily_observations: int
    dry_run: bool = False


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
    """Delete observations of old snapshots, and daily history older than a year.

    Observations go when their snapshot was taken more than `older_than_days`
    (default OBSERVATION_RETENTION_DAYS) before `now`; the snapshot rows stay.
    The newest complete snapshot keeps its observations whatever its age:
    it is what readers are served, and a stalled refresh must not empty the
    site. Daily history goes when its day is more than `daily_older_than_days`
    (default DAILY_HISTORY_DAYS) before today. With `dry_run`, only counts.
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
    observations = 0
    for pk in stale:
        observations += _delete_in_batches(Observation.objects.filter(snapshot_id=pk))
    daily = _delete_in_batches(old_daily)
    logger.info(
        "pruned %d observation(s) of %d snapshot(s) before %s, %d daily row(s) before %s",
        observations,
        len(stale),
        cutoff.isoformat(),
        daily,
        day_cutoff.isoformat(),
    )
    return PruneResult(snapshots=len(stale), observations=observations, daily_observations=daily)
