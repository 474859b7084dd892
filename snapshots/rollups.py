"""Writes for family rollups: each family's sums in each snapshot.

A rollup is computed by one INSERT … SELECT … GROUP BY over the snapshot's
observations joined to the current family memberships: members, summed
downloads and likes, summed deltas and the top member (the best ranked).
Private models never count. It runs as a snapshot is published, after the
families of its new and changed models are settled, and again (for every
snapshot that still has observations) when curators change families.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from registry.caching import content_changed
from registry.models import FamilyMember, HubModel

from .models import FamilyRollup, Observation, Snapshot

logger = logging.getLogger("modelboard.families")


def _column(model, name: str) -> str:
    return model._meta.get_field(name).column


def _rollup_sql() -> str:
    rollup, obs, member, hub = (
        FamilyRollup._meta.db_table,
        Observation._meta.db_table,
        FamilyMember._meta.db_table,
        HubModel._meta.db_table,
    )
    sums = ("delta_downloads_24h", "delta_likes_24h", "delta_downloads_7d", "delta_likes_7d")
    columns = [
        _column(FamilyRollup, name)
        for name in ("snapshot", "family", "members", "downloads", "likes", *sums, "top_member")
    ]
    o = {name: _column(Observation, name) for name in ("snapshot", "model", "rank", *sums)}
    # SUM over no known value is NULL: a delta nobody has stays unknown.
    # The top member is the best ranked (ties: the lowest id), picked by a
    # window function in the same pass.
    return (
        f"INSERT INTO {rollup} ({', '.join(columns)}) "
        "SELECT %s, r.family_id, COUNT(*), COALESCE(SUM(r.downloads), 0), "
        "COALESCE(SUM(r.likes), 0), "
        + ", ".join(f"SUM(r.{name})" for name in sums)
        + ", MAX(CASE WHEN r.place = 1 THEN r.model_id END) FROM ("
        f"SELECT m.{_column(FamilyMember, 'family')} AS family_id, o.{o['model']} AS model_id, "
        "o.downloads, o.likes, "
        + ", ".join(f"o.{o[name]} AS {name}" for name in sums)
        + f", ROW_NUMBER() OVER (PARTITION BY m.{_column(FamilyMember, 'family')} "
        f"ORDER BY o.{o['rank']} IS NULL, o.{o['rank']}, o.{o['model']}) AS place "
        f"FROM {obs} o "
        f"JOIN {member} m ON m.{_column(FamilyMember, 'model')} = o.{o['model']} "
        f"JOIN {hub} h ON h.id = o.{o['model']} "
        f"WHERE o.{o['snapshot']} = %s AND NOT h.private"
        ") r GROUP BY r.family_id"
    )


@transaction.atomic
def family_rollups_compute(*, snapshot: Snapshot) -> int:
    """(Re)write the family rollups of one snapshot from today's memberships.

    Two statements: the old rows deleted, the new ones inserted by one
    grouped SELECT. Returns the families rolled up. Call it in the
    publishing transaction; readers' caches move with the publish.
    """
    FamilyRollup.objects.filter(snapshot=snapshot).delete()
    with connection.cursor() as cursor:
        cursor.execute(_rollup_sql(), [snapshot.pk, snapshot.pk])
        return cursor.rowcount


def family_rollups_recompute(
    *,
    since: datetime | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recompute the rollups of complete snapshots that still have observations.

    For snapshots published before families existed, and after curators
    change families or rules (memberships are today's for every snapshot,
    so a family's trend is drawn with the members it has now). Snapshots
    whose observations were pruned keep the rollups they had. Each snapshot
    commits on its own; caches are invalidated once at the end.
    """
    snapshots = Snapshot.objects.visible().filter(
        Exists(Observation.objects.filter(snapshot=OuterRef("pk")))
    )
    if since is not None:
        snapshots = snapshots.filter(taken_at__gte=since)
    pks = list(snapshots.order_by("taken_at", "id").values_list("pk", flat=True))
    done = 0
    for pk in pks:
        with transaction.atomic():
            snapshot = Snapshot.objects.filter(pk=pk).first()
            if snapshot is None:  # deleted meanwhile
                continue
            family_rollups_compute(snapshot=snapshot)
        done += 1
        if on_progress is not None:
            on_progress(done, len(pks))
    if done:
        logger.info("recomputed family rollups of %d snapshot(s)", done)
        transaction.on_commit(lambda: content_changed(reason=f"rollups of {done} recomputed"))
    return done
