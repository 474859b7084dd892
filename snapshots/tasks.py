"""Celery entry points for snapshots: thin, they call services."""

import logging

from celery import shared_task

from . import services

logger = logging.getLogger("modelboard.refresh")


@shared_task(name="snapshots.tasks.refresh_snapshot", ignore_result=True)
def refresh_snapshot() -> int | None:
    """Take a snapshot of the Hub; skip quietly if another refresh is running."""
    try:
        snapshot = services.snapshot_refresh()
    except services.RefreshInProgress as exc:
        logger.info("refresh skipped: %s", exc)
        return None
    return snapshot.pk
