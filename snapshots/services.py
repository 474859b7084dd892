"""Writes that make snapshots: refresh from the Hub, import from archives, publish."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry.archive import ArchiveFile
from registry.caching import content_changed
from registry.families import families_assign
from registry.gcpause import cyclic_gc_paused
from registry.hub import BudgetExhausted, CallBudget, HubClient, HubError, ModelNotFound
from registry.metrics import observe_refresh
from registry.models import HubModel
from registry.records import HubRecord, RecordError, parse_hub_record
from tagging.services import tags_apply
from webhooks.models import EventType
from webhooks.services import events_publish

from .anomalies import anomalies_detect, anomalies_recompute_after, anomaly_events
from .daily import daily_history_from_snapshot
from .deltas import snapshot_compute_deltas, snapshots_recompute_after
from .hot_tier import Listing, hot_tier_listings, watched_model_ids
from .ingest import IN_CHUNK, detail_version, snapshot_ingest
from .leases import LeaseHeld, LeaseLost, lease_acquire, lease_release, lease_renew
from .models import Observation, Snapshot
from .rollups import family_rollups_compute
from .scoring import snapshot_compute_components
from .selectors import snapshot_completed_facts
from .skips import SkippedRecords

logger = logging.getLogger("modelboard.refresh")

REFRESH_LEASE = "refresh"

# Listing pages carry the metrics and what tells us a model changed; the
# detail call adds what only it has (card data, safetensors parameter count).
LISTING_EXPAND = (
    "author",
    "downloads",
    "downloadsAllTime",
    "likes",
    "trendingScore",
    "lastModified",
    "createdAt",
    "sha",
    "tags",
    "pipeline_tag",
    "library_name",
    "private",
    "gated",
)
DETAIL_EXPAND = ("cardData", "safetensors", "tags", "sha", "lastModified", "library_name")


def snapshot_publish(*, snapshot: Snapshot, touched_model_ids: Sequence[int] | None = None) -> None:
    """Make a snapshot visible to readers.

    Call it inside the transaction that wrote the snapshot's observations:
    the status flips in the same commit, so readers see all of it or none.
    Deltas and capability tags are settled first, in the same transaction,
    so a published snapshot always has them. Ingest stores the deltas as it
    writes (`deltas_computed_at` set): they are computed here only if not.

    Tags depend on catalog fields alone, so only `touched_model_ids` (the
    models the ingest created or changed, `IngestResult.touched_model_ids`)
    get theirs decided again; None means every model of the snapshot.
    Curators' rule changes re-apply to every model from the admin.

    Families follow the same rule (registry.families), and the snapshot's
    family rollups are written here (snapshots.rollups).

    The snapshot.completed webhook event is written to the outbox here too,
    so the event exists if and only if the published snapshot does.
    Score components are stored by ingest too (computed here only if not),
    and once the snapshot counts as complete, the anomalies of its day are
    detected (`snapshots.anomalies`) and each new one is written to the
    outbox as a model.anomaly event.

    The snapshot's observations are written into the daily history of its
    UTC day here too (`snapshots.daily`: each model's latest sighting of the
    day, with its true daily downloads).
    """
    if snapshot.deltas_computed_at is None:
        snapshot_compute_deltas(snapshot=snapshot)
    # A first import decides the tags of 100k models: hold off the cycle
    # collector, as ingest does.
    with cyclic_gc_paused():
        if touched_model_ids is None:
            tags_apply(model_ids=Observation.objects.filter(snapshot=snapshot).values("model_id"))
        elif touched_model_ids:
            tags_apply(model_ids=touched_model_ids)
        # Families, like tags, depend on catalog fields alone; the rollups
        # then sum this snapshot's figures over them.
        if touched_model_ids is None:
            families_assign(
                model_ids=Observation.objects.filter(snapshot=snapshot).values_list(
                    "model_id", flat=True
                )
            )
        elif touched_model_ids:
            families_assign(model_ids=touched_model_ids)
        family_rollups_compute(snapshot=snapshot)
    daily_history_from_snapshot(snapshot=snapshot)
    now = timezone.now()
    snapshot.status = Snapshot.Status.COMPLETE
    snapshot.published_at = now
    snapshot.finished_at = snapshot.finished_at or now
    snapshot.save(update_fields=["status", "published_at", "finished_at"])
    events_publish(
        type=EventType.SNAPSHOT_COMPLETED, data=snapshot_completed_facts(snapshot=snapshot)
    )
    if snapshot.components_computed_at is None:
        snapshot_compute_components(snapshot=snapshot)
    anomalies_detect(snapshot=snapshot)
    # One model.anomaly event per public anomaly first found by this
    # snapshot, in the same commit as the anomaly rows.
    for item in anomaly_events(snapshot):
        events_publish(
            type=EventType.MODEL_ANOMALY, data={"anomaly_id": item["id"], **item["data"]}
        )
    transaction.on_commit(lambda: content_changed(reason=f"snapshot {snapshot.pk} published"))


# --- Import ---------------------------------------------------------------


def snapshot_record(
    *,
    source: str,
    source_name: str,
    taken_at: datetime,
    records: Sequence[HubRecord],
    digest: str = "",
) -> Snapshot:
    """Write records taken at `taken_at` as one complete snapshot, atomically.

    For sources that hand over a whole snapshot at once (archives, the demo):
    the snapshot row, the catalog, the observations and the publish commit
    together or not at all.
    """
    started = timezone.now()
    with transaction.atomic():
        snapshot = Snapshot.objects.create(
            status=Snapshot.Status.RUNNING,
            source=source,
            source_name=source_name[:300],
            source_digest=digest,
            taken_at=taken_at,
            started_at=started,
            source_count=len(records),
            ttl_seconds=settings.REFRESH_EVERY_MINUTES * 60,
        )
        result = snapshot_ingest(snapshot=snapshot, records=records, seen_at=taken_at)
        snapshot.models_seen = result.models_seen
        snapshot.finished_at = timezone.now()
        snapshot.save(update_fields=["models_seen", "finished_at"])
        snapshot_publish(snapshot=snapshot, touched_model_ids=result.touched_model_ids)
    return snapshot


@dataclass(frozen=True)
class ImportOutcome:
    snapshot: Snapshot
    created: bool


def snapshot_import(
    *, archive: ArchiveFile, records: Sequence[HubRecord], taken_at: datetime
) -> ImportOutcome:
    """Import one validated archive file as a complete snapshot.

    Idempotent: a file already imported (the same bytes) returns its snapshot
    and writes nothing.
    """
    existing = Snapshot.objects.filter(source_digest=archive.digest).first()
    if existing is not None:
        return ImportOutcome(snapshot=existing, created=False)
    try:
        snapshot = snapshot_record(
            source=Snapshot.Source.ARCHIVE,
            source_name=archive.path.name,
            taken_at=taken_at,
            records=records,
            digest=archive.digest,
        )
    except IntegrityError:
        # Imported concurrently by someone else since we looked.
        existing = Snapshot.objects.filter(source_digest=archive.digest).first()
        if existing is None:
            raise
        return ImportOutcome(snapshot=existing, created=False)
    # An archive older than snapshots already published may be their
    # baseline: their deltas were computed without it; and the days after
    # it judged their anomalies against a history that lacked it.
    snapshots_recompute_after(snapshot=snapshot)
    anomalies_recompute_after(snapshot=snapshot)
    return ImportOutcome(snapshot=snapshot, created=True)


# --- Refresh --------------------------------------------------------------


class RefreshInProgress(Exception):
    """Another refresh holds the lease."""


@dataclass
class RefreshProgress:
    """What a running refresh reports after each page and each detail batch."""

    phase: str  # "listing" | "details" | "writing"
    models: int
    calls_used: int
    details_total: int = 0
    details_done: int = 0


def hub_client_from_settings(*, budget: CallBudget) -> HubClient:
    return HubClient(
        endpoint=settings.HF_ENDPOINT,
        token=settings.HF_TOKEN or None,
        budget=budget,
        timeout=(settings.HUB_TIMEOUT_CONNECT, settings.HUB_TIMEOUT_READ),
        max_retries=settings.HUB_MAX_RETRIES,
        max_wait=settings.HUB_MAX_WAIT_SECONDS,
    )


def hub_client_for_run(*, client: HubClient | None, call_budget: int | None) -> HubClient:
    """The Hub client a run uses, under a fresh call budget of its own.

    The given client (tests, the demo, benches) or one from settings.
    """
    budget = CallBudget(call_budget)
    if client is None:
        return hub_client_from_settings(budget=budget)
    client.budget = budget
    return client


def _abandon_stale_runs(*, now: datetime) -> int:
    """Runs left `running` by a worker that died: record them as failed."""
    return Snapshot.objects.filter(
        source=Snapshot.Source.HUB, status=Snapshot.Status.RUNNING
    ).update(
        status=Snapshot.Status.FAILED,
        finished_at=now,
        error="abandoned: the run stopped without finishing (its worker died or was killed)",
    )


def _detail_versions(hub_ids: list[str]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for start in range(0, len(hub_ids), IN_CHUNK):
        chunk = hub_ids[start : start + IN_CHUNK]
        versions.update(
            HubModel.objects.filter(hub_id__in=chunk).values_list("hub_id", "detail_version")
        )
    return versions


def snapshot_refresh(
    *,
    client: HubClient | None = None,
    call_budget: int | None = None,
    max_models: int | None = None,
    page_size: int | None = None,
    sort: str | None = None,
    on_progress: Callable[[RefreshProgress], None] | None = None,
) -> Snapshot:
    """Take a snapshot of the Hub's hot tier and publish it if it completes.

    Reads the hot tier's listings (`snapshots.hot_tier`: top `max_models` by
    downloads and by trending score, models created in the last days; `sort`
    asks for one listing in that order instead) under a call budget, fetches detail only for
    models that are new or changed since their last detail, then writes and
    publishes everything in one transaction. Running out of budget while
    listing leaves the snapshot `partial`, and a Hub that keeps failing leaves
    it `failed`; either way the previous complete snapshot keeps serving.
    Running out while fetching details defers the rest to the next refresh.
    An odd record (one the database could not store) is left out and
    counted on the snapshot (`records_skipped`, `skipped_reasons`); the rest
    is published. Raises RefreshInProgress if another refresh holds the lease.
    """
    budget_limit = settings.REFRESH_CALL_BUDGET if call_budget is None else call_budget
    client = hub_client_for_run(client=client, call_budget=budget_limit)
    try:
        lease = lease_acquire(name=REFRESH_LEASE, ttl_seconds=settings.REFRESH_LEASE_SECONDS)
    except LeaseHeld as exc:
        raise RefreshInProgress(str(exc)) from exc

    started_clock = time.monotonic()
    snapshot: Snapshot | None = None
    try:
        now = timezone.now()
        abandoned = _abandon_stale_runs(now=now)
        if abandoned:
            logger.warning("marked %d abandoned refresh run(s) as failed", abandoned)
        snapshot = Snapshot.objects.create(
            status=Snapshot.Status.RUNNING,
            source=Snapshot.Source.HUB,
            source_name=client.endpoint,
            taken_at=now,
            started_at=now,
            call_budget=budget_limit,
            ttl_seconds=settings.REFRESH_EVERY_MINUTES * 60,
        )
        _run_refresh(
            snapshot=snapshot,
            client=client,
            lease=lease,
            listings=hot_tier_listings(now=now, size=max_models, sort=sort),
            page_size=page_size or settings.REFRESH_PAGE_SIZE,
            on_progress=on_progress or (lambda progress: None),
        )
    except BudgetExhausted as exc:
        _close_run(snapshot, client, Snapshot.Status.PARTIAL, f"call budget exhausted: {exc}")
    except (HubError, LeaseLost) as exc:
        _close_run(snapshot, client, Snapshot.Status.FAILED, f"{type(exc).__name__}: {exc}")
    except BaseException as exc:
        _close_run(snapshot, client, Snapshot.Status.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        lease_release(token=lease)
    assert snapshot is not None
    observe_refresh(snapshot=snapshot)  # /metrics: duration, upstream calls, quota
    logger.info(
        "refresh #%s %s: %d models, %d calls, %.1fs",
        snapshot.pk,
        snapshot.status,
        snapshot.models_seen,
        snapshot.calls_used,
        time.monotonic() - started_clock,
    )
    return snapshot


def _close_run(snapshot: Snapshot | None, client: HubClient, status: str, error: str) -> None:
    if snapshot is None:
        return
    logger.warning("refresh #%s %s: %s", snapshot.pk, status, error)
    snapshot.status = status
    snapshot.error = error[:2000]
    snapshot.finished_at = timezone.now()
    _record_calls(snapshot, client)
    snapshot.save(
        update_fields=[
            "status",
            "error",
            "finished_at",
            "calls_used",
            "quota_remaining",
            "quota_limit",
            "models_seen",
            "source_count",
        ]
    )


def _record_calls(snapshot: Snapshot, client: HubClient) -> None:
    snapshot.calls_used = client.calls_made
    limits = client.last_ratelimit
    if limits is not None:
        snapshot.quota_remaining = limits.remaining
        snapshot.quota_limit = limits.limit


def _read_listings(
    *,
    snapshot: Snapshot,
    client: HubClient,
    lease,
    listings: Sequence[Listing],
    page_size: int,
    skipped: SkippedRecords,
    on_progress: Callable[[RefreshProgress], None],
) -> tuple[dict[str, dict], dict[str, HubRecord]]:
    """Read the hot tier's listings into one record per model.

    A model in several listings is kept once (the latest read). An odd
    record is counted on `skipped` and left out; so is a model listed twice
    by the same listing (pages that overlap).
    """
    raw_by_id: dict[str, dict] = {}
    records: dict[str, HubRecord] = {}
    for listing in listings:
        limit = page_size if listing.max_models is None else min(page_size, listing.max_models)
        in_listing: set[str] = set()
        for page in client.iter_model_pages(
            sort=listing.sort, limit=limit, expand=LISTING_EXPAND, max_models=listing.max_models
        ):
            lease_renew(token=lease)
            older = False
            for raw in page.records:
                snapshot.source_count += 1
                try:
                    record = parse_hub_record(raw)
                except RecordError as exc:
                    skipped.add_error(exc, raw)
                    logger.warning("skipping an odd Hub record (%s): %s", exc.reason, exc)
                    continue
                if listing.created_since is not None and (
                    record.created_at is None or record.created_at < listing.created_since
                ):
                    older = True  # newest first: the rest of the listing is older still
                    break
                if record.hub_id in in_listing:
                    skipped.add_duplicate(record.hub_id)
                    continue
                in_listing.add(record.hub_id)
                raw_by_id[record.hub_id] = raw
                records[record.hub_id] = record
            snapshot.models_seen = len(records)
            on_progress(RefreshProgress("listing", len(records), client.calls_made))
            if older:
                break
    return raw_by_id, records


def _run_refresh(
    *,
    snapshot: Snapshot,
    client: HubClient,
    lease,
    listings: Sequence[Listing],
    page_size: int,
    on_progress: Callable[[RefreshProgress], None],
) -> None:
    skipped = SkippedRecords()
    raw_by_id, records = _read_listings(
        snapshot=snapshot,
        client=client,
        lease=lease,
        listings=listings,
        page_size=page_size,
        skipped=skipped,
        on_progress=on_progress,
    )
    # Watched models are fetched whatever their rank (none until watchlists exist).
    watched = [hub_id for hub_id in watched_model_ids() if hub_id not in records]

    versions = _detail_versions(list(records))
    # A detail fetched is marked even for a record with neither sha nor
    # lastModified (`detail_version`), so one deferred is fetched next time.
    stale = [r.hub_id for r in records.values() if versions.get(r.hub_id) != detail_version(r)]
    stale += watched
    fetched = 0
    for position, hub_id in enumerate(stale):
        try:
            detail = client.model_info(hub_id, expand=DETAIL_EXPAND)
        except BudgetExhausted:
            break
        except ModelNotFound:
            continue  # gone between the listing and now: keep what the listing said
        except HubError as exc:
            logger.warning("detail for %s failed, deferring the rest: %s", hub_id, exc)
            break
        try:
            # A model without a card or safetensors still had its detail
            # fetched: say so, or it would be fetched again on every run.
            records[hub_id] = parse_hub_record(
                {**raw_by_id.get(hub_id, {}), "cardData": None, **detail}
            )
        except RecordError as exc:
            skipped.add_error(exc, detail)
            records.pop(hub_id, None)  # what the database cannot store stays out
            logger.warning("skipping an odd detail for %s (%s): %s", hub_id, exc.reason, exc)
            continue
        fetched += 1
        if position % 25 == 24:
            lease_renew(token=lease)
            on_progress(
                RefreshProgress("details", len(records), client.calls_made, len(stale), fetched)
            )
    snapshot.details_fetched = fetched
    snapshot.details_deferred = len(stale) - fetched
    on_progress(RefreshProgress("writing", len(records), client.calls_made, len(stale), fetched))

    lease_renew(token=lease)
    with transaction.atomic():
        result = snapshot_ingest(
            snapshot=snapshot, records=records.values(), seen_at=snapshot.taken_at
        )
        snapshot.models_seen = result.models_seen
        snapshot.finished_at = timezone.now()
        _record_calls(snapshot, client)
        snapshot.records_skipped = skipped.total
        snapshot.skipped_reasons = skipped.reasons
        if skipped.total:
            snapshot.error = skipped.summary()
        snapshot.save()
        snapshot_publish(snapshot=snapshot, touched_model_ids=result.touched_model_ids)
