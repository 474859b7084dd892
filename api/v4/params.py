"""Query parameters of v4 endpoints: parsed, bounded, and refused with a named 4xx."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.request import Request

from api.errors import ApiError, invalid_parameter


def reject_unknown(request: Request, known: Iterable[str]) -> None:
    """Refuse parameters the endpoint does not take.

    A filter that is silently ignored answers a different question than the
    one asked (`?tag=chat` would list every model), so say so instead.
    """
    allowed = set(known)
    unknown = sorted(name for name in request.query_params if name not in allowed)
    if unknown:
        listed = ", ".join(f"'{name}'" for name in unknown)
        accepted = ", ".join(sorted(allowed)) or "none"
        raise ApiError(
            code="unknown_parameter",
            message=f"Unknown parameter {listed}; this endpoint takes: {accepted}",
            fields={name: ["unknown parameter"] for name in unknown},
        )


def int_param(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    """An integer parameter within [low, high]; `default` when absent or empty."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise invalid_parameter(name, "must be given once")
    raw = values[0] if values else ""
    if raw == "":
        return default
    problem = f"must be an integer from {low} to {high}"
    try:
        value = int(raw)
    except ValueError:
        raise invalid_parameter(name, problem) from None
    if not low <= value <= high:
        raise invalid_parameter(name, problem)
    return value


def choice_param(request: Request, name: str, *, choices: Iterable[str], default: str) -> str:
    """One of `choices`; `default` when absent or empty."""
    options = list(choices)
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise invalid_parameter(name, "must be given once")
    raw = values[0] if values else ""
    if raw == "":
        return default
    if raw not in options:
        raise invalid_parameter(name, f"must be one of: {', '.join(options)}")
    return raw
