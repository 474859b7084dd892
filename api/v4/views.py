"""v4 endpoints: the latest snapshot's models with deltas and tags, one model
with its history, the tags, and the snapshot runs.

Responses are cached whole (registry.caching.cached_get) under the content
generation and the latest snapshot's id: a hit costs no query and no rendering.
"""

from __future__ import annotations

from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api.access import caller_for
from api.errors import ApiError
from api.shared import latest_snapshot_or_503
from registry.caching import cached_get
from snapshots import selectors as snapshot_selectors
from snapshots.models import Snapshot
from tagging import selectors as tag_selectors

from . import cursors, filtering, selectors, serializers
from .params import choice_param, reject_unknown

CACHE_NAMESPACE = "api-v4"
HISTORY_DAYS = 30
STATUS_CHOICES = ("all", *Snapshot.Status.values)
PAGING_PARAMS = ("limit", cursors.CURSOR_PARAM)

cached = cached_get(CACHE_NAMESPACE, version=selectors.latest_snapshot_id)


def _describe_models_binding(key: str, value: object) -> str:
    return f"snapshot {value}" if key == "snapshot" else f"sort={value}"


def _paged(response: Response, request: Request, page: cursors.Page) -> dict:
    urls = cursors.links(request, page)
    header = cursors.link_header(urls)
    if header:
        response["Link"] = header
    return urls


@cached
@api_view(["GET"])
def models(request: Request) -> Response:
    """The latest snapshot's public models, filtered and sorted, a page at a time.

    Filters and sorts are snapshots.filters.LeaderboardFilter's; pages are
    cursor-based (api.v4.cursors), bound to the snapshot and the sort.
    """
    reject_unknown(request, (*filtering.filter_params(), *PAGING_PARAMS))
    caller = caller_for(request)
    limit = filtering.page_limit(request, caller)
    snapshot = latest_snapshot_or_503()
    filterset = filtering.leaderboard_filter(request, rows=selectors.public_rows(snapshot=snapshot))
    filtering.check_filters(caller, filterset)
    sort = filterset.ordering
    order = cursors.Order(
        field=sort.field, descending=sort.descending, tie_field="model__hub_id", kind=sort.kind
    )
    binding = {"snapshot": snapshot.pk, "sort": sort.name}
    position = None
    raw_cursor = request.query_params.get(cursors.CURSOR_PARAM, "")
    if raw_cursor:
        position = cursors.decode(
            raw_cursor, binding=binding, describe=_describe_models_binding, order=order
        )
    rows = filterset.qs
    count = rows.count()
    page = cursors.page_of(
        rows,
        order=order,
        position=position,
        limit=limit,
        key=lambda o: (getattr(o, sort.field), o.model.hub_id),
        binding=binding,
    )
    tags = tag_selectors.tags_for_models(model_ids=[o.model_id for o in page.items])
    response = Response()
    response.data = {
        "snapshot": serializers.snapshot_ref(snapshot),
        "count": count,
        "limit": limit,
        "sort": sort.name,
        **_paged(response, request, page),
        "results": [
            serializers.model_row(o, snapshot=snapshot, tags=tags[o.model_id]) for o in page.items
        ],
    }
    if filtering.varies_by_plan(request, caller, filterset, limit=limit):
        response["Cache-Control"] = "private, no-store"
    return response


@cached
@api_view(["GET"])
def model_detail(request: Request, hub_id: str) -> Response:
    """One model of the latest snapshot, with its last 30 days of snapshots."""
    reject_unknown(request, ())
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
    tags = tag_selectors.tags_for_models(model_ids=[view.model.pk])[view.model.pk]
    history = snapshot_selectors.model_history(
        model=view.model, days=HISTORY_DAYS, snapshot=snapshot
    )
    return Response(
        {
            "snapshot": serializers.snapshot_ref(snapshot),
            "model": serializers.model_row(observation, snapshot=snapshot, tags=tags),
            "history": [serializers.history_point(point) for point in history],
        }
    )


@cached
@api_view(["GET"])
def tags(request: Request) -> Response:
    """The curated capability tags in order, with how many public models carry each."""
    reject_unknown(request, ())
    rows = list(tag_selectors.tag_list())
    return Response({"count": len(rows), "results": [serializers.tag_row(t) for t in rows]})


@cached
@api_view(["GET"])
def snapshots(request: Request) -> Response:
    """Snapshot runs newest first: complete ones unless `status` asks for others (or all)."""
    reject_unknown(request, ("status", *PAGING_PARAMS))
    status = choice_param(request, "status", choices=STATUS_CHOICES, default="complete")
    caller = caller_for(request)
    limit = filtering.page_limit(request, caller)
    order = cursors.Order(
        field="taken_at", descending=True, tie_field="id", tie_descending=True, kind=str
    )
    binding = {"status": status}
    position = None
    raw_cursor = request.query_params.get(cursors.CURSOR_PARAM, "")
    if raw_cursor:
        position = cursors.decode(
            raw_cursor,
            binding=binding,
            describe=lambda key, value: f"status={value}",
            order=order,
        )
    rows = selectors.snapshot_list(status=None if status == "all" else status)
    count = rows.count()
    page = cursors.page_of(
        rows,
        order=order,
        position=position,
        limit=limit,
        key=lambda s: (s.taken_at, s.pk),
        binding=binding,
    )
    response = Response()
    response.data = {
        "status": status,
        "count": count,
        "limit": limit,
        **_paged(response, request, page),
        "results": [serializers.snapshot_meta(s) for s in page.items],
    }
    if status != "complete":
        # Running, partial and failed runs change without a publish, which
        # is what retires cached responses: never keep these.
        response["Cache-Control"] = "no-store"
    elif filtering.varies_by_plan(request, caller, limit=limit):
        response["Cache-Control"] = "private, no-store"
    return response


@api_view(["GET"])
def not_found(request: Request, path: str = "") -> Response:
    raise ApiError(code="not_found", message=f"No endpoint at {request.path}.", status_code=404)
