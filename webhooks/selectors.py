"""Reads for webhooks: the subscriptions and the delivery log, filtered."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q, QuerySet

from registry.models import Organization

from .models import Delivery, DeliveryAttempt, EndpointNotice, Subscription


def subscriptions_for(*, organization: Organization) -> QuerySet[Subscription]:
    """An organization's subscriptions, oldest first."""
    return Subscription.objects.filter(organization=organization).order_by("pk")


def deliveries_log(
    *,
    organization: Organization | None = None,
    subscription: Subscription | None = None,
    status: str | None = None,
    event_type: str | None = None,
    msg_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Delivery]:
    """Deliveries, newest first, with their event and subscription joined."""
    rows = Delivery.objects.select_related("event", "subscription")
    if organization is not None:
        rows = rows.filter(subscription__organization=organization)
    if subscription is not None:
        rows = rows.filter(subscription=subscription)
    if status:
        rows = rows.filter(status=status)
    if event_type:
        rows = rows.filter(event__type=event_type)
    if msg_id:
        rows = rows.filter(msg_id=msg_id)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    return rows.order_by("-created_at", "-pk")


def attempts_log(
    *,
    organization: Organization | None = None,
    subscription: Subscription | None = None,
    succeeded: bool | None = None,
    status_code: int | None = None,
    error_class: str | None = None,
    event_type: str | None = None,
    msg_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[DeliveryAttempt]:
    """The delivery log: every attempt, newest first, with delivery and event joined."""
    rows = DeliveryAttempt.objects.select_related("delivery__event", "subscription")
    if organization is not None:
        rows = rows.filter(subscription__organization=organization)
    if subscription is not None:
        rows = rows.filter(subscription=subscription)
    if succeeded is not None:
        rows = rows.filter(succeeded=succeeded)
    if status_code is not None:
        rows = rows.filter(status_code=status_code)
    if error_class:
        rows = rows.filter(error_class=error_class)
    if event_type:
        rows = rows.filter(delivery__event__type=event_type)
    if msg_id:
        rows = rows.filter(delivery__msg_id=msg_id)
    if since is not None:
        rows = rows.filter(started_at__gte=since)
    if until is not None:
        rows = rows.filter(started_at__lt=until)
    return rows.order_by("-started_at", "-pk")


def delivery_backlog(*, now: datetime) -> dict:
    """Deliveries not yet done: due now, waiting for a retry, in flight; and the oldest due.

    For health and /metrics: a growing `due` (or an old `oldest_due_at`)
    means workers are not keeping up; `waiting` is the retry schedule at work.
    `over_limit` counts open deliveries past their last attempt (the retry
    schedule's length plus the first try, plus one more that a worker lost
    on the last attempt may take): attempts are made but their outcome is
    not recorded, a fault in the sender itself. `failing_endpoints`
    are active endpoints in a failure streak; `disabled_recently` were turned
    off for failing (or 410) in the last day. Three counting queries whatever
    the backlog.
    """
    open_ = Delivery.objects.filter(
        status__in=(Delivery.Status.PENDING, Delivery.Status.DELIVERING)
    )
    counts = open_.aggregate(
        due=Count("pk", filter=Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now)),
        due_priority=Count(
            "pk",
            filter=Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now, priority=True),
        ),
        waiting=Count("pk", filter=Q(status=Delivery.Status.PENDING, next_attempt_at__gt=now)),
        delivering=Count("pk", filter=Q(status=Delivery.Status.DELIVERING)),
        oldest_due_at=Min(
            "next_attempt_at",
            filter=Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now),
        ),
        over_limit=Count("pk", filter=Q(attempts__gt=len(settings.WEBHOOK_RETRY_SCHEDULE) + 2)),
    )
    counts["failing_endpoints"] = Subscription.objects.filter(
        is_active=True, failing_since__isnull=False
    ).count()
    # Notices are written only when an endpoint is disabled for failing.
    counts["disabled_recently"] = EndpointNotice.objects.filter(
        kind=EndpointNotice.Kind.DISABLED, created_at__gte=now - timedelta(days=1)
    ).count()
    return counts
