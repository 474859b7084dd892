"""/api/v4/profiles, and choosing a scoring profile with `?profile=` anywhere in v4.

Curated profiles (research, production, community) are free to use. A custom
profile belongs to an organization: only that organization's keys see it,
and using it needs a plan with `custom_profiles`.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers as fields
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api.access import Caller, caller_for, plan_required
from api.errors import invalid_parameter
from snapshots import scoring
from snapshots.models import ScoringProfile

from .params import reject_unknown
from .schema import errors

CUSTOM_PROFILES_FEATURE = "Scoring with a custom profile"
PROFILE_SLUG = {"type": "string", "pattern": r"^[-A-Za-z0-9_]+$", "maxLength": 50}
PROFILE_PARAMETER = OpenApiParameter(
    "profile",
    PROFILE_SLUG,
    description="The scoring profile's slug (see /api/v4/profiles): research, production, "
    "community (the default) or one of the organization's own (a plan with custom profiles). "
    "A profile the caller may not use is a 400 listing those it may.",
)


def profile_row(profile: ScoringProfile) -> dict:
    return {
        "slug": profile.slug,
        "name": profile.name,
        "description": profile.description or None,
        "custom": profile.is_custom,
        "weights": profile.weights(),
        "anomaly_thresholds": {
            "z": profile.anomaly_z_threshold,
            "min_downloads": profile.anomaly_min_downloads,
            "min_likes": profile.anomaly_min_likes,
        },
    }


def resolve_profile(request: Request, caller: Caller, *, default: str | None = None):
    """The profile `?profile=` names (else `default`, else None), checked for this caller.

    A custom profile of another organization is "unknown" (its name is not
    given away); the caller's own custom profile needs a plan with
    `custom_profiles` (403 `plan_required`, naming the cheapest such plan).
    """
    values = request.query_params.getlist("profile")
    if len(values) > 1:
        raise invalid_parameter("profile", "must be given once")
    slug = (values[0] if values else "") or default
    if not slug:
        return None
    profile = scoring.profile_by_slug(slug=slug)
    if profile is None or (profile.is_custom and profile.organization_id != caller.organization_id):
        known = ", ".join(
            p.slug for p in scoring.profiles_visible_to(organization_id=caller.organization_id)
        )
        raise invalid_parameter("profile", f"no profile '{slug}'; choose one of: {known}")
    if profile.is_custom:
        plan_required(caller, feature=CUSTOM_PROFILES_FEATURE, test=lambda p: p.custom_profiles)
    return profile


def score_fields(breakdown: scoring.ScoreBreakdown) -> dict:
    """The v4 model row's `score` and `profile`, and the breakdown that adds up to the score."""
    return {
        "score": breakdown.score,
        "profile": breakdown.profile.slug,
        "score_breakdown": breakdown.as_dict()["parts"],
    }


class Thresholds(fields.Serializer):
    z = fields.FloatField(help_text="The robust z-score a day must reach.")
    min_downloads = fields.IntegerField(help_text="The least change in downloads a day.")
    min_likes = fields.IntegerField(help_text="The least change in likes a day.")


class ProfileRow(fields.Serializer):
    slug = fields.SlugField()
    name = fields.CharField()
    description = fields.CharField(allow_null=True)
    custom = fields.BooleanField(help_text="The organization's own (needs custom_profiles).")
    weights = fields.DictField(
        child=fields.IntegerField(min_value=0), help_text="Points per component; they add to 100."
    )
    anomaly_thresholds = Thresholds()


@extend_schema(
    operation_id="profiles_list",
    summary="The scoring profiles the caller may use, with weights and anomaly thresholds",
    responses={
        200: inline_serializer(
            name="ProfileList",
            fields={"count": fields.IntegerField(min_value=0), "results": ProfileRow(many=True)},
        ),
        **errors(400),
    },
    tags=["scores"],
)
@api_view(["GET", "HEAD"])
def profiles(request: Request) -> Response:
    """The scoring profiles the caller may use: the curated ones, then its own.

    Not cached: the answer depends on the caller, and it is one small query.
    """
    reject_unknown(request, ())
    caller = caller_for(request)
    rows = list(scoring.profiles_visible_to(organization_id=caller.organization_id))
    return Response({"count": len(rows), "results": [profile_row(p) for p in rows]})
