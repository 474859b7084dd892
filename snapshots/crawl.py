"""The daily crawl: every public model of the Hub, once per UTC day.

The hourly refresh snapshots a hot tier (`snapshots.hot_tier`); this crawl
lists the whole Hub (about 2M models, 2,000 pages of 1,000) through the
listing endpoint with every field the catalog and the daily figures need,
`downloadsAllTime` included. That is more than one run should hold, so:

* **Checkpoint.** A `Crawl` row keeps the listing's cursor (`next_url`, the
  Hub's `rel="next"` link), pages done, records read/staged/skipped and the
  calls spent. Each page read is staged as one `CrawlPage` row *in the same
  transaction* that advances the cursor: a kill loses at most the page in
  flight, and a resume (any later run) reads on from the cursor with no page
  repeated or skipped.
* **Runs.** A run (a beat tick, `CRAWL_EVERY_MINUTES`, or `manage.py crawl`)
  holds the "crawl" lease (not the refresh's, so the hourly tier keeps
  going), spends at most `CRAWL_CALL_BUDGET` calls and leaves
  `CRAWL_QUOTA_RESERVE` calls of the Hub's rate-limit window to the hourly
  refresh: below it the run waits for the window to reset (up to
  `HUB_MAX_WAIT_SECONDS`) or pauses, and the next run resumes. A Hub that
  keeps failing pauses it too. A crawl not published within
  `CRAWL_MAX_HOURS` of its start is given up (`failed`) and its pages
  dropped; the next run starts the day's crawl afresh.
* **Publish.** Once the listing ends, the staged pages are published in one
  transaction as a `Snapshot` of kind "daily": its records update the
  catalog (new and changed models, then tags and families of those, through
  the same services as an hourly publish) and write the day's rows of the
  daily table. A daily snapshot writes no observations, so it is never a
  leaderboard nor a baseline. The staged pages are deleted in that
  transaction.
* **Odd records** (`registry.records`) are left out as pages are staged and
  counted by reason; an id listed twice is counted once more as a duplicate
  at publish. The counts land on the snapshot (`records_skipped`,
  `skipped_reasons`).

Progress (pages, models, calls, quota, an ETA) is on the `Crawl` row, in
/api/v4/health ("crawl") and at /metrics (`modelboard_crawl_*`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from registry.caching import content_changed
from registry.families import families_assign
from registry.gcpause import cyclic_gc_paused
from registry.hub import BudgetExhausted, HubClient, HubError, RateLimited
from registry.metrics import observe_crawl, observe_skipped
from registry.records import HubRecord, RecordError, parse_hub_record
from tagging.services import tags_apply

from .daily import daily_rows_write
from .ingest import upsert_catalog
from .leases import LeaseHeld, LeaseLost, lease_acquire, lease_release, lease_renew
from .models import Crawl, CrawlPage, Snapshot
from .services import LISTING_EXPAND, hub_client_for_run
from .skips import SkippedRecords

logger = logging.getLogger("modelboard.crawl")

CRAWL_LEASE = "crawl"
# The listing's own fields are all the catalog and the daily figures need
# (details, such as card data, are the hourly tier's business).
CRAWL_EXPAND = LISTING_EXPAND
# What to expect of a first crawl when no earlier one says how big the Hub is.
EXPECTED_MODELS = 2_000_000
UNFINISHED = (Crawl.Status.RUNNING, Crawl.Status.PAUSED)


class CrawlInProgress(Exception):
    """Another run holds the crawl lease."""


class _QuotaLow(Exception):
    """The Hub's window is down to the reserve and resets later than we may wait."""

    def __init__(self, resets_in: float):
        super().__init__(f"quota at the reserve; the window resets in {resets_in:.0f}s")
        self.resets_in = resets_in


@dataclass
class CrawlProgress:
    """What a crawl run reports after each page it stages, and as it publishes."""

    phase: str  # "listing" | "waiting" | "publishing"
    pages_done: int
    records_staged: int
    calls_used: int
    quota_remaining: int | None
    eta_seconds: float | None


