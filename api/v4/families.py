"""/api/v4/families: model families with their rollups, and one family's members.

A family's figures are the sums over its public members in the latest
snapshot (snapshots.rollups); its members are those very rows, so a client
that adds them up gets the family's figures.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers as fields
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ApiError
from api.shared import iso_time, latest_snapshot_or_503
from registry.models import Family, FamilyMember
from snapshots import family_selectors
from snapshots.family_selectors import RollupPoint
from snapshots.models import FamilyRollup, Observation, Snapshot
from tagging import selectors as tag_selectors

from . import serializers
from .params import reject_unknown
from .views import HISTORY_DAYS, _links, _paging, cached


def family_row(family: Family, rollup: FamilyRollup | None) -> dict:
    """A family and its rollup in the latest snapshot (zeros when it has no public member)."""
    return {
        "slug": family.slug,
        "name": family.name,
        "description": family.description or None,
        "provider": family.provider.name if family.provider_id else None,
        "members": rollup.members if rollup else 0,
        "downloads": rollup.downloads if rollup else 0,
        "likes": rollup.likes if rollup else 0,
        "delta_24h": {
            "downloads": rollup.delta_downloads_24h if rollup else None,
            "likes": rollup.delta_likes_24h if rollup else None,
        },
        "delta_7d": {
            "downloads": rollup.delta_downloads_7d if rollup else None,
            "likes": rollup.delta_likes_7d if rollup else None,
        },
        "top_member": rollup.top_member.hub_id if rollup and rollup.top_member_id else None,
    }


def member_row(observation: Observation, *, snapshot: Snapshot, tags) -> dict:
    """A member: the v4 model row, with how it belongs to the family."""
    membership = observation.model.family_membership
    return {
        **serializers.model_row(observation, snapshot=snapshot, tags=tags),
        "relation": membership.relation,
        "via": membership.via,
        "source": membership.source.hub_id if membership.source_id else None,
    }


def history_point(point: RollupPoint) -> dict:
    return {
        "snapshot_id": point.snapshot_id,
        "taken_at": iso_time(point.taken_at),
        "members": point.members,
        "downloads": point.downloads,
        "likes": point.likes,
        "delta_downloads_24h": point.delta_downloads_24h,
        "delta_likes_24h": point.delta_likes_24h,
    }


# --- The OpenAPI description of the bodies (the views return plain dicts) -----


class FamilyDelta(fields.Serializer):
    downloads = fields.IntegerField(allow_null=True, help_text="Sum of members' known deltas.")
    likes = fields.IntegerField(allow_null=True)


class FamilyRow(fields.Serializer):
    """A family and its rollup in the latest snapshot."""

    slug = fields.SlugField()
    name = fields.CharField()
    description = fields.CharField(allow_null=True)
    provider = fields.CharField(allow_null=True)
    members = fields.IntegerField(min_value=0, help_text="Public members in the snapshot.")
    downloads = fields.IntegerField(help_text="Sum of the members' 30-day downloads.")
    likes = fields.IntegerField()
    delta_24h = FamilyDelta()
    delta_7d = FamilyDelta()
    top_member = fields.CharField(allow_null=True, help_text="The best ranked member's id.")


class FamilyMembership(fields.Serializer):
    """What a member adds to the v4 model row (every ModelRow field comes first)."""

    relation = fields.ChoiceField(choices=FamilyMember.Relation.values)
    via = fields.ChoiceField(choices=FamilyMember.Via.values)
    source = fields.CharField(allow_null=True, help_text="The base the family came through.")


class FamilyRollupPoint(fields.Serializer):
    snapshot_id = fields.IntegerField()
    taken_at = fields.DateTimeField()
    members = fields.IntegerField()
    downloads = fields.IntegerField()
    likes = fields.IntegerField()
    delta_downloads_24h = fields.IntegerField(allow_null=True)
    delta_likes_24h = fields.IntegerField(allow_null=True)


class FamilyQuery(fields.Serializer):
    limit = fields.IntegerField(required=False, min_value=1, max_value=500, default=100)
    offset = fields.IntegerField(required=False, min_value=0, max_value=10_000_000, default=0)


_PAGE = {
    "snapshot": inline_serializer("FamilySnapshotRef", {"id": fields.IntegerField(),
                                                        "taken_at": fields.DateTimeField()}),
    "count": fields.IntegerField(min_value=0),
    "limit": fields.IntegerField(),
    "offset": fields.IntegerField(),
    "next": fields.URLField(allow_null=True),
    "previous": fields.URLField(allow_null=True),
}  # fmt: skip


@cached
@extend_schema(
    operation_id="families_list",
    summary="The latest snapshot's model families, most downloaded first",
    parameters=[FamilyQuery],
    responses={200: inline_serializer("FamilyPage", {**_PAGE, "results": FamilyRow(many=True)})},
    tags=["families"],
)
@api_view(["GET"])
def families(request: Request) -> Response:
    """The latest snapshot's families, most downloaded first, a page at a time."""
    reject_unknown(request, ("limit", "offset"))
    limit, offset = _paging(request)
    snapshot = latest_snapshot_or_503()
    rows = family_selectors.family_rollups(snapshot=snapshot)
    count = rows.count()
    page = list(rows[offset : offset + limit])
    return Response(
        {
            "snapshot": serializers.snapshot_ref(snapshot),
            "count": count,
            "limit": limit,
            "offset": offset,
            **_links(request, count=count, limit=limit, offset=offset),
            "results": [family_row(r.family, r) for r in page],
        }
    )


@cached
@extend_schema(
    operation_id="families_retrieve",
    summary="One family: its rollup, its members by rank (a page), 30 days of rollups",
    parameters=[FamilyQuery],
    responses={
        200: inline_serializer(
            "FamilyDetail",
            {
                **_PAGE,
                "family": FamilyRow(),
                "members": FamilyMembership(many=True),
                "history": FamilyRollupPoint(many=True),
            },
        )
    },
    tags=["families"],
)
@api_view(["GET"])
def family_detail(request: Request, slug: str) -> Response:
    """One family: its rollup, its members (a page at a time, by rank) and 30 days of rollups."""
    reject_unknown(request, ("limit", "offset"))
    limit, offset = _paging(request)
    snapshot = latest_snapshot_or_503()
    family = family_selectors.family_by_slug(slug=slug)
    if family is None:
        raise ApiError(code="not_found", message=f"No family '{slug}'.", status_code=404)
    rollup = family_selectors.family_rollup(family=family, snapshot=snapshot)
    history = family_selectors.family_history(family=family, snapshot=snapshot, days=HISTORY_DAYS)
    members = family_selectors.family_members(family=family, snapshot=snapshot).defer(
        "model__hub_tags", "model__base_models"
    )
    count = members.count()
    page = list(members[offset : offset + limit])
    tags = tag_selectors.tags_for_models(model_ids=[o.model_id for o in page])
    return Response(
        {
            "snapshot": serializers.snapshot_ref(snapshot),
            "family": family_row(family, rollup),
            "count": count,
            "limit": limit,
            "offset": offset,
            **_links(request, count=count, limit=limit, offset=offset),
            "members": [member_row(o, snapshot=snapshot, tags=tags[o.model_id]) for o in page],
            "history": [history_point(point) for point in history],
        }
    )
