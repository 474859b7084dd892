"""v4 endpoints: the latest snapshot's models with deltas and tags, one model
with its history, the tags, and the snapshot runs.

Responses are cached whole (registry.caching.cached_get) under the content
generation and the latest snapshot's id: a hit costs no query and no rendering.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers as fields
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api.access import caller_for
from api.errors import ApiError
from api.shared import latest_snapshot_or_503
from registry.caching import cached_get
from snapshots import scoring
from snapshots import selectors as snapshot_selectors
from snapshots.models import Snapshot
from snapshots.selectors import HUB_ID_MAX_LENGTH
from tagging import selectors as tag_selectors

from . import cursors, filtering, selectors, serializers
from .params import choice_param, int_param, reject_unknown
from .profiles import PROFILE_PARAMETER, resolve_profile
from .schema import (
    IF_NONE_MATCH,
    NOT_MODIFIED,
    ModelRow,
    PagingQuery,
    SnapshotRef,
    errors,
    page_of,
)

CACHE_NAMESPACE = "api-v4"
HISTORY_DAYS = 30
# The daily series of a model's detail: `days` UTC days (default 30) up to
# the served snapshot's day, at most ten years.
DAILY_DAYS = 30
DAILY_DAYS_MAX = 3660
STATUS_CHOICES = ("all", *Snapshot.Status.values)
PAGING_PARAMS = ("limit", cursors.CURSOR_PARAM)

cached = cached_get(CACHE_NAMESPACE, version=selectors.latest_snapshot_id)


def _describe_models_binding(key: str, value: object) -> str:
    return f"snapshot {value}" if key == "snapshot" else f"{key}={value}"


def _no_store_if_custom(response: Response, profile) -> None:
    # The cache key has the caller's plan but not its organization: an
    # answer weighted by an organization's own profile must not be shared.
    if profile is not None and profile.is_custom:
        response["Cache-Control"] = "private, no-store"


@cached
@extend_schema(
    operation_id="models_list",
    summary="The latest snapshot's models in rank order",
    parameters=[*filtering.filter_parameters(), PROFILE_PARAMETER, PagingQuery, IF_NONE_MATCH],
    responses={
        200: page_of(
            "ModelPage",
            ModelRow(),
            snapshot=SnapshotRef(),
            sort=fields.CharField(),
            profile=fields.CharField(help_text="The profile rows are scored under."),
        ),
        **NOT_MODIFIED,
        **errors(400, 403, 503),
    },
    tags=["models"],
)
@api_view(["GET", "HEAD"])
def models(request: Request) -> Response:
    """The latest snapshot's public models, filtered and sorted, a page at a time.

    Filters and sorts are snapshots.filters.LeaderboardFilter's; pages are
    cursor-based (api.v4.cursors), bound to the snapshot, the sort and the
    profile. Each row is scored under `profile` (the default one unless
    named), with its breakdown and its newest anomaly that profile flags.
    """
    reject_unknown(request, (*filtering.filter_params(), "profile", *PAGING_PARAMS))
    caller = caller_for(request)
    profile = resolve_profile(request, caller, default=settings.SCORING_DEFAULT_PROFILE)
    limit = cursors.page_limit(request, caller, what="models")
    snapshot = latest_snapshot_or_503()
    rows = scoring.with_profile_score(selectors.public_rows(snapshot=snapshot), profile)
    filterset = filtering.leaderboard_filter(request, rows=rows)
    filtering.check_filters(caller, filterset)
    sort = filterset.ordering
    order = cursors.Order(
        field=sort.field,
        descending=sort.descending,
        tie_field="model__hub_id",
        kind=sort.kind,
        tie_kind=str,
    )
    binding = {"snapshot": snapshot.pk, "sort": sort.name, "profile": profile.slug}
    rows = filterset.qs
    count = snapshot_selectors.board_count(snapshot=snapshot, filterset=filterset)
    response = Response()
    page, urls = cursors.paginate(
        request,
        response,
        rows,
        order=order,
        binding=binding,
        limit=limit,
        key=lambda o: (getattr(o, sort.field), o.model.hub_id),
        describe=_describe_models_binding,
    )
    ids = [o.model_id for o in page.items]
    tags = tag_selectors.tags_for_models(model_ids=ids)
    anomalies = selectors.latest_anomalies(model_ids=ids, snapshot=snapshot, profile=profile)
    response.data = {
        "snapshot": serializers.snapshot_ref(snapshot),
        "count": count,
        "limit": limit,
        "sort": sort.name,
        "profile": profile.slug,
        **urls,
        "results": [
            serializers.model_row(
                o,
                snapshot=snapshot,
                tags=tags[o.model_id],
                breakdown=scoring.score_breakdown(o, profile),
                anomaly=anomalies[o.model_id],
            )
            for o in page.items
        ],
    }
    _no_store_if_custom(response, profile)
    return response


class HistoryPoint(fields.Serializer):
    snapshot_id = fields.IntegerField()
    taken_at = fields.DateTimeField()
    rank = fields.IntegerField(allow_null=True)
    downloads = fields.IntegerField(allow_null=True)
    likes = fields.IntegerField(allow_null=True)
    downloads_all_time = fields.IntegerField(allow_null=True)
    delta_downloads_24h = fields.IntegerField(allow_null=True)
    daily_downloads = fields.IntegerField(
        allow_null=True, help_text="True downloads since the 24h baseline, from all-time counts."
    )


class DetailQuery(fields.Serializer):
    days = fields.IntegerField(
        required=False,
        min_value=1,
        max_value=DAILY_DAYS_MAX,
        help_text=f"UTC days of the `daily` series, ending on the snapshot's day "
        f"(default {DAILY_DAYS}).",
    )


class DailyPoint(fields.Serializer):
    date = fields.DateField(help_text="A UTC day.")
    downloads_all_time = fields.IntegerField(
        allow_null=True, help_text="The model's all-time downloads at its latest sighting that day."
    )
    daily_downloads = fields.IntegerField(
        allow_null=True,
        help_text="All-time downloads that day minus the day before; null when either is "
        "unknown (the model's first day, a gap before it).",
    )
    gap = fields.BooleanField(
        help_text="No sighting of the model that day: both figures null, never interpolated."
    )


@cached
@extend_schema(
    operation_id="models_retrieve",
    summary="One model of the latest snapshot, with its last 30 days",
    parameters=[
        OpenApiParameter(
            "hub_id",
            {"type": "string", "maxLength": HUB_ID_MAX_LENGTH},
            location=OpenApiParameter.PATH,
            description="The Hub id, `org/name` (the slash as it is), or a legacy id (`gpt2`).",
            examples=[
                OpenApiExample("org/name", value="google-bert/bert-base-uncased"),
                OpenApiExample("legacy id", value="gpt2"),
            ],
        ),
        DetailQuery,
        PROFILE_PARAMETER,
        IF_NONE_MATCH,
    ],
    responses={
        200: inline_serializer(
            name="ModelDetail",
            fields={
                "snapshot": SnapshotRef(),
                "model": ModelRow(),
                "history": HistoryPoint(many=True),
                "daily": DailyPoint(
                    many=True,
                    help_text="One entry per UTC day of the range, oldest first; gaps explicit.",
                ),
            },
        ),
        **NOT_MODIFIED,
        **errors(400, 403, 404, 503),
    },
    tags=["models"],
)
@api_view(["GET", "HEAD"])
def model_detail(request: Request, hub_id: str) -> Response:
    """One model of the latest snapshot, with its last 30 days of snapshots and its daily series."""
    reject_unknown(request, ("profile", "days"))
    days = int_param(request, "days", default=DAILY_DAYS, low=1, high=DAILY_DAYS_MAX)
    caller = caller_for(request)
    profile = resolve_profile(request, caller, default=settings.SCORING_DEFAULT_PROFILE)
    snapshot = latest_snapshot_or_503()
    view = snapshot_selectors.model_in_snapshot(hub_id=hub_id, snapshot=snapshot)
    if view is None or view.observation is None:
        raise ApiError(
            code="not_found",
            message=f"No model '{hub_id}' in the latest snapshot.",
            status_code=404,
        )
    observation = view.observation
    observation.model = view.model  # already loaded, with its provider
    observation.snapshot = snapshot  # what the score's breakdown reads
    tags = tag_selectors.tags_for_models(model_ids=[view.model.pk])[view.model.pk]
    anomaly = selectors.latest_anomalies(
        model_ids=[view.model.pk], snapshot=snapshot, profile=profile
    )[view.model.pk]
    history = snapshot_selectors.model_history(
        model=view.model, days=HISTORY_DAYS, snapshot=snapshot
    )
    figures = snapshot_selectors.daily_figures(model_ids=[view.model.pk], snapshot=snapshot)
    observation.day_downloads, observation.week_downloads = figures[view.model.pk]
    daily = snapshot_selectors.daily_series(
        model=view.model, last_day=snapshot_selectors.snapshot_day(snapshot), days=days
    )
    response = Response(
        {
            "snapshot": serializers.snapshot_ref(snapshot),
            "model": serializers.model_row(
                observation,
                snapshot=snapshot,
                tags=tags,
                breakdown=scoring.score_breakdown(observation, profile),
                anomaly=anomaly,
            ),
            "history": [serializers.history_point(point) for point in history],
            "daily": [serializers.daily_point(point) for point in daily],
        }
    )
    _no_store_if_custom(response, profile)
    return response


class TagRow(fields.Serializer):
    slug = fields.SlugField()
    name = fields.CharField()
    description = fields.CharField(allow_null=True)
    model_count = fields.IntegerField(min_value=0, help_text="Public models carrying it.")


@cached
@extend_schema(
    operation_id="tags_list",
    summary="The curated capability tags",
    parameters=[IF_NONE_MATCH],
    responses={
        200: inline_serializer(
            name="TagList",
            fields={"count": fields.IntegerField(min_value=0), "results": TagRow(many=True)},
        ),
        **NOT_MODIFIED,
        **errors(400),
    },
    tags=["tags"],
)
@api_view(["GET", "HEAD"])
def tags(request: Request) -> Response:
    """The curated capability tags in order, with how many public models carry each."""
    reject_unknown(request, ())
    rows = list(tag_selectors.tag_list())
    return Response({"count": len(rows), "results": [serializers.tag_row(t) for t in rows]})


class SnapshotQuery(PagingQuery):
    status = fields.ChoiceField(
        choices=STATUS_CHOICES, required=False, default="complete", help_text="Which runs."
    )


class SnapshotRun(fields.Serializer):
    id = fields.IntegerField()
    taken_at = fields.DateTimeField()
    status = fields.ChoiceField(choices=Snapshot.Status.values)
    source = fields.ChoiceField(choices=Snapshot.Source.values)
    kind = fields.ChoiceField(
        choices=Snapshot.Kind.values,
        help_text="hourly: holds observations (a leaderboard); daily: the whole-Hub crawl, "
        "which writes the daily history only and is never the leaderboard served.",
    )
    source_count = fields.IntegerField(allow_null=True)
    models_seen = fields.IntegerField()
    ttl_seconds = fields.IntegerField(allow_null=True)
    call_budget = fields.IntegerField(allow_null=True)
    calls_used = fields.IntegerField()
    quota_remaining = fields.IntegerField(allow_null=True)
    quota_limit = fields.IntegerField(allow_null=True)
    duration_seconds = fields.FloatField(allow_null=True)
    details_fetched = fields.IntegerField()
    details_deferred = fields.IntegerField(allow_null=True)
    published_at = fields.DateTimeField(allow_null=True)
    error = fields.CharField(allow_null=True)
    baseline_24h = fields.IntegerField(allow_null=True, help_text="The 24h baseline's id.")
    baseline_7d = fields.IntegerField(allow_null=True, help_text="The 7d baseline's id.")
    deltas_computed_at = fields.DateTimeField(allow_null=True)


@cached
@extend_schema(
    operation_id="snapshots_list",
    summary="Snapshot runs newest first, with what they cost and how they ended",
    parameters=[SnapshotQuery, IF_NONE_MATCH],
    responses={
        200: page_of("SnapshotPage", SnapshotRun(), status=fields.ChoiceField(STATUS_CHOICES)),
        **NOT_MODIFIED,
        **errors(400, 403),
    },
    tags=["snapshots"],
)
@api_view(["GET", "HEAD"])
def snapshots(request: Request) -> Response:
    """Snapshot runs newest first: complete ones unless `status` asks for others (or all)."""
    reject_unknown(request, ("status", *PAGING_PARAMS))
    status = choice_param(request, "status", choices=STATUS_CHOICES, default="complete")
    caller = caller_for(request)
    limit = cursors.page_limit(request, caller, what="snapshots")
    order = cursors.Order(
        field="taken_at", descending=True, tie_field="id", tie_descending=True, kind=str
    )
    rows = selectors.snapshot_list(status=None if status == "all" else status)
    count = rows.count()
    response = Response()
    page, urls = cursors.paginate(
        request,
        response,
        rows,
        order=order,
        binding={"status": status},
        limit=limit,
        key=lambda s: (s.taken_at, s.pk),
    )
    response.data = {
        "status": status,
        "count": count,
        "limit": limit,
        **urls,
        "results": [serializers.snapshot_meta(s) for s in page.items],
    }
    if status != "complete":
        # Running, partial and failed runs change without a publish, which
        # is what retires cached responses: never keep these.
        response["Cache-Control"] = "no-store"
    return response


@extend_schema(exclude=True)
@api_view(["GET", "HEAD"])
def not_found(request: Request, path: str = "") -> Response:
    raise ApiError(code="not_found", message=f"No endpoint at {request.path}.", status_code=404)