@dataclass(frozen=True)
class CrawlOutcome:
    """How a run ended: "published", "paused", "failed" or "idle" (nothing to do)."""

    outcome: str
    crawl: Crawl | None
    snapshot: Snapshot | None = None


def crawl_unfinished() -> Crawl | None:
    """The crawl a run would resume: the newest one running or paused."""
    return Crawl.objects.filter(status__in=UNFINISHED).order_by("-started_at", "-id").first()


def crawl_latest() -> Crawl | None:
    """The newest crawl, whatever its status."""
    return Crawl.objects.order_by("-started_at", "-id").first()


def crawl_last_published() -> Crawl | None:
    """The newest crawl published as a daily snapshot."""
    return Crawl.objects.filter(status=Crawl.Status.COMPLETE).order_by("-started_at", "-id").first()


def crawl_facts(*, crawl: Crawl) -> dict:
    """A crawl's progress as plain figures (health, the admin): pages, models, calls, ETA.

    The ETA extrapolates the crawl's average pace so far (all runs, waits
    included) over the records still expected (`crawl_expected_models`).
    """
    unfinished = crawl.status in UNFINISHED
    pace = None
    if unfinished and crawl.pages_done:
        pace = (crawl.updated_at - crawl.started_at).total_seconds() / crawl.pages_done
    eta = crawl_eta_seconds(crawl, seconds_per_page=pace) if unfinished else None
    return {
        "id": crawl.pk,
        "day": crawl.day.isoformat(),
        "status": crawl.status,
        "unfinished": unfinished,
        "started_at": crawl.started_at.isoformat(),
        "updated_at": crawl.updated_at.isoformat(),
        "finished_at": crawl.finished_at.isoformat() if crawl.finished_at else None,
        "runs": crawl.runs,
        "pages_done": crawl.pages_done,
        "listing_done": crawl.listing_done,
        "records_read": crawl.records_read,
        "records_staged": crawl.records_staged,
        "records_skipped": crawl.records_skipped,
        "skipped_reasons": crawl.skipped_reasons,
        "calls_used": crawl.calls_used,
        "quota_remaining": crawl.quota_remaining,
        "quota_limit": crawl.quota_limit,
        "quota_resets_at": crawl.quota_resets_at.isoformat() if crawl.quota_resets_at else None,
        "eta_seconds": round(eta) if eta is not None else None,
        "snapshot_id": crawl.snapshot_id,
        "error": crawl.error or None,
    }


def crawl_expected_models() -> int:
    """How many records a whole crawl reads: the last published one's count, or 2M."""
    last = (
        Crawl.objects.filter(status=Crawl.Status.COMPLETE)
        .order_by("-started_at")
        .values_list("records_read", flat=True)
        .first()
    )
    return last or EXPECTED_MODELS


def crawl_eta_seconds(crawl: Crawl, *, seconds_per_page: float | None) -> float | None:
    """Seconds until the listing ends at the pace seen, or None before a pace is known."""
    if crawl.listing_done:
        return 0.0
    if not seconds_per_page:
        return None
    left = max(crawl_expected_models() - crawl.records_read, 0)
    return left / settings.CRAWL_PAGE_SIZE * seconds_per_page


