"""Retention: full observations for a month, one row per model and day kept indefinitely.

Every observation of the last OBSERVATION_RETENTION_DAYS is kept; older
ones are pruned, but their snapshots stay, with their metadata. The compact
daily history (`DailyObservation`: each model's latest sighting of each UTC
day) is written as snapshots are published (`snapshots.daily`) and kept for
DAILY_HISTORY_DAYS (0, the default: forever), so longer trends stay
possible. Deltas are stored when a snapshot is written, so pruning a
baseline later changes no published figure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .daily import daily_history_from_snapshot
from .models import DailyObservation, Observation, Snapshot
from .partitions import observations_retire

logger = logging.getLogger("modelboard.retention")

# Rows per DELETE: a large prune is many short transactions, not one long one.
PRUNE_BATCH = 10_000


def daily_history_rollup(*, snapshot_ids: Iterable[int]) -> int:
    """Write these snapshots' observations into the daily history of their UTC days.

    Publishing writes them already (`snapshots.daily`); a prune does it
    again before deleting, so a row a publish missed (an install that kept
    observations from before) is never lost. Only complete snapshots count
    (others were never shown). Whatever the order, the day's latest sighting
    wins, and writing the same snapshots again changes nothing. Each
    snapshot is committed on its own; returns the rows written.
    """
    snapshots = (
        Snapshot.objects.visible()
        .filter(pk__in=list(snapshot_ids))
        .order_by("taken_at", "id")
        .only("taken_at")
    )
    return sum(daily_history_from_snapshot(snapshot=snapshot) for snapshot in snapshots)


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
    """Retire observations of old snapshots, and daily history past its retention.

    Observations go when their snapshot was taken more than `older_than_days`
    (default OBSERVATION_RETENTION_DAYS) before `now`; the snapshot rows stay.
    They are rolled up into the daily history first (`daily_history_rollup`,
    committed before anything is deleted: a prune stopped halfway loses
    nothing, and running it again rolls up the rest). The newest complete
    snapshot keeps its observations whatever its age: it is what readers are
    served, and a stalled refresh must not empty the site. Daily history goes
    when its day is more than `daily_older_than_days` (default
    DAILY_HISTORY_DAYS; 0 keeps it forever) before today. With `dry_run`,
    only counts.

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

    newest = Snapshot.objects.served().order_by("-taken_at", "-id").values_list("pk", flat=True)[:1]
    stale = list(
        Snapshot.objects.filter(taken_at__lt=cutoff)
        .exclude(pk__in=list(newest))
        .filter(Exists(Observation.objects.filter(snapshot=OuterRef("pk"))))
        .order_by("taken_at", "id")
        .values_list("pk", flat=True)
    )
    old_daily = (
        DailyObservation.objects.filter(day__lt=day_cutoff)
        if daily_older_than_days > 0
        else DailyObservation.objects.none()
    )
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
