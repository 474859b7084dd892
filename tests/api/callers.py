"""Callers on a given plan: a real API key, sent as the gate expects it."""

from __future__ import annotations

from api import gate
from registry.models import Plan
from tests.factories import api_key


def on_plan(slug: str = "pro", **limits) -> dict:
    """Client kwargs for a request made with an API key of an organization on `slug`.

    `limits` override the plan's figures (the plan row is updated), e.g.
    on_plan("pro", export_rows=3).
    """
    if limits:
        Plan.objects.filter(slug=slug).update(**limits)
        gate.forget()  # an update() sends no signal
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key(slug)}"}
