"""/api/v4/export.csv: the latest snapshot's leaderboard as CSV, filtered and sorted.

The same filters and sorts as /api/v4/models (snapshots.filters), streamed
as it is read: rows come from the database in chunks, each chunk's tags in
one query, and nothing holds the whole export in memory. A plan exports at
most Plan.export_rows rows; the headers say whether the cap cut it short.
Never cached: it streams, and its length depends on the caller's plan.
Each row has its score under `profile` (the default one unless named).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from itertools import islice

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request

from api.access import caller_for
from api.shared import iso_time, latest_snapshot_or_503
from snapshots import scoring
from snapshots import selectors as snapshot_selectors
from snapshots.models import Observation
from tagging import selectors as tag_selectors

from . import filtering, selectors
from .params import reject_unknown
from .profiles import PROFILE_PARAMETER, resolve_profile
from .schema import errors

CHUNK_ROWS = 2000
COLUMNS = (
    "rank",
    "id",
    "author",
    "provider",
    "pipeline_tag",
    "library",
    "license",
    "license_class",
    "parameters",
    "param_class",
    "downloads",
    "downloads_all_time",
    "daily_downloads",
    "weekly_downloads",
    "likes",
    "trending_score",
    "delta_24h_downloads",
    "delta_24h_likes",
    "delta_7d_downloads",
    "delta_7d_likes",
    "new_24h",
    "new_7d",
    "rank_change_24h",
    "score",
    "profile",
    "last_modified",
    "created_at",
    "tags",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """Text that a spreadsheet would take for a formula gets a leading quote.

    Only text: our numbers (a negative delta) are written as numbers.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(observation: Observation, tags: list[str], profile: str = "") -> list:
    """One line; `score` as scoring.with_profile_score annotated it, to one decimal."""
    model = observation.model
    score = getattr(observation, "score", None)
    row = [
        observation.rank,
        model.hub_id,
        model.author,
        model.provider_name,
        model.pipeline_tag,
        model.library_name,
        model.license,
        model.license_class,
        model.parameters,
        model.param_class,
        observation.downloads,
        observation.downloads_all_time,
        getattr(observation, "day_downloads", None),
        getattr(observation, "week_downloads", None),
        observation.likes,
        observation.trending_score,
        observation.delta_downloads_24h,
        observation.delta_likes_24h,
        observation.delta_downloads_7d,
        observation.delta_likes_7d,
        observation.is_new_24h,
        observation.is_new_7d,
        observation.rank_change_24h,
        None if score is None else round(score, scoring.SCORE_DECIMALS),
        profile,
        iso_time(observation.last_modified),
        iso_time(model.created_at),
        ";".join(tags),
    ]
    return [safe_cell(cell) for cell in row]


class _Line:
    """A file-like object whose write() hands back what was written."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Observation], *, profile: str = "") -> Iterator[str]:
    """The header, then one line per row; tags read once per chunk of rows."""
    writer = csv.writer(_Line())
    yield writer.writerow(COLUMNS)
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK_ROWS)):
        tags = tag_selectors.tags_for_models(model_ids=[o.model_id for o in chunk])
        for observation in chunk:
            slugs = [tag.slug for tag in tags[observation.model_id]]
            yield writer.writerow(csv_row(observation, slugs, profile))


@extend_schema(
    operation_id="models_export_csv",
    summary="The filtered, sorted leaderboard as CSV, streamed (up to the plan's export rows)",
    parameters=[*filtering.filter_parameters(), PROFILE_PARAMETER],
    responses={
        (200, "text/csv"): OpenApiResponse(
            description="CSV, one model a row. X-Export-Rows, X-Export-Total, "
            "X-Export-Row-Limit and X-Export-Truncated say whether the plan's cap cut it short."
        ),
        **errors(400, 403, 503),
    },
    tags=["models"],
)
@api_view(["GET", "HEAD"])
def export_csv(request: Request) -> StreamingHttpResponse:
    """The filtered, sorted leaderboard as CSV, up to the plan's export_rows."""
    reject_unknown(request, (*filtering.filter_params(), "profile"))
    caller = caller_for(request)
    profile = resolve_profile(request, caller, default=settings.SCORING_DEFAULT_PROFILE)
    snapshot = latest_snapshot_or_503()
    rows = scoring.with_profile_score(selectors.public_rows(snapshot=snapshot), profile)
    filterset = filtering.leaderboard_filter(request, rows=rows)
    filtering.check_filters(caller, filterset)
    rows = filterset.qs
    cap = caller.plan.export_rows
    total = snapshot_selectors.board_count(snapshot=snapshot, filterset=filterset)
    exported = min(total, cap)
    response = StreamingHttpResponse(
        csv_lines(rows[:cap].iterator(chunk_size=CHUNK_ROWS), profile=profile.slug),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="modelboard-snapshot-{snapshot.pk}.csv"'
    )
    response["Cache-Control"] = "private, no-store"
    export_headers(response, exported=exported, total=total, cap=cap)
    return response


def export_headers(response, *, exported: int, total: int, cap: int) -> None:
    """What an export holds: its rows, the rows that matched, the plan's cap, cut short or not."""
    response["X-Export-Rows"] = str(exported)
    response["X-Export-Total"] = str(total)
    response["X-Export-Row-Limit"] = str(cap)
    response["X-Export-Truncated"] = "true" if total > cap else "false"