def crawl_run(
    *,
    client: HubClient | None = None,
    call_budget: int | None = None,
    resume_only: bool = False,
    page_size: int | None = None,
    on_progress: Callable[[CrawlProgress], None] | None = None,
) -> CrawlOutcome:
    """Work on the daily crawl: resume the unfinished one, or start the UTC day's.

    Pages on from the checkpoint under a call budget, staging each page with
    the cursor, and publishes the day once the listing ends. Running out of
    budget or quota, or a Hub that keeps failing, pauses the crawl for the
    next run. With `resume_only`, a run never starts a new crawl. Raises
    CrawlInProgress when another run holds the lease.
    """
    client = hub_client_for_run(
        client=client,
        call_budget=settings.CRAWL_CALL_BUDGET if call_budget is None else call_budget,
    )
    report = on_progress or (lambda progress: None)
    try:
        lease = lease_acquire(name=CRAWL_LEASE, ttl_seconds=settings.CRAWL_LEASE_SECONDS)
    except LeaseHeld as exc:
        raise CrawlInProgress(str(exc)) from exc

    crawl: Crawl | None = None
    calls_before = 0  # the crawl's calls before this run; this run's are the client's
    try:
        crawl = _crawl_to_work_on(now=timezone.now(), resume_only=resume_only)
        if crawl is None:
            return CrawlOutcome("idle", crawl_latest())
        calls_before = crawl.calls_used - client.calls_made
        crawl.runs += 1
        crawl.status = Crawl.Status.RUNNING
        crawl.error = ""
        crawl.updated_at = timezone.now()
        crawl.save(update_fields=["runs", "status", "error", "updated_at"])
        if not crawl.listing_done:
            _page_through(
                crawl=crawl,
                client=client,
                calls_before=calls_before,
                lease=lease,
                page_size=page_size or settings.CRAWL_PAGE_SIZE,
                report=report,
            )
        lease_renew(token=lease)
        report(_progress(crawl, "publishing", seconds_per_page=None))
        snapshot = crawl_publish(
            crawl=crawl, endpoint=client.endpoint, on_chunk=lambda: lease_renew(token=lease)
        )
        if snapshot is None:  # published meanwhile by a run that had taken the lease over
            crawl.refresh_from_db()
            return CrawlOutcome("idle", crawl)
        observe_skipped(snapshot=snapshot)
        logger.info(
            "crawl %s published as snapshot #%s: %d models, %d calls over %d run(s)",
            crawl.day,
            snapshot.pk,
            snapshot.models_seen,
            crawl.calls_used,
            crawl.runs,
        )
        return CrawlOutcome("published", crawl, snapshot)
    except BudgetExhausted as exc:
        _pause(crawl, client, calls_before, f"call budget spent ({exc}); the next run resumes")
    except _QuotaLow as exc:
        _pause(crawl, client, calls_before, f"{exc}; the next run resumes", resets_in=exc.resets_in)
    except RateLimited as exc:
        _pause(crawl, client, calls_before, f"rate limited: {exc}", resets_in=exc.wait_seconds)
    except (HubError, LeaseLost) as exc:
        _pause(crawl, client, calls_before, f"{type(exc).__name__}: {exc}")
    except BaseException as exc:
        # Whatever stopped it, the checkpoint is good: the next run resumes.
        _pause(crawl, client, calls_before, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        lease_release(token=lease)
        if crawl is not None:
            observe_crawl(crawl=crawl)
    return CrawlOutcome("paused", crawl)


def _crawl_to_work_on(*, now: datetime, resume_only: bool) -> Crawl | None:
    crawl = crawl_unfinished()
    if crawl is not None and now - crawl.started_at > timedelta(hours=settings.CRAWL_MAX_HOURS):
        crawl_give_up(
            crawl=crawl,
            reason=f"not published within CRAWL_MAX_HOURS ({settings.CRAWL_MAX_HOURS} h) "
            "of its start",
        )
        crawl = None
    if crawl is not None or resume_only:
        return crawl
    day = now.date()
    if Crawl.objects.filter(day=day, status=Crawl.Status.COMPLETE).exists():
        return None  # today's is published; tomorrow's starts at the first run after midnight
    return Crawl.objects.create(day=day, started_at=now, updated_at=now)


def crawl_give_up(*, crawl: Crawl, reason: str) -> None:
    """Mark a crawl failed and drop what it staged."""
    with transaction.atomic():
        CrawlPage.objects.filter(crawl=crawl).delete()
        crawl.status = Crawl.Status.FAILED
        crawl.error = reason[:2000]
        crawl.finished_at = crawl.updated_at = timezone.now()
        crawl.save(update_fields=["status", "error", "finished_at", "updated_at"])
    logger.warning("crawl %s given up: %s", crawl.day, reason)


def _pause(
    crawl: Crawl | None,
    client: HubClient,
    calls_before: int,
    reason: str,
    *,
    resets_in: float | None = None,
) -> None:
    if crawl is None:
        return
    logger.warning("crawl %s paused after %d pages: %s", crawl.day, crawl.pages_done, reason)
    now = timezone.now()
    # Calls spent on a page that was not staged (retries, the last attempt) too.
    crawl.calls_used = calls_before + client.calls_made
    _record_quota(crawl, client)
    if resets_in is not None:
        crawl.quota_resets_at = now + timedelta(seconds=resets_in)
    crawl.status = Crawl.Status.PAUSED
    crawl.error = reason[:2000]
    crawl.updated_at = now
    crawl.save(
        update_fields=[
            "status",
            "error",
            "updated_at",
            "calls_used",
            "quota_remaining",
            "quota_limit",
            "quota_resets_at",
        ]
    )


def _record_quota(crawl: Crawl, client: HubClient) -> None:
    limits = client.last_ratelimit
    if limits is not None:
        crawl.quota_remaining = limits.remaining
        crawl.quota_limit = limits.limit


def _progress(crawl: Crawl, phase: str, *, seconds_per_page: float | None) -> CrawlProgress:
    return CrawlProgress(
        phase=phase,
        pages_done=crawl.pages_done,
        records_staged=crawl.records_staged,
        calls_used=crawl.calls_used,
        quota_remaining=crawl.quota_remaining,
        eta_seconds=crawl_eta_seconds(crawl, seconds_per_page=seconds_per_page),
    )


def _page_through(
    *,
    crawl: Crawl,
    client: HubClient,
    calls_before: int,
    lease,
    page_size: int,
    report: Callable[[CrawlProgress], None],
) -> None:
    """Stage pages from the checkpoint to the end of the listing."""
    started = time.monotonic()
    pages_this_run = 0
    pages = client.iter_model_pages(
        sort=None, limit=page_size, expand=CRAWL_EXPAND, start_url=crawl.next_url or None
    )
    for page in pages:
        skipped = SkippedRecords.from_stored(crawl.skipped_reasons)
        good = []
        for raw in page.records:
            try:
                parse_hub_record(raw)
            except RecordError as exc:
                skipped.add_error(exc, raw)
                logger.warning("crawl: skipping an odd Hub record (%s): %s", exc.reason, exc)
                continue
            good.append(raw)
        with transaction.atomic():
            CrawlPage.objects.create(
                crawl=crawl, number=crawl.pages_done + 1, records=json.dumps(good), count=len(good)
            )
            crawl.pages_done += 1
            crawl.records_read += len(page.records)
            crawl.records_staged += len(good)
            crawl.records_skipped = skipped.total
            crawl.skipped_reasons = skipped.reasons
            crawl.next_url = page.next_url or ""
            crawl.listing_done = page.next_url is None
            crawl.calls_used = calls_before + client.calls_made
            _record_quota(crawl, client)
            crawl.updated_at = timezone.now()
            crawl.save()
        pages_this_run += 1
        lease_renew(token=lease)
        pace = (time.monotonic() - started) / pages_this_run
        report(_progress(crawl, "listing", seconds_per_page=pace))
        observe_crawl(crawl=crawl)
        if not crawl.listing_done:
            _keep_the_reserve(crawl, client, page.ratelimit, report)


def _keep_the_reserve(crawl: Crawl, client: HubClient, ratelimit, report) -> None:
    """Leave CRAWL_QUOTA_RESERVE calls of the window to the hourly refresh."""
    if ratelimit is None or ratelimit.remaining is None:
        return
    if ratelimit.remaining >= settings.CRAWL_QUOTA_RESERVE:
        return
    wait = float(ratelimit.reset_seconds or 0)
    if wait > client.max_wait:
        raise _QuotaLow(wait)
    if wait > 0:
        report(_progress(crawl, "waiting", seconds_per_page=None))
        logger.info("crawl: %d calls left in the window; waiting %.0fs", ratelimit.remaining, wait)
        client.sleep(wait)


# --- Publish --------------------------------------------------------------------


def crawl_publish(
    *, crawl: Crawl, endpoint: str = "", on_chunk: Callable[[], None] | None = None
) -> Snapshot | None:
    """Publish a crawl whose listing is done as one daily snapshot, atomically.

    In one transaction: the snapshot row, the catalog (new and changed
    models; tags and families of those), the day's rows of the daily table,
    the skip counts, and the staged pages deleted. Records are read back
    page by page and written `CRAWL_PUBLISH_CHUNK` at a time, so memory holds
    a chunk of records and the set of ids seen, not the whole Hub; `on_chunk`
    is called after each (the caller renews its lease there).

    The crawl's row is locked first: a second publisher (a run that took an
    expired lease over) waits for the first to commit, then finds the crawl
    complete and returns None.
    """
    now = timezone.now()
    with transaction.atomic(), cyclic_gc_paused():
        status = (
            Crawl.objects.select_for_update().filter(pk=crawl.pk).values_list("status", flat=True)
        )
        if status.first() not in UNFINISHED:
            return None
        snapshot = Snapshot.objects.create(
            status=Snapshot.Status.RUNNING,
            kind=Snapshot.Kind.DAILY,
            source=Snapshot.Source.HUB,
            source_name=(endpoint or settings.HF_ENDPOINT)[:300],
            taken_at=crawl.started_at,
            started_at=crawl.started_at,
            source_count=crawl.records_read,
            calls_used=crawl.calls_used,
            quota_remaining=crawl.quota_remaining,
            quota_limit=crawl.quota_limit,
            ttl_seconds=24 * 3600,
        )
        skipped = SkippedRecords.from_stored(crawl.skipped_reasons)
        seen: set[str] = set()
        chunk: dict[str, HubRecord] = {}
        texts = (
            CrawlPage.objects.filter(crawl=crawl)
            .order_by("number")
            .values_list("records", flat=True)
            .iterator(chunk_size=20)
        )
        for text in texts:
            for raw in json.loads(text):
                try:
                    record = parse_hub_record(raw)
                except RecordError as exc:  # staged well-formed; parsed again all the same
                    skipped.add_error(exc, raw)
                    continue
                if record.hub_id in seen:
                    skipped.add_duplicate(record.hub_id)
                    continue
                seen.add(record.hub_id)
                chunk[record.hub_id] = record
            if len(chunk) >= settings.CRAWL_PUBLISH_CHUNK:
                _publish_chunk(snapshot=snapshot, records=chunk)
                chunk = {}
                if on_chunk is not None:
                    on_chunk()
        _publish_chunk(snapshot=snapshot, records=chunk)

        snapshot.models_seen = len(seen)
        snapshot.records_skipped = skipped.total
        snapshot.skipped_reasons = skipped.reasons
        snapshot.error = skipped.summary()
        snapshot.status = Snapshot.Status.COMPLETE
        snapshot.finished_at = snapshot.published_at = timezone.now()
        snapshot.save()
        CrawlPage.objects.filter(crawl=crawl).delete()
        crawl.status = Crawl.Status.COMPLETE
        crawl.snapshot = snapshot
        crawl.records_skipped = skipped.total
        crawl.skipped_reasons = skipped.reasons
        crawl.error = ""
        crawl.finished_at = crawl.updated_at = now
        crawl.save()
        transaction.on_commit(lambda: content_changed(reason=f"daily crawl {crawl.day} published"))
    return snapshot


def _publish_chunk(*, snapshot: Snapshot, records: dict[str, HubRecord]) -> None:
    if not records:
        return
    ids, created, updated = upsert_catalog(records, seen_at=snapshot.taken_at)
    touched = [ids[hub_id] for hub_id in created] + list(updated)
    if touched:
        # Tags and families depend on catalog fields alone: redo them only
        # for the models this crawl created or changed.
        tags_apply(model_ids=touched)
        families_assign(model_ids=touched)
    daily_rows_write(
        snapshot=snapshot,
        rows=(
            (ids[hub_id], r.downloads, r.downloads_all_time, r.likes, r.trending_score)
            for hub_id, r in records.items()
        ),
    )
