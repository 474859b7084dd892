"""Helpers for webhook tests: subscribe, publish, and drive deliveries without sleeping."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from webhooks.delivery import delivery_run
from webhooks.models import Delivery, EventType
from webhooks.services import events_publish, subscription_create


def subscribe(org, url, event_types=None, description=""):
    return subscription_create(
        organization=org,
        url=url,
        event_types=[EventType.SNAPSHOT_COMPLETED] if event_types is None else event_types,
        description=description,
    )


def publish(data=None, type=EventType.SNAPSHOT_COMPLETED):
    return events_publish(type=type, data=data or {"snapshot": {"id": 1}})


def run_until_settled(delivery: Delivery, *, max_rounds: int = 20) -> list[str]:
    """Run a delivery's attempts back to back, jumping the clock to each retry."""
    outcomes = []
    for _ in range(max_rounds):
        delivery.refresh_from_db()
        if delivery.status != Delivery.Status.PENDING:
            break
        now = max(timezone.now(), delivery.next_attempt_at) + timedelta(milliseconds=1)
        outcomes.append(delivery_run(delivery_id=delivery.pk, now=now))
    delivery.refresh_from_db()
    return outcomes
