"""Callers on a given plan, as the API gate leaves them in the request."""

from __future__ import annotations

from itertools import count

from api.access import CALLER_ENVIRON_KEY, Caller
from registry.models import Organization, Plan

_keys = count(1)


def on_plan(slug: str = "pro", **limits) -> dict:
    """Client kwargs for a request made with an API key of an organization on `slug`.

    `limits` override the plan's figures (the plan row is updated), e.g.
    on_plan("pro", export_rows=3).
    """
    plan = Plan.objects.get(slug=slug)
    if limits:
        Plan.objects.filter(pk=plan.pk).update(**limits)
        plan.refresh_from_db()
    key_id = next(_keys)
    organization, _ = Organization.objects.get_or_create(
        slug=f"org-{slug}", defaults={"name": f"Org on {slug}", "plan": plan}
    )
    caller = Caller(
        plan=plan, ident=f"key:k{key_id}", api_key_id=key_id, organization_id=organization.pk
    )
    return {CALLER_ENVIRON_KEY: caller}
