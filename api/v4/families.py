"""/api/v4/families: model families with their rollups, and one family's members.

A family's figures are the sums over its public members in the latest
snapshot (snapshots.rollups); its members are those very rows, so a client
that adds them up gets the family's figures.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers as fields
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api.access import caller_for
from api.errors import ApiError
from api.shared import iso_time, latest_snapshot_or_503
from registry.models import Family, FamilyMember
from snapshots import family_selectors
from snapshots.family_selectors import RollupPoint
from snapshots.models import FamilyRollup, Observation, Snapshot
from tagging import selectors as tag_selectors

from . import cursors, serializers
from .params import reject_unknown
from .schema import IF_NONE_MATCH, NOT_MODIFIED, ModelRow, PagingQuery, SnapshotRef, errors
from .views import HISTORY_DAYS, PAGING_PARAMS, cached

FAMILY_SLUG = OpenApiParameter(
    "slug",
    {"type": "string", "pattern": r"^[-A-Za-z0-9_]+$", "maxLength": 50},
    location=OpenApiParameter.PATH,
    description="The family's slug (see /api/v4/families).",
)
FAMILY_ORDER = cursors.Order(field="downloads", descending=True, tie_field="family_id")
MEMBER_ORDER = cursors.Order(
    field="rank", descending=False, tie_field="model__hub_id", tie_kind=str
)


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


class FamilyMemberRow(ModelRow):
    """A member: the v4 model row, with how it belongs to the family."""

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


_PAGE = {
    "snapshot": SnapshotRef(),
    "count": fields.IntegerField(min_value=0),
    "limit": fields.IntegerField(),
    "next": fields.URLField(allow_null=True),
    "previous": fields.URLField(allow_null=True),
}


@cached
@extend_schema(
    operation_id="families_list",
    summary="The latest snapshot's model families, most downloaded first",
    parameters=[PagingQuery, IF_NONE_MATCH],
    responses={
        200: inline_serializer("FamilyPage", {**_PAGE, "results": FamilyRow(many=True)}),
        **NOT_MODIFIED,
        **errors(400, 403, 503),
    },
    tags=["families"],
)
@api_view(["GET", "HEAD"])
def families(request: Request) -> Response:
    """The latest snapshot's families, most downloaded first, a page at a time."""
    reject_unknown(request, PAGING_PARAMS)
    limit = cursors.page_limit(request, caller_for(request), what="families")
    snapshot = latest_snapshot_or_503()
    rows = family_selectors.family_rollups(snapshot=snapshot)
    count = rows.count()
    response = Response()
    page, urls = cursors.paginate(
        request,
        response,
        rows,
        order=FAMILY_ORDER,
        binding={"snapshot": snapshot.pk},
        limit=limit,
        key=lambda r: (r.downloads, r.family_id),
    )
    response.data = {
        "snapshot": serializers.snapshot_ref(snapshot),
        "count": count,
        "limit": limit,
        **urls,
        "results": [family_row(r.family, r) for r in page.items],
    }
    return response


@cached
@extend_schema(
    operation_id="families_retrieve",
    summary="One family: its rollup, its members by rank (a page), 30 days of rollups",
    parameters=[FAMILY_SLUG, PagingQuery, IF_NONE_MATCH],
    responses={
        200: inline_serializer(
            "FamilyDetail",
            {
                **_PAGE,
                "family": FamilyRow(),
                "members": FamilyMemberRow(many=True),
                "history": FamilyRollupPoint(many=True),
            },
        ),
        **NOT_MODIFIED,
        **errors(400, 403, 404, 503),
    },
    tags=["families"],
)
@api_view(["GET", "HEAD"])
def family_detail(request: Request, slug: str) -> Response:
    """One family: its rollup, its members (a page at a time, by rank) and 30 days of rollups."""
    reject_unknown(request, PAGING_PARAMS)
    limit = cursors.page_limit(request, caller_for(request), what="members")
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
    response = Response()
    page, urls = cursors.paginate(
        request,
        response,
        members,
        order=MEMBER_ORDER,
        binding={"snapshot": snapshot.pk, "family": family.slug},
        limit=limit,
        key=lambda o: (o.rank, o.model.hub_id),
    )
    tags = tag_selectors.tags_for_models(model_ids=[o.model_id for o in page.items])
    response.data = {
        "snapshot": serializers.snapshot_ref(snapshot),
        "family": family_row(family, rollup),
        "count": count,
        "limit": limit,
        **urls,
        "members": [member_row(o, snapshot=snapshot, tags=tags[o.model_id]) for o in page.items],
        "history": [history_point(point) for point in history],
    }
    return response
