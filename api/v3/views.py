"""v3 endpoints: the latest snapshot's leaderboard, and one model in it."""

from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ApiError, invalid_parameter
from api.shared import latest_snapshot_or_503
from snapshots import selectors

from . import serializers

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_parameter(name, f"must be an integer from {low} to {high}") from None
    if not low <= value <= high:
        raise invalid_parameter(name, f"must be an integer from {low} to {high}")
    return value


@api_view(["GET"])
def leaderboard(request: Request) -> Response:
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, 10_000_000)
    snapshot = latest_snapshot_or_503()
    rows = selectors.leaderboard_rows(snapshot=snapshot)
    return Response(
        {
            "snapshot": serializers.snapshot_ref(snapshot),
            "count": snapshot.models_seen,
            "limit": limit,
            "offset": offset,
            "results": [serializers.leaderboard_row(o) for o in rows[offset : offset + limit]],
        }
    )


@api_view(["GET"])
def model_detail(request: Request, hub_id: str) -> Response:
    snapshot = latest_snapshot_or_503()
    view = selectors.model_in_snapshot(hub_id=hub_id, snapshot=snapshot)
    if view is None or view.observation is None:
        raise ApiError(
            code="not_found",
            message=f"No model '{hub_id}' in the latest snapshot.",
            status_code=404,
        )
    return Response(
        {
            "snapshot": serializers.snapshot_ref(snapshot),
            "model": serializers.model_detail(view.model, view.observation),
        }
    )
