"""The leaderboard's filters as the API takes them: validated, then gated by plan.

The FilterSet (snapshots.filters) says what is valid; this module turns its
verdict into the API's errors and applies the caller's plan: how many filters
one request may combine (Plan.filter_depth; the sort, `limit` and `cursor`
do not count) and which filters and sorts are premium (Plan.premium_filters).
How large a page may be is every list's question: api.v4.cursors.page_limit.
"""

from __future__ import annotations

import re

from django import forms
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from api.access import Caller, plan_required
from api.errors import ApiError
from snapshots.filters import FILTER_NAMES, PREMIUM_FILTERS, LeaderboardFilter


def leaderboard_filter(request: Request, *, rows) -> LeaderboardFilter:
    """The request's filters over `rows`, or a 400 naming each bad parameter."""
    filterset = LeaderboardFilter(request.query_params, queryset=rows)
    if not filterset.is_valid():
        problems = filterset.problems()
        first = next(iter(problems))
        if len(problems) == 1:
            message = f"Invalid value for '{first}': {problems[first][0]}"
        else:
            names = ", ".join(f"'{name}'" for name in problems)
            message = f"Invalid values for {names}: {problems[first][0]} ('{first}')"
        raise ApiError(code="invalid_parameter", message=message, fields=problems)
    return filterset


def check_filters(caller: Caller, filterset: LeaderboardFilter) -> None:
    """Refuse (403 plan_required) what the caller's plan does not allow."""
    used = filterset.used_filters()
    if used:
        count = len(used)
        plan_required(
            caller,
            feature=f"Combining {count} filters ({', '.join(used)})",
            test=lambda plan: plan.filter_depth >= count,
        )
    for name in filterset.premium_used():
        what = f"Sorting by {name[5:]}" if name.startswith("sort=") else f"The filter '{name}'"
        plan_required(caller, feature=what, test=lambda plan: plan.premium_filters)


def filter_params() -> tuple[str, ...]:
    return FILTER_NAMES


def filter_parameters() -> list[OpenApiParameter]:
    """The FilterSet's parameters for the OpenAPI schema, read from its declarations.

    For `@extend_schema(parameters=[*filter_parameters(), ...])` on the
    endpoints that take them, so the schema can never drift from what is
    validated.
    """
    found = []
    for name, flt in LeaderboardFilter.base_filters.items():
        field = flt.field
        description = str(field.help_text or "")
        if name in PREMIUM_FILTERS:
            description += " Needs a plan with premium filters."
        kwargs: dict = {}
        fixed_values = getattr(getattr(field, "allowed", None), "fixed_values", None)
        if fixed_values:
            # A comma list of the known values.
            one = "|".join(re.escape(value) for value in fixed_values)
            kind = str
            kwargs["pattern"] = f"^(?:{one})(?:,(?:{one}))*$"
        elif isinstance(field, forms.IntegerField):
            kind = int
        elif isinstance(field, forms.ChoiceField):
            kind = str
            kwargs["enum"] = [value for value, _ in field.choices if value != ""]
        else:
            kind = str
        found.append(OpenApiParameter(name, kind, description=description, **kwargs))
    return found
