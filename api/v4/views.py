"""v4 endpoints: the latest snapshot's models with deltas and tags, one model
with its history, the tags, and the snapshot runs.

Responses are cached whole (registry.caching.cached_get) under the content
generation and the latest snapshot's id: a hit costs no query and no rendering.
"""

from __future__ import annotations

from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from api.access import caller_for, page_size_allowed
from api.errors import ApiError
from api.shared import latest_snapshot_or_503
from registry.caching import cached_get
from snapshots import selectors as snapshot_selectors
from snapshots.models import Snapshot
from tagging import selectors as tag_selectors

from . import selectors, serializers
from .params import choice_param, int_param, reject_unknown

CACHE_NAMESPACE = "api-v4"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_OFFSET = 10_000_000
HISTORY_DAYS = 30
STATUS_CHOICES = ("all", *Snapshot.Status.values)

cached = cached_get(CACHE_NAMESPACE, version=selectors.latest_snapshot_id)


def _paging(request: Request) -> tuple[int, int]:
    limit = int_param(request, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    offset = int_param(request, "offset", default=0, low=0, high=MAX_OFFSET)
    return limit, offset


def _links(request: Request, *, count: int, limit: int, offset: int) -> dict:
    """Absolute URLs of the next and previous pages (null at either end)."""
    url = request.build_absolute_uri()
    following = None
    if offset + limit < count:
        following = replace_query_param(url, "offset", offset + limit)
    preceding = None
    if offset > 0:
        back = max(offset - limit, 0)
        preceding = (
            replace_query_param(url, "offset", back) if back else remove_query_param(url, "offset")
        )
    return {"next": following, "previous": preceding}


@cached
@api_view(["GET"])
def models(request: Request) -> Response:
    """The latest snapshot's public models in rank order, a page at a time."""
    reject_unknown(request, ("limit", "offset"))
    limit, offset = _paging(request)
    snapshot = latest_snapshot_or_503()
    rows = selectors.public_rows(snapshot=snapshot)
    count = rows.count()
    page = list(rows[offset : offset + limit])
    tags = tag_selectors.tags_for_models(model_ids=[o.model_id for o in page])
    return Response(
        {
            "snapshot": serializers.snapshot_ref(snapshot),
            "count": count,
            "limit": limit,
            "offset": offset,
            **_links(request, count=count, limit=limit, offset=offset),
            "results": [
                serializers.model_row(o, snapshot=snapshot, tags=tags[o.model_id]) for o in page
            ],
        }
    )


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
    reject_unknown(request, ("status", "limit", "offset"))
    status = choice_param(request, "status", choices=STATUS_CHOICES, default="complete")
    limit, offset = _paging(request)
    page_size_allowed(caller_for(request), limit=limit, what="snapshots")
    rows = selectors.snapshot_list(status=None if status == "all" else status)
    count = rows.count()
    page = list(rows[offset : offset + limit])
    response = Response(
        {
            "status": status,
            "count": count,
            "limit": limit,
            "offset": offset,
            **_links(request, count=count, limit=limit, offset=offset),
            "results": [serializers.snapshot_meta(s) for s in page],
        }
    )
    if status != "complete":
        # Running, partial and failed runs change without a publish, which
        # is what retires cached responses: never keep these.
        response["Cache-Control"] = "no-store"
    return response


@api_view(["GET"])
def not_found(request: Request, path: str = "") -> Response:
    raise ApiError(code="not_found", message=f"No endpoint at {request.path}.", status_code=404)
