"""Who is calling the API, on which plan, and what that plan allows.

The gate (api/gate.py: API keys, rate limits) identifies the caller once per
request and leaves a `Caller` in the WSGI environ under CALLER_ENVIRON_KEY;
views, the export and the filters read it with `caller_for(request)` and
refuse what the plan does not allow with `plan_required(...)` (or
`page_size_allowed(...)` for a page-size cap).

The plan a caller holds is a memoised row shared between requests: read it,
never change it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import status

from registry.models import ANONYMOUS_PLAN_SLUG, Plan

from .errors import ApiError

CALLER_ENVIRON_KEY = "modelboard.caller"
ANONYMOUS_PLAN = ANONYMOUS_PLAN_SLUG


@dataclass(frozen=True)
class Caller:
    """One API caller: an API key's organization, or an anonymous IP (on free)."""

    plan: Plan
    ident: str  # what the rate limit counts: "key:<prefix>" or "ip:<address>"
    api_key_id: int | None = None
    organization_id: int | None = None

    @property
    def anonymous(self) -> bool:
        return self.api_key_id is None


def anonymous_caller(address: str) -> Caller:
    """An anonymous caller from `address`, on the free plan."""
    from .gate import anonymous_plan  # the gate builds on this module

    return Caller(plan=anonymous_plan(), ident=f"ip:{address}")


def caller_for(request) -> Caller:
    """The request's caller, as the gate identified it (anonymous when it did not)."""
    meta = request.META
    found = meta.get(CALLER_ENVIRON_KEY)
    if found is None:
        found = anonymous_caller(meta.get("REMOTE_ADDR", ""))
        meta[CALLER_ENVIRON_KEY] = found
    return found


def plan_needed(feature: str, test) -> Plan | None:
    """The cheapest plan whose limits pass `test(plan)`, to name it in a refusal."""
    for plan in Plan.objects.order_by("rate_limit_per_minute", "slug"):
        if test(plan):
            return plan
    return None


def plan_required(caller: Caller, *, feature: str, test) -> None:
    """Refuse with 403 unless the caller's plan passes `test(plan)`.

    The message names the cheapest plan that would allow it, e.g. "Filtering
    on 'family' needs the pro plan (you are on free)."
    """
    if test(caller.plan):
        return
    needed = plan_needed(feature, test)
    wanted = f"the {needed.slug} plan" if needed else "a plan that allows it"
    raise ApiError(
        code="plan_required",
        message=f"{feature} needs {wanted} (you are on {caller.plan.slug}).",
        status_code=status.HTTP_403_FORBIDDEN,
    )


def page_size_allowed(caller: Caller, *, limit: int, what: str = "results") -> None:
    """Refuse with 403 a page larger than the caller's plan allows (Plan.max_page_size)."""
    plan_required(
        caller,
        feature=f"A page of {limit} {what}",
        test=lambda plan: plan.max_page_size >= limit,
    )
