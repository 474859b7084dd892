"""/api/v4/anomalies and /api/v4/anomalies.csv: days a model's velocity spiked.

Filters: `profile` (only what that profile flags), `metric` (downloads,
likes), `model` (a Hub id), `snapshot` (the snapshot that found them),
`since` / `until` (UTC days, inclusive). The JSON list pages by cursor like
the rest of v4 (newest day, then strongest, then id); the CSV export streams
up to the plan's `export_rows`, its cells safe from spreadsheet formulas, and
is a premium feature (plans with `premium_filters`).
"""

from __future__ import annotations

import csv
from datetime import date

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers as fields
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api.access import caller_for, plan_required
from api.errors import invalid_parameter
from registry.caching import cached_get
from snapshots import anomalies as anomaly_selectors
from snapshots import scoring
from snapshots.models import Anomaly
from snapshots.selectors import HUB_ID_MAX_LENGTH

from . import cursors
from .export import export_headers, safe_cell
from .params import choice_param, int_param, reject_unknown
from .profiles import PROFILE_SLUG, resolve_profile
from .schema import IF_NONE_MATCH, NOT_MODIFIED, PagingQuery, errors, page_of
from .selectors import latest_snapshot_id
from .views import CACHE_NAMESPACE

FILTERS = ("profile", "metric", "model", "snapshot", "since", "until")
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
    if hub_id and len(hub_id) > HUB_ID_MAX_LENGTH:
        raise invalid_parameter("model", f"must be at most {HUB_ID_MAX_LENGTH} characters")
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


ANOMALY_ORDER = cursors.KeyOrder(
    columns=(("day", True), ("z", True)), kinds=(date, float), tie_field="id"
)


class AnomalyQuery(PagingQuery):
    profile = fields.RegexField(
        PROFILE_SLUG["pattern"],
        max_length=PROFILE_SLUG["maxLength"],
        required=False,
        help_text="Only what this profile flags (see /api/v4/profiles; another is a 400).",
    )
    metric = fields.ChoiceField(choices=Anomaly.Metric.values, required=False)
    model = fields.CharField(
        required=False, max_length=HUB_ID_MAX_LENGTH, help_text="A Hub id, `org/name`."
    )
    snapshot = fields.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="The snapshot that found them."
    )
    since = fields.DateField(required=False, help_text="First UTC day, inclusive.")
    until = fields.DateField(required=False, help_text="Last UTC day, inclusive.")


class AnomalyCsvQuery(AnomalyQuery):
    limit = None
    cursor = None


class AnomalySnapshot(fields.Serializer):
    id = fields.IntegerField()
    taken_at = fields.DateTimeField()


class AnomalyRow(fields.Serializer):
    model = fields.CharField(help_text="The Hub id.")
    day = fields.DateField(help_text="The UTC day whose velocity spiked.")
    metric = fields.ChoiceField(choices=Anomaly.Metric.values)
    basis = fields.CharField(help_text="What the velocity is measured from.")
    value = fields.FloatField(help_text="The day's velocity (per day).")
    median = fields.FloatField(help_text="Median velocity of the days before.")
    mad = fields.FloatField(help_text="Their median absolute deviation.")
    z = fields.FloatField(help_text="The robust z-score.")
    change = fields.FloatField(help_text="value − median.")
    history_days = fields.IntegerField(min_value=0)
    profiles = fields.ListField(
        child=fields.CharField(), help_text="The profiles (the caller may use) that flag it."
    )
    snapshot = AnomalySnapshot(allow_null=True)


def _private_if_custom(response, profiles) -> None:
    # The cache key has the caller's plan but not its organization: an answer
    # that names an organization's own profiles must not be shared.
    if any(p.is_custom for p in profiles):
        response["Cache-Control"] = "private, no-store"


# Cached like the rest of v4, under its namespace so the fast path in front
# of Django answers hits too (a publish or a curator's edit of a profile
# retires them). Answers naming a custom profile are refused to anyone but its
# organization and never stored (no-store), so a hit never skips a check.
@cached_get(CACHE_NAMESPACE, version=latest_snapshot_id)
@extend_schema(
    operation_id="anomalies_list",
    summary="Days a model's velocity spiked, newest day first, strongest first",
    parameters=[AnomalyQuery, IF_NONE_MATCH],
    responses={
        200: page_of("AnomalyPage", AnomalyRow(), profile=fields.CharField(allow_null=True)),
        **NOT_MODIFIED,
        **errors(400, 403),
    },
    tags=["anomalies"],
)
@api_view(["GET", "HEAD"])
def anomalies(request: Request) -> Response:
    """Anomalies of public models, newest day first, strongest first, a page at a time.

    Pages are cursor-based (api.v4.cursors), bound to the filters.
    """
    reject_unknown(request, (*FILTERS, "limit", cursors.CURSOR_PARAM))
    caller = caller_for(request)
    profile, rows, profiles = _filtered(request, caller)
    limit = cursors.page_limit(request, caller, what="anomalies")
    count = rows.count()
    response = Response()
    binding = {name: request.query_params.get(name, "") for name in FILTERS}
    page, urls = cursors.paginate(
        request,
        response,
        rows,
        order=ANOMALY_ORDER,
        binding=binding,
        limit=limit,
        key=lambda a: ([a.day.isoformat(), a.z], a.pk),
        describe=lambda name, value: f"{name}={value or '(none)'}",
    )
    response.data = {
        "profile": profile.slug if profile else None,
        "count": count,
        "limit": limit,
        **urls,
        "results": [anomaly_selectors.anomaly_payload(a, profiles) for a in page.items],
    }
    _private_if_custom(response, profiles)
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


@extend_schema(
    operation_id="anomalies_csv",
    summary="The anomalies as CSV, streamed (premium; up to the plan's export rows)",
    parameters=[AnomalyCsvQuery],
    responses={
        (200, "text/csv"): OpenApiResponse(description="CSV, one anomaly a row."),
        **errors(400, 403),
    },
    tags=["anomalies"],
)
@api_view(["GET", "HEAD"])
def anomalies_csv(request: Request):
    """The same list as CSV, streamed, up to the plan's `export_rows` (premium)."""
    reject_unknown(request, FILTERS)
    caller = caller_for(request)
    plan_required(caller, feature=CSV_FEATURE, test=lambda plan: plan.premium_filters)
    _, rows, profiles = _filtered(request, caller)
    limit = caller.plan.export_rows
    total = rows.count()
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(CSV_COLUMNS)
        for anomaly in rows[:limit].iterator(chunk_size=2000):
            data = anomaly_selectors.anomaly_payload(anomaly, profiles)
            cells = [
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
            yield writer.writerow([safe_cell(cell) for cell in cells])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="anomalies.csv"'
    response["Cache-Control"] = "private, no-store"
    export_headers(response, exported=min(total, limit), total=total, cap=limit)
    return response
