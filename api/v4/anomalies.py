"""/api/v4/anomalies and /api/v4/anomalies.csv: days a model's velocity spiked.

Filters: `profile` (only what that profile flags), `metric` (downloads,
likes), `model` (a Hub id), `snapshot` (the snapshot that found them),
`since` / `until` (UTC days, inclusive). The JSON list is paginated like the
rest of v4; the CSV export streams up to the plan's `export_rows` and is a
premium feature (plans with `premium_filters`).
"""

from __future__ import annotations

import csv
from datetime import date

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from api.access import caller_for, plan_required
from api.errors import invalid_parameter
from registry.caching import cached_get
from snapshots import anomalies as anomaly_selectors
from snapshots import scoring
from snapshots.models import Anomaly

from .params import choice_param, int_param, reject_unknown
from .profiles import resolve_profile
from .schema import errors
from .selectors import latest_snapshot_id
from .views import CACHE_NAMESPACE

FILTERS = ("profile", "metric", "model", "snapshot", "since", "until")
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_OFFSET = 10_000_000
CSV_FEATURE = "Exporting anomalies as CSV"
CSV_COLUMNS = (
    "model",
    "day",
    "metric",
    "basis",
    "value",
    "median",
    "mad",
    "z",
    "change",
    "history_days",
    "profiles",
    "snapshot_id",
)


def _day(request: Request, name: str) -> date | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise invalid_parameter(name, "must be given once")
    raw = values[0] if values else ""
    if raw == "":
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise invalid_parameter(name, "must be a day as YYYY-MM-DD") from None


def _filtered(request: Request, caller):
    profile = resolve_profile(request, caller)
    metric = choice_param(request, "metric", choices=("", *Anomaly.Metric.values), default="")
    hub_id = request.query_params.get("model") or None
    snapshot_id = None
    if request.query_params.get("snapshot"):
        snapshot_id = int_param(request, "snapshot", default=0, low=1, high=2**31 - 1)
    since, until = _day(request, "since"), _day(request, "until")
    if since and until and since > until:
        raise invalid_parameter("until", "must not be before 'since'")
    rows = anomaly_selectors.anomaly_list(
        profile=profile,
        metric=metric or None,
        hub_id=hub_id,
        snapshot_id=snapshot_id,
        day_from=since,
        day_to=until,
    )
    profiles = list(scoring.profiles_visible_to(organization_id=caller.organization_id))
    return profile, rows, profiles


# Cached like the rest of v4, under its namespace so the fast path in front
# of Django answers hits too (a publish or a curator's edit of a profile
# retires them). Answers naming a custom profile are refused to anyone but its
# organization and never stored (no-store), so a hit never skips a check.
@cached_get(CACHE_NAMESPACE, version=latest_snapshot_id)
@api_view(["GET"])
def anomalies(request: Request) -> Response:
    """Anomalies of public models, newest day first, strongest first."""
    reject_unknown(request, (*FILTERS, "limit", "offset"))
    caller = caller_for(request)
    profile, rows, profiles = _filtered(request, caller)
    limit = int_param(request, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    offset = int_param(request, "offset", default=0, low=0, high=MAX_OFFSET)
    count = rows.count()
    page = list(rows[offset : offset + limit])
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
    response = Response(
        {
            "profile": profile.slug if profile else None,
            "count": count,
            "limit": limit,
            "offset": offset,
            "next": following,
            "previous": preceding,
            "results": [anomaly_selectors.anomaly_payload(a, profiles) for a in page],
        }
    )
    if caller.organization_id:
        # Custom profiles in the answer are this organization's alone.
        response["Cache-Control"] = "private, no-store"
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


@extend_schema(
    operation_id="anomalies_csv",
    summary="The anomalies as CSV, streamed (premium; up to the plan's export rows)",
    responses={
        (200, "text/csv"): OpenApiResponse(description="CSV, one anomaly a row."),
        **errors(400, 403),
    },
    tags=["anomalies"],
)
@api_view(["GET"])
def anomalies_csv(request: Request):
    """The same list as CSV, streamed, up to the plan's `export_rows` (premium)."""
    reject_unknown(request, FILTERS)
    caller = caller_for(request)
    plan_required(caller, feature=CSV_FEATURE, test=lambda plan: plan.premium_filters)
    _, rows, profiles = _filtered(request, caller)
    limit = caller.plan.export_rows
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(CSV_COLUMNS)
        for anomaly in rows[:limit].iterator(chunk_size=2000):
            data = anomaly_selectors.anomaly_payload(anomaly, profiles)
            yield writer.writerow(
                [
                    data["model"],
                    data["day"],
                    data["metric"],
                    data["basis"],
                    data["value"],
                    data["median"],
                    data["mad"],
                    data["z"],
                    data["change"],
                    data["history_days"],
                    " ".join(data["profiles"]),
                    data["snapshot"]["id"] if data["snapshot"] else "",
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="anomalies.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
