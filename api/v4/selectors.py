"""Reads behind the v4 endpoints that the apps' own selectors do not answer."""

from __future__ import annotations

from django.db.models import QuerySet

from snapshots import selectors as snapshot_selectors
from snapshots.models import Observation, Snapshot


def latest_snapshot_id() -> int | None:
    """The id of the snapshot readers are served, or None before the first one."""
    return (
        Snapshot.objects.visible().order_by("-taken_at", "-id").values_list("pk", flat=True).first()
    )


def public_rows(*, snapshot: Snapshot) -> QuerySet[Observation]:
    """The snapshot's public leaderboard, as v4 reads it.

    The catalog's JSON fields stay unread: v4 rows do not show them, and
    decoding them is a good part of the cost of a page. The family is
    joined: every row names it.
    """
    return (
        snapshot_selectors.leaderboard_rows(snapshot=snapshot)
        .select_related("model__family_membership__family")
        .defer("model__hub_tags", "model__base_models")
    )


def snapshot_list(*, status: str | None) -> QuerySet[Snapshot]:
    """Snapshots newest first, of one status (None: every status)."""
    snapshots = Snapshot.objects.order_by("-taken_at", "-id")
    if status is not None:
        snapshots = snapshots.filter(status=status)
    return snapshots


def latest_refresh() -> Snapshot | None:
    """The newest Hub refresh run, whatever its status (imports and the demo aside)."""
    return Snapshot.objects.filter(source=Snapshot.Source.HUB).order_by("-taken_at", "-id").first()
