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
from api.errors import ApiError, invalid_parameter
from snapshots.filters import FILTER_NAMES, PREMIUM_FILTERS, LeaderboardFilter, ValuesField


def leaderboard_filter(request: Request, *, rows) -> LeaderboardFilter:
    """The request's filters over `rows`, or a 400 naming each bad parameter."""
    for name in LIST_FILTERS:
        if any(len(value) > LIST_MAX_LENGTH for value in request.query_params.getlist(name)):
            raise invalid_parameter(name, f"must be at most {LIST_MAX_LENGTH} characters")
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


# How the schema describes the catalog's values: tags, providers and families
# are slugs; licenses, tasks and libraries are Hub ids (printable ASCII, no
# comma). Which ones exist is the catalog's to say (/api/v4/tags,
# /api/v4/families …): an unknown one is a 400 listing those it takes.
SLUG = r"[-A-Za-z0-9_]+"
HUB_VALUE = r"[!-+\--~]+"  # printable ASCII but the comma and the space
SLUG_FILTERS = frozenset({"tag", "provider", "family"})
# A list's length in the schema: the widest query of all (every filter,
# a cursor) stays well within api.query.MAX_QUERY_LENGTH.
LIST_MAX_LENGTH = 120


LIST_FILTERS = tuple(
    name
    for name, flt in LeaderboardFilter.base_filters.items()
    if isinstance(flt.field, ValuesField)
)


def _list_of(value: str) -> str:
    # As ValuesWidget reads a list: spaces around values and empty items are
    # ignored.
    item = rf" *(?:{value} *)?"
    return f"^{item}(?:,{item})*$"


def _any_case(value: str) -> str:
    # Values match in any case; schema patterns have no flag to say so.
    return "".join(
        f"[{c.lower()}{c.upper()}]" if c.lower() != c.upper() else re.escape(c) for c in value
    )


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
        fixed_values = getattr(getattr(field, "allowed", None), "fixed_values", None)
        if fixed_values:
            # A comma list of the known values.
            one = "|".join(_any_case(value) for value in fixed_values)
            schema = {"type": "string", "pattern": _list_of(f"(?:{one})")}
            schema["maxLength"] = LIST_MAX_LENGTH
        elif isinstance(field, ValuesField):
            value = SLUG if name in SLUG_FILTERS else HUB_VALUE
            schema = {"type": "string", "pattern": _list_of(value), "maxLength": LIST_MAX_LENGTH}
            description += (
                " Comma-separated; a value the catalog does not hold is a 400 listing those "
                "it does."
            )
        elif isinstance(field, forms.IntegerField):
            schema = {"type": "integer", "minimum": field.min_value, "maximum": field.max_value}
        elif isinstance(field, forms.ChoiceField):
            schema = {
                "type": "string",
                "enum": [value for value, _ in field.choices if value != ""],
            }
        else:
            schema = {"type": "string", "maxLength": field.max_length}
        if name in PREMIUM_FILTERS:
            description += " Needs a plan with premium filters."
        found.append(OpenApiParameter(name, schema, description=description))
    return found
