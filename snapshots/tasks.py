"""Celery entry points for snapshots: thin, they call services."""

import logging
from datetime import datetime

from celery import shared_task
from django.db import OperationalError

from . import deltas, retention, rollups, services

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


@shared_task(
    name="snapshots.tasks.prune_observations",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=3,
)
def prune_observations() -> int:
    """Apply the retention settings (beat: daily); returns observations deleted."""
    result = retention.observations_prune()
    return result.observations


@shared_task(
    name="snapshots.tasks.recompute_deltas",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=3,
)
def recompute_deltas(since: str | None = None) -> int:
    """Recompute stored deltas of snapshots taken since an ISO time (all if None)."""
    since_at = datetime.fromisoformat(since) if since else None
    return deltas.snapshots_recompute_deltas(since=since_at)


@shared_task(
    name="snapshots.tasks.recompute_family_rollups",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=3,
)
def recompute_family_rollups() -> int:
    """Roll families up again in every snapshot that still has observations.

    Enqueued by the admin after curators change families: the latest
    snapshot is rolled up in the request itself, the history here.
    """
    return rollups.family_rollups_recompute()


@shared_task(name="snapshots.tasks.crawl_hub", ignore_result=True)
def crawl_hub() -> str | None:
    """Work on the daily crawl (beat: every CRAWL_EVERY_MINUTES); skip if a run holds it."""
    from django.conf import settings

    from . import crawl

    if not settings.CRAWL_ENABLED:
        return None
    try:
        outcome = crawl.crawl_run()
    except crawl.CrawlInProgress as exc:
        logger.info("crawl run skipped: %s", exc)
        return None
    return outcome.outcome
