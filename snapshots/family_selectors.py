"""Reads of model families in snapshots: rollups, their trend, members, filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet

from registry.models import Family, FamilyMember, HubModel

from .models import FamilyRollup, Observation, Snapshot


def family_choices() -> list[tuple[str, str]]:
    """(slug, name) of every family, by name: the choices of a `family` filter."""
    return list(Family.objects.order_by("name", "slug").values_list("slug", "name"))


def observations_in_family(queryset: QuerySet[Observation], slug: str) -> QuerySet[Observation]:
    """Narrow a queryset of observations to the members of the family `slug`.

    For the shared FilterSet (`family=`) of the leaderboard and the API. An
    unknown slug gives no rows.
    """
    return queryset.filter(model__family_membership__family__slug=slug)


def family_by_slug(*, slug: str) -> Family | None:
    """The family with this slug (its provider joined), or None."""
    return Family.objects.select_related("provider").filter(slug=slug).first()


def family_rollups(*, snapshot: Snapshot) -> QuerySet[FamilyRollup]:
    """A snapshot's family rollups, most downloaded first, family and top member joined."""
    return (
        FamilyRollup.objects.filter(snapshot=snapshot)
        .select_related("family", "family__provider", "top_member")
        .order_by("-downloads", "family__name", "family_id")
    )


def family_rollup(*, family: Family, snapshot: Snapshot) -> FamilyRollup | None:
    """One family's rollup in `snapshot` (top member joined), or None if it had no member."""
    return (
        FamilyRollup.objects.filter(snapshot=snapshot, family=family)
        .select_related("top_member")
        .first()
    )


@dataclass(frozen=True)
class RollupPoint:
    snapshot_id: int
    taken_at: datetime
    members: int
    downloads: int
    likes: int
    delta_downloads_24h: int | None
    delta_likes_24h: int | None


def family_history(*, family: Family, snapshot: Snapshot, days: int = 30) -> list[RollupPoint]:
    """The family's rollups in complete snapshots of the `days` before `snapshot`, oldest first."""
    since = snapshot.taken_at - timedelta(days=days)
    rows = (
        FamilyRollup.objects.filter(
            family=family,
            snapshot__status=Snapshot.Status.COMPLETE,
            snapshot__taken_at__gte=since,
            snapshot__taken_at__lte=snapshot.taken_at,
        )
        .order_by("snapshot__taken_at", "snapshot_id")
        .values_list(
            "snapshot_id",
            "snapshot__taken_at",
            "members",
            "downloads",
            "likes",
            "delta_downloads_24h",
            "delta_likes_24h",
        )
    )
    return [RollupPoint(*row) for row in rows]


def family_sparklines(
    *, snapshot: Snapshot, family_ids: list[int], days: int = 30
) -> dict[int, list[tuple[datetime, int]]]:
    """(taken_at, summed downloads) series of many families at once, oldest first: one query."""
    since = snapshot.taken_at - timedelta(days=days)
    rows = (
        FamilyRollup.objects.filter(
            family_id__in=family_ids,
            snapshot__status=Snapshot.Status.COMPLETE,
            snapshot__taken_at__gte=since,
            snapshot__taken_at__lte=snapshot.taken_at,
        )
        .order_by("snapshot__taken_at", "snapshot_id")
        .values_list("family_id", "snapshot__taken_at", "downloads")
    )
    series: dict[int, list[tuple[datetime, int]]] = {pk: [] for pk in family_ids}
    for family_id, taken_at, downloads in rows:
        series[family_id].append((taken_at, downloads))
    return series


def family_members(*, family: Family, snapshot: Snapshot) -> QuerySet[Observation]:
    """The family's public members in `snapshot`, by rank, with model, provider and membership.

    The same rows the rollup sums: its figures are these rows' totals.
    """
    return (
        Observation.objects.filter(
            snapshot=snapshot, model__private=False, model__family_membership__family=family
        )
        .select_related(
            "model__provider",
            "model__family_membership__family",
            "model__family_membership__source",
        )
        .order_by("rank", "model__hub_id")
    )


def membership_of(model: HubModel) -> FamilyMember | None:
    """A model's family membership, or None.

    Free when the model was read with
    `select_related("family_membership__family", "family_membership__source")`
    (as `selectors.model_in_snapshot` does); one query otherwise.
    """
    try:
        return model.family_membership
    except FamilyMember.DoesNotExist:
        return None


def other_members(
    *, membership: FamilyMember, snapshot: Snapshot, limit: int = 8
) -> list[Observation]:
    """The best ranked other public members of a model's family in `snapshot`."""
    rows = family_members(family=membership.family, snapshot=snapshot).exclude(
        model_id=membership.model_id
    )
    return list(rows[:limit])


def unmapped_popular(*, snapshot: Snapshot, limit: int = 200) -> list[Observation]:
    """The best ranked public models of `snapshot` that belong to no family.

    Where curators look so mappings do not go stale: a popular new line of
    models shows here until a rule covers it. One query.
    """
    return list(
        Observation.objects.filter(
            snapshot=snapshot,
            rank__isnull=False,
            model__private=False,
            model__family_membership__isnull=True,
        )
        .select_related("model", "model__provider")
        .order_by("rank")[:limit]
    )
