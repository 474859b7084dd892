"""Handing deliveries to the Celery queues, and the sweeper that catches what fell through."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import Delivery, DeliveryAttempt

logger = logging.getLogger("modelboard.webhooks")

ErrorClass = DeliveryAttempt.ErrorClass
Status = Delivery.Status
QUEUE = "webhooks"
PRIORITY_QUEUE = "webhooks_priority"
# Deliveries per Celery task: claimed together, sent at once, settled together.
CLAIM_BATCH = 20


def _send_to_queues(rows: list[tuple[int, bool]]) -> None:
    """Deliveries to the Celery queues in batches of CLAIM_BATCH, priority ones first."""
    from . import tasks

    for priority, queue in ((True, PRIORITY_QUEUE), (False, QUEUE)):
        ids = [pk for pk, p in rows if p is priority]
        for start in range(0, len(ids), CLAIM_BATCH):
            tasks.deliver_batch.apply_async((ids[start : start + CLAIM_BATCH],), queue=queue)


def deliveries_hand_out(*, subscription_ids: Counter[int] | dict[int, int]) -> int:
    """Enqueue the next due deliveries of these subscriptions (as many as each just finished).

    Those are the ones that waited for room under the cap. One query when
    none waits.
    """
    if not subscription_ids:
        return 0
    now = timezone.now()
    waiting = Delivery.objects.filter(
        subscription_id__in=list(subscription_ids),
        status=Status.PENDING,
        next_attempt_at__lte=now,
        enqueued_at__isnull=True,
        subscription__is_active=True,
    ).order_by("subscription_id", "sequence")
    taken: Counter[int] = Counter()
    rows = []
    for pk, sub_id, priority in waiting.values_list("pk", "subscription_id", "priority")[
        : settings.WEBHOOK_SWEEP_BATCH
    ]:
        if taken[sub_id] < subscription_ids[sub_id]:
            taken[sub_id] += 1
            rows.append((pk, priority))
    if not rows:
        return 0
    Delivery.objects.filter(pk__in=[pk for pk, _ in rows], enqueued_at__isnull=True).update(
        enqueued_at=now
    )
    _send_to_queues(rows)
    return len(rows)


def deliveries_enqueue(
    *,
    delivery_ids: list[int] | None = None,
    subscription_id: int | None = None,
    limit: int | None = None,
) -> int:
    """Send deliveries to the Celery queues: given ids, or a subscription's due ones.

    Priority-plan deliveries go to the priority queue. Marks them enqueued,
    so the sweeper leaves them alone for WEBHOOK_REQUEUE_AFTER_SECONDS.
    Ids go out in batches of CLAIM_BATCH per task.
    """
    now = timezone.now()
    if delivery_ids is None:
        due = Delivery.objects.filter(
            subscription_id=subscription_id,
            status=Status.PENDING,
            next_attempt_at__lte=now,
            enqueued_at__isnull=True,
        ).order_by("sequence")
        rows = list(due.values_list("pk", "priority")[: limit or settings.WEBHOOK_SWEEP_BATCH])
        if not rows:
            return 0
        Delivery.objects.filter(pk__in=[pk for pk, _ in rows]).update(enqueued_at=now)
    else:
        rows = list(
            Delivery.objects.filter(pk__in=delivery_ids)
            .order_by("-priority", "pk")
            .values_list("pk", "priority")
        )
    _send_to_queues(rows)
    return len(rows)


@dataclass(frozen=True)
class Sweep:
    reclaimed: int  # deliveries whose worker died mid-attempt, handed out again
    enqueued: int


def deliveries_sweep(*, now: datetime | None = None) -> Sweep:
    """The safety net (beat, every WEBHOOK_SWEEP_EVERY_SECONDS).

    Deliveries whose lease expired (their worker died) go back to pending,
    with a `worker_lost` line in the log; then due deliveries not in a queue
    (never enqueued because a process died between commit and enqueue, or
    enqueued long ago) are enqueued, priority first.
    """
    now = now or timezone.now()
    expired = list(
        Delivery.objects.filter(status=Status.DELIVERING, claimed_until__lt=now).values_list(
            "pk", "subscription_id", "attempts"
        )[: settings.WEBHOOK_SWEEP_BATCH]
    )
    reclaimed = 0
    if expired:
        with transaction.atomic():
            reclaimed = Delivery.objects.filter(
                pk__in=[pk for pk, _, _ in expired],
                status=Status.DELIVERING,
                claimed_until__lt=now,
            ).update(
                status=Status.PENDING,
                claimed_until=None,
                next_attempt_at=timezone.now(),
                enqueued_at=None,
                last_error="worker lost mid-attempt",
            )
            DeliveryAttempt.objects.bulk_create(
                DeliveryAttempt(
                    delivery_id=pk,
                    subscription_id=sub_id,
                    number=attempts,
                    started_at=now,
                    url="",
                    error_class=ErrorClass.WORKER_LOST,
                    error="the worker stopped before the attempt finished; its lease expired",
                )
                for pk, sub_id, attempts in expired
            )
        logger.warning("reclaimed %d webhook deliveries from lost workers", reclaimed)
    stale = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS)
    due = list(
        Delivery.objects.filter(
            status=Status.PENDING,
            next_attempt_at__lte=max(now, timezone.now()),
            subscription__is_active=True,
        )
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
        .order_by("-priority", "next_attempt_at")
        .values_list("pk", flat=True)[: settings.WEBHOOK_SWEEP_BATCH]
    )
    if due:
        Delivery.objects.filter(pk__in=due).update(enqueued_at=timezone.now())
        deliveries_enqueue(delivery_ids=due)
    return Sweep(reclaimed=reclaimed, enqueued=len(due))
