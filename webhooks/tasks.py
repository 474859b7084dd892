"""Celery entry points for webhooks: thin, they call services."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import delivery, queueing, services


@shared_task(name="webhooks.tasks.deliver_batch", ignore_result=True, acks_late=True)
def deliver_batch(delivery_ids: list[int]) -> dict[int, str]:
    """Send a batch of deliveries that are still due (enqueued to webhooks or webhooks_priority).

    Not retried by Celery: a failed attempt schedules its own retry in the
    database, and the sweeper hands it out when due.
    """
    return delivery.deliveries_run(delivery_ids=delivery_ids)


@shared_task(name="webhooks.tasks.deliver", ignore_result=True, acks_late=True)
def deliver(delivery_id: int) -> str:
    """One delivery (messages queued before batches existed are still understood)."""
    return delivery.delivery_run(delivery_id=delivery_id)


@shared_task(
    name="webhooks.tasks.sweep_deliveries",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_jitter=True,
    max_retries=2,
)
def sweep_deliveries() -> int:
    """Beat: hand out due retries and deliveries whose worker died."""
    return queueing.deliveries_sweep().enqueued


@shared_task(
    name="webhooks.tasks.prune_delivery_log",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=3,
)
def prune_delivery_log() -> int:
    """Beat (daily): drop the delivery log older than WEBHOOK_LOG_RETENTION_DAYS."""
    return services.delivery_log_prune().attempts
