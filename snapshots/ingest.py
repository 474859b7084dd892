"""Bulk writes of one snapshot's records: the catalog rows and the observations.

Every path that makes a snapshot (refresh, import, demo) ends here. The work is
a handful of set-based statements whatever the number of models: the catalog
is read once, new models are inserted in bulk, changed ones updated in bulk,
and observations are streamed with COPY on PostgreSQL (batched INSERTs
elsewhere). Nothing here saves a row at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models.functions import Lower

from registry.dimensions import license_class, param_class
from registry.models import HubModel, ProviderAlias
from registry.records import HubRecord

from .models import Observation, Snapshot

# Catalog fields a record may carry; an empty value in a record keeps what we
# had (a listing page does not carry what only the detail call returns).
CATALOG_FIELDS = (
    "author",
    "provider_id",
    "pipeline_tag",
    "library_name",
    "license",
    "license_class",
    "parameters",
    "param_class",
    "hub_tags",
    "base_models",
    "sha",
    "last_modified",
    "created_at",
    "private",
    "gated",
    "detail_version",
)
# Fields that always take the record's value, empty or not.
ALWAYS_FIELDS = frozenset({"private", "gated", "provider_id"})
# Derived from another field: recomputed after the merge.
DERIVED_FIELDS = frozenset({"license_class", "param_class"})

OBSERVATION_COLUMNS = (
    "snapshot_id",
    "model_id",
    "rank",
    "downloads",
    "downloads_all_time",
    "likes",
    "trending_score",
    "last_modified",
)

IN_CHUNK = 5000  # ids per `IN (…)`; well under SQLite's variable limit
BATCH = 2000


@dataclass(frozen=True)
class IngestResult:
    models_seen: int
    models_created: int
    models_updated: int


def record_version(record: HubRecord) -> str:
    """What identifies a model's revision: its sha, else its last modification."""
    if record.sha:
        return record.sha
    return record.last_modified.isoformat() if record.last_modified else ""


def dedupe_records(records: Iterable[HubRecord]) -> dict[str, HubRecord]:
    """One record per Hub id, the last one winning (pages can overlap)."""
    by_id: dict[str, HubRecord] = {}
    for record in records:
        by_id[record.hub_id] = record
    return by_id


def provider_alias_map() -> dict[str, int]:
    """Lower-cased Hub author → provider id, from the curated aliases."""
    return dict(ProviderAlias.objects.annotate(a=Lower("author")).values_list("a", "provider_id"))


def _catalog_values(record: HubRecord, aliases: dict[str, int]) -> dict:
    return {
        "author": record.author,
        "provider_id": aliases.get(record.author.lower()),
        "pipeline_tag": record.pipeline_tag,
        "library_name": record.library_name,
        "license": record.license,
        "parameters": record.parameters,
        "hub_tags": list(record.hub_tags),
        "base_models": [list(pair) for pair in record.base_models],
        "sha": record.sha,
        "last_modified": record.last_modified,
        "created_at": record.created_at,
        "private": record.private,
        "gated": record.gated,
        "detail_version": record_version(record) if record.has_detail else "",
    }


def _merge(old: dict, new: dict) -> dict:
    merged = {}
    for field in CATALOG_FIELDS:
        if field in DERIVED_FIELDS:
            continue
        value = new[field]
        keep_old = field not in ALWAYS_FIELDS and value in (None, "", [])
        merged[field] = old[field] if keep_old else value
    merged["license_class"] = license_class(merged["license"])
    merged["param_class"] = param_class(merged["parameters"])
    return merged


def existing_catalog(hub_ids: Sequence[str]) -> dict[str, dict]:
    """The catalog rows for these ids, as dicts keyed by Hub id (chunked reads)."""
    rows: dict[str, dict] = {}
    for start in range(0, len(hub_ids), IN_CHUNK):
        chunk = hub_ids[start : start + IN_CHUNK]
        for row in HubModel.objects.filter(hub_id__in=chunk).values(
            "id", "hub_id", *CATALOG_FIELDS
        ):
            rows[row["hub_id"]] = row
    return rows


def ranked(records: Iterable[HubRecord]) -> list[HubRecord]:
    """Records in rank order: 30-day downloads, then likes, then id; unknowns last."""
    return sorted(
        records,
        key=lambda r: (r.downloads is None, -(r.downloads or 0), -(r.likes or 0), r.hub_id),
    )


def upsert_catalog(
    records: dict[str, HubRecord], *, seen_at: datetime
) -> tuple[dict[str, int], int, int]:
    """Insert new models and update changed ones; return (Hub id → pk, created, updated)."""
    aliases = provider_alias_map()
    existing = existing_catalog(list(records))
    ids = {hub_id: row["id"] for hub_id, row in existing.items()}
    to_create: list[HubModel] = []
    to_update: list[HubModel] = []
    for hub_id, record in records.items():
        values = _catalog_values(record, aliases)
        old = existing.get(hub_id)
        if old is None:
            values["license_class"] = license_class(values["license"])
            values["param_class"] = param_class(values["parameters"])
            to_create.append(HubModel(hub_id=hub_id, first_seen_at=seen_at, **values))
            continue
        merged = _merge(old, values)
        if any(merged[f] != old[f] for f in CATALOG_FIELDS):
            to_update.append(HubModel(id=old["id"], hub_id=hub_id, **merged))
    created = HubModel.objects.bulk_create(to_create, batch_size=BATCH)
    ids.update((m.hub_id, m.pk) for m in created)
    if any(m.pk is None for m in created):  # backends that cannot return ids
        ids.update(existing_catalog_ids([m.hub_id for m in created]))
    if to_update:
        HubModel.objects.bulk_update(to_update, list(CATALOG_FIELDS), batch_size=500)
    return ids, len(to_create), len(to_update)


def existing_catalog_ids(hub_ids: Sequence[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for start in range(0, len(hub_ids), IN_CHUNK):
        chunk = hub_ids[start : start + IN_CHUNK]
        ids.update(HubModel.objects.filter(hub_id__in=chunk).values_list("hub_id", "id"))
    return ids


def insert_observations(snapshot: Snapshot, rows: list[tuple]) -> None:
    """Write observation rows (in OBSERVATION_COLUMNS order): COPY on PostgreSQL."""
    if connection.vendor == "postgresql":
        table = Observation._meta.db_table
        sql = f"COPY {table} ({', '.join(OBSERVATION_COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return
    Observation.objects.bulk_create(
        (Observation(**dict(zip(OBSERVATION_COLUMNS, row, strict=True))) for row in rows),
        batch_size=BATCH,
    )


def snapshot_ingest(
    *, snapshot: Snapshot, records: Iterable[HubRecord], seen_at: datetime
) -> IngestResult:
    """Write a snapshot's models and observations, ranked. Run inside a transaction.

    Duplicate ids keep their last record. Catalog rows change only where the
    record says something new; observations are written for every model.
    """
    by_id = dedupe_records(records)
    ids, created, updated = upsert_catalog(by_id, seen_at=seen_at)
    rows = [
        (
            snapshot.pk,
            ids[r.hub_id],
            position,
            r.downloads,
            r.downloads_all_time,
            r.likes,
            r.trending_score,
            r.last_modified,
        )
        for position, r in enumerate(ranked(by_id.values()), start=1)
    ]
    insert_observations(snapshot, rows)
    return IngestResult(models_seen=len(by_id), models_created=created, models_updated=updated)
