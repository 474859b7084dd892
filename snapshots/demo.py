"""Load the demo: a generated Hub's history, then one live refresh against it."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db import transaction

from registry.demo import DemoHub
from registry.hub import CallBudget, HubClient
from registry.models import HubModel
from registry.records import parse_hub_record
from registry.replay import ReplayHub

from .models import Lease, Snapshot
from .services import snapshot_record, snapshot_refresh

DEMO_ADMIN = ("admin", "modelboard")


@transaction.atomic
def demo_reset() -> None:
    """Remove every snapshot and catalog model (curated rows stay)."""
    Snapshot.objects.all().delete()
    HubModel.objects.all().delete()
    Lease.objects.all().delete()


def demo_load(*, hub: DemoHub, on_day: Callable[[int, int], None] | None = None) -> Snapshot:
    """Write the demo Hub's past days as snapshots, then refresh today live.

    Today's snapshot goes through the real Hub client against a replay hub
    serving the generated records, so the demo exercises the same path as
    production. Returns today's snapshot.
    """
    last = len(hub.days) - 1
    for index, day in enumerate(hub.days[:last]):
        records = [parse_hub_record(raw) for raw in hub.records_at(index)]
        snapshot_record(
            source=Snapshot.Source.DEMO,
            source_name=f"demo day {index + 1}",
            taken_at=day,
            records=records,
        )
        if on_day:
            on_day(index + 1, len(hub.days))
    today = hub.records_at(last)
    with ReplayHub(today, quota=10_000) as replay:
        client = HubClient(endpoint=replay.url, budget=CallBudget(None), max_retries=2)
        snapshot = snapshot_refresh(
            client=client, call_budget=len(today) + 100, max_models=len(today), page_size=1000
        )
    if on_day:
        on_day(len(hub.days), len(hub.days))
    return snapshot


def demo_admin_user() -> tuple[str, str]:
    """A superuser for the demo's admin, if none with that name exists."""
    username, password = DEMO_ADMIN
    User = get_user_model()
    if not User.objects.filter(username=username).exists():
        User.objects.create_superuser(username, "admin@example.com", password)
    return username, password
