"""Bulk writes of one snapshot's records: the catalog rows and the observations.

Every path that makes a snapshot (refresh, import, demo) ends here. The work is
a handful of set-based statements whatever the number of models: the catalog
is read once, new models are inserted in bulk, changed ones updated in bulk,
and observations are written in bulk, their deltas and score components
included (computed here from one read of each baseline, `snapshots.deltas`,
and six sorts, `snapshots.scoring`), so publishing has no second pass over
them. Nothing here saves a row at a time.

A snapshot is 100k+ models written at once (`bench/ingest.py` times it), so
the PostgreSQL path keeps clear of the ORM's per-row machinery (a model
instance per row, an expression per field and row in `bulk_update`): catalog
rows travel as plain tuples, the catalog is read with one query taking all
the ids in one parameter, primary keys for new models are reserved from the
sequence in one more, new rows and observations are streamed with COPY, and
changed rows are COPYed into a temporary table and applied with one
`UPDATE … FROM`. The observations go into a fresh table that becomes the
snapshot's partition (`snapshots.partitions`). Other backends (SQLite, for
development and tests) take a generic path with the same results.

Memory stays bounded for a whole-Hub snapshot (a million models): the
catalog is compared and written a slice (CATALOG_CHUNK ids) at a time, and
observation rows are streamed to COPY as their score components are added.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter, itemgetter

import msgspec
from django.db import connection, transaction
from django.db.models.functions import Lower

from registry.dimensions import license_class, param_class
from registry.gcpause import cyclic_gc_paused
from registry.models import HubModel, ProviderAlias
from registry.records import HubRecord

from .deltas import DELTA_FIELDS, deltas_mark_computed, snapshot_baselines
from .models import Observation, Snapshot
from .partitions import observations_write
from .scoring import PERCENTILE_COLUMNS, components_mark_computed, iter_with_percentiles

# Catalog fields a record may carry; an empty value in a record keeps what we
# had (a listing page does not carry what only the detail call returns).
# Catalog values travel as tuples in this order (see `_catalog_values`); the
# two JSON fields come last so rows read from PostgreSQL can be sliced.
CATALOG_FIELDS = (
    "author",
    "provider_id",
    "pipeline_tag",
    "library_name",
    "license",
    "license_class",
    "parameters",
    "param_class",
    "sha",
    "last_modified",
    "created_at",
    "private",
    "gated",
    "detail_version",
    "hub_tags",
    "base_models",
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
    *DELTA_FIELDS,
    *PERCENTILE_COLUMNS,
)
# What a row holds before its score components are appended.
_BEFORE_PERCENTILES = OBSERVATION_COLUMNS[: -len(PERCENTILE_COLUMNS)]

IN_CHUNK = 5000  # ids per `IN (…)`; well under SQLite's variable limit
# Catalog rows compared at a time (each chunk is one read of the catalog).
CATALOG_CHUNK = 50_000
BATCH = 2000

_KEEP_IF_EMPTY = tuple(
    index
    for index, name in enumerate(CATALOG_FIELDS)
    if name not in ALWAYS_FIELDS and name not in DERIVED_FIELDS
)
_LICENSE = CATALOG_FIELDS.index("license")
_LICENSE_CLASS = CATALOG_FIELDS.index("license_class")
_PARAMETERS = CATALOG_FIELDS.index("parameters")
_PARAM_CLASS = CATALOG_FIELDS.index("param_class")
assert CATALOG_FIELDS[-2:] == ("hub_tags", "base_models")
_EMPTY = (None, "", [])
_COLUMNS = tuple(HubModel._meta.get_field(name).column for name in CATALOG_FIELDS)
# Changed catalog rows wait here, within the transaction, for one UPDATE … FROM.
_CHANGES_TABLE = "ingest_hubmodel_changes"


@dataclass(frozen=True)
class IngestResult:
    models_seen: int
    models_created: int
    models_updated: int
    # Primary keys of the models created or whose catalog row changed: what
    # depends on catalog fields alone (capability tags) needs redoing for them only.
    touched_model_ids: tuple[int, ...] = ()


def record_version(record: HubRecord) -> str:
    """What identifies a model's revision: its sha, else its last modification."""
    if record.sha:
        return record.sha
    return record.last_modified.isoformat() if record.last_modified else ""


# What `detail_version` says of a detail fetched for a record that has neither
# sha nor lastModified: not empty, which means "no detail fetched yet".
DETAIL_WITHOUT_VERSION = "-"


def detail_version(record: HubRecord) -> str:
    """What the catalog's `detail_version` holds once this record's detail is fetched.

    The record's version, or `DETAIL_WITHOUT_VERSION` when it has none, so
    that a detail deferred (the catalog's "") is still told from one fetched.
    """
    return record_version(record) or DETAIL_WITHOUT_VERSION


def dedupe_records(records: Iterable[HubRecord]) -> dict[str, HubRecord]:
    """One record per Hub id, the last one winning (pages can overlap)."""
    by_id: dict[str, HubRecord] = {}
    for record in records:
        by_id[record.hub_id] = record
    return by_id


def provider_alias_map() -> dict[str, int]:
    """Lower-cased Hub author → provider id, from the curated aliases."""
    return dict(ProviderAlias.objects.annotate(a=Lower("author")).values_list("a", "provider_id"))


def _catalog_values(record: HubRecord, aliases: dict[str, int]) -> tuple:
    """The record's catalog values in CATALOG_FIELDS order, derived fields included."""
    return (
        record.author,
        aliases.get(record.author.lower()),
        record.pipeline_tag,
        record.library_name,
        record.license,
        license_class(record.license),
        record.parameters,
        param_class(record.parameters),
        record.sha,
        record.last_modified,
        record.created_at,
        record.private,
        record.gated,
        detail_version(record) if record.has_detail else "",
        list(record.hub_tags),
        [list(pair) for pair in record.base_models],
    )


def _merge(old: tuple, new: tuple) -> tuple:
    """What a catalog row becomes: the record's values, but an empty one keeps the old."""
    merged = list(new)
    for index in _KEEP_IF_EMPTY:
        if new[index] in _EMPTY:
            merged[index] = old[index]
    merged[_LICENSE_CLASS] = license_class(merged[_LICENSE])
    merged[_PARAM_CLASS] = param_class(merged[_PARAMETERS])
    return tuple(merged)


def lookup_catalog(hub_ids: Sequence[str]) -> tuple[dict[str, tuple[int, tuple]], list[int]]:
    """The catalog rows for these ids, and primary keys for the ids not in it.

    Returns (Hub id → (pk, catalog values), reserved keys). Keys are reserved
    on PostgreSQL only, one per new id, ascending; elsewhere the list is
    empty and the database numbers new rows as it inserts them.
    """
    if connection.vendor == "postgresql":
        return _lookup_catalog_postgresql(hub_ids)
    rows: dict[str, tuple[int, tuple]] = {}
    for start in range(0, len(hub_ids), IN_CHUNK):
        chunk = hub_ids[start : start + IN_CHUNK]
        for pk, hub_id, *values in HubModel.objects.filter(hub_id__in=chunk).values_list(
            "id", "hub_id", *CATALOG_FIELDS
        ):
            rows[hub_id] = (pk, tuple(values))
    return rows, []


def _lookup_catalog_postgresql(
    hub_ids: Sequence[str],
) -> tuple[dict[str, tuple[int, tuple]], list[int]]:
    # The ids travel as one text parameter split on the server: psycopg
    # adapts a list parameter element by element in Python (~0.2 s for 100k
    # ids), and Hub ids hold no whitespace (registry.records refuses them).
    # `= ANY` over the split array is hashed, and a scan of the catalog with
    # it is cheaper than joining an unnest() of the ids, which spills to disk
    # at the default work_mem. Plain rows rather than a queryset.
    table = HubModel._meta.db_table
    joined = "\n".join(hub_ids)
    if joined.count("\n") == len(hub_ids) - 1:
        wanted, param = "string_to_array(%s, E'\\n')", joined
    else:  # not from parse_hub_record: keep every id whole
        wanted, param = "%s::text[]", list(hub_ids)
    sql = (
        f"SELECT m.hub_id, m.id, {', '.join(f'm.{column}' for column in _COLUMNS)} "
        f"FROM {table} AS m WHERE m.hub_id = ANY({wanted})"
    )
    with connection.cursor() as cursor:
        # Django reads timestamptz with a loader written in Python (to pin the
        # tzinfo); psycopg's own, in C, is several times faster and gives
        # equal aware datetimes. Only this cursor uses it.
        cursor.cursor.adapters.register_loader("timestamptz", _c_timestamptz_loader())
        cursor.execute(sql, [param])
        fetched = cursor.fetchall()
        # New models take primary keys from the table's own sequence now, so
        # they can be COPYed with them and nothing is read back.
        reserved: list[int] = []
        if len(fetched) < len(hub_ids):
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, len(hub_ids) - len(fetched)],
            )
            reserved = sorted(row[0] for row in cursor.fetchall())
    # jsonb's text is plain JSON (no NaN, no lone surrogate): msgspec reads
    # it exactly as json would, several times faster.
    loads = msgspec.json.decode
    rows: dict[str, tuple[int, tuple]] = {}
    for row in fetched:
        # jsonb comes as text (as Django reads it); most base_models are empty.
        tags, bases = row[-2], row[-1]
        rows[row[0]] = (
            row[1],
            row[2:-2] + (loads(tags), [] if bases == "[]" else loads(bases)),
        )
    return rows, reserved


def _c_timestamptz_loader() -> type:
    import psycopg

    oid = psycopg.postgres.types["timestamptz"].oid
    return psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT)


def ranked(records: Iterable[HubRecord]) -> list[HubRecord]:
    """Records in rank order: 30-day downloads, then likes, then id; unknowns last."""
    # By id, then (a stable sort) by the figures: cheaper than one key tuple
    # with the id in it per record.
    by_id = sorted(records, key=attrgetter("hub_id"))
    by_id.sort(key=lambda r: (r.downloads is None, -(r.downloads or 0), -(r.likes or 0)))
    return by_id


def upsert_catalog(
    records: dict[str, HubRecord], *, seen_at: datetime
) -> tuple[dict[str, int], list[str], list[int]]:
    """Insert new models and update changed ones.

    Returns (Hub id → pk for every record, Hub ids created, pks updated).
    """
    aliases = provider_alias_map()
    hub_ids = list(records)
    ids: dict[str, int] = {}
    created: list[str] = []
    updated: list[int] = []
    # A slice of the catalog at a time, its new and changed rows written
    # before the next is read: a million catalog rows read back or about to
    # be written, as Python values, would take over a gigabyte.
    for start in range(0, len(hub_ids), CATALOG_CHUNK):
        chunk = hub_ids[start : start + CATALOG_CHUNK]
        existing, reserved_pks = lookup_catalog(chunk)
        to_create: list[tuple[str, tuple]] = []
        to_update: list[tuple[int, tuple]] = []
        for hub_id in chunk:
            values = _catalog_values(records[hub_id], aliases)
            found = existing.get(hub_id)
            if found is None:
                to_create.append((hub_id, values))
                continue
            pk, old = found
            ids[hub_id] = pk
            if values == old:  # the usual case: nothing new about this model
                continue
            merged = _merge(old, values)
            if merged != old:
                to_update.append((pk, merged))
        del existing
        if connection.vendor == "postgresql":
            ids.update(_create_models_postgresql(to_create, pks=reserved_pks, seen_at=seen_at))
            _update_models_postgresql(to_update)
        else:
            ids.update(_create_models(to_create, seen_at=seen_at))
            _update_models(to_update)
        created.extend(hub_id for hub_id, _ in to_create)
        updated.extend(pk for pk, _ in to_update)
    return ids, created, updated


# --- PostgreSQL -------------------------------------------------------------


def _copy_row(values: tuple) -> tuple:
    # COPY takes JSON as its text; psycopg would send a list as an array.
    tags, bases = values[-2], values[-1]
    return (*values[:-2], json.dumps(tags), json.dumps(bases) if bases else "[]")


def _create_models_postgresql(
    rows: list[tuple[str, tuple]], *, pks: list[int], seen_at: datetime
) -> dict[str, int]:
    """COPY new catalog rows with the primary keys `lookup_catalog` reserved for them."""
    if not rows:
        return {}
    ids = dict(zip((hub_id for hub_id, _ in rows), pks, strict=True))
    table = HubModel._meta.db_table
    sql = f"COPY {table} (id, hub_id, first_seen_at, {', '.join(_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        # In Hub id order the two hub_id indexes fill from one end instead of
        # at random places; it made a 100k-model first import's COPY ~20% cheaper.
        for hub_id, values in sorted(rows, key=itemgetter(0)):
            copy.write_row((ids[hub_id], hub_id, seen_at, *_copy_row(values)))
    return ids


def _update_models_postgresql(rows: list[tuple[int, tuple]]) -> None:
    if not rows:
        return
    table = HubModel._meta.db_table
    columns = ", ".join(_COLUMNS)
    assignments = ", ".join(f"{column} = c.{column}" for column in _COLUMNS)
    with connection.cursor() as cursor:
        # The catalog's column types without its constraints and indexes.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_CHANGES_TABLE} AS "
            f"SELECT id, {columns} FROM {table} WITH NO DATA"
        )
        with cursor.copy(f"COPY {_CHANGES_TABLE} (id, {columns}) FROM STDIN") as copy:
            for pk, values in rows:
                copy.write_row((pk, *_copy_row(values)))
        cursor.execute(
            f"UPDATE {table} AS m SET {assignments} FROM {_CHANGES_TABLE} AS c WHERE m.id = c.id"
        )
        # Dropped now rather than at commit: one transaction may ingest twice.
        cursor.execute(f"DROP TABLE {_CHANGES_TABLE}")


def _insert_observations_postgresql(snapshot: Snapshot, rows: Iterable[tuple]) -> None:
    # Into a partition of its own, loaded and indexed before it is attached.
    types = [Observation._meta.get_field(c).db_type(connection) for c in OBSERVATION_COLUMNS]
    observations_write(snapshot_id=snapshot.pk, columns=OBSERVATION_COLUMNS, types=types, rows=rows)


# --- Other backends -----------------------------------------------------------


def _create_models(rows: list[tuple[str, tuple]], *, seen_at: datetime) -> dict[str, int]:
    created = HubModel.objects.bulk_create(
        (
            HubModel(
                hub_id=hub_id,
                first_seen_at=seen_at,
                **dict(zip(CATALOG_FIELDS, values, strict=True)),
            )
            for hub_id, values in rows
        ),
        batch_size=BATCH,
    )
    ids = {m.hub_id: m.pk for m in created}
    if any(m.pk is None for m in created):  # backends that cannot return ids
        ids.update(existing_catalog_ids([m.hub_id for m in created]))
    return ids


def _update_models(rows: list[tuple[int, tuple]]) -> None:
    # One statement run for every row: `bulk_update` would build a CASE WHEN
    # per field and row, which takes seconds per thousand rows.
    if not rows:
        return
    fields = [HubModel._meta.get_field(name) for name in CATALOG_FIELDS]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(HubModel._meta.db_table)} "
        f"SET {', '.join(f'{quote(f.column)} = %s' for f in fields)} WHERE {quote('id')} = %s"
    )
    params = [
        [f.get_db_prep_save(value, connection) for f, value in zip(fields, values, strict=True)]
        + [pk]
        for pk, values in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def existing_catalog_ids(hub_ids: Sequence[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for start in range(0, len(hub_ids), IN_CHUNK):
        chunk = hub_ids[start : start + IN_CHUNK]
        ids.update(HubModel.objects.filter(hub_id__in=chunk).values_list("hub_id", "id"))
    return ids


# --- Observations and the whole -------------------------------------------------


def insert_observations(snapshot: Snapshot, rows: Iterable[tuple]) -> None:
    """Write observation rows (in OBSERVATION_COLUMNS order): COPY on PostgreSQL."""
    if connection.vendor == "postgresql":
        _insert_observations_postgresql(snapshot, rows)
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
    record says something new; observations are written for every model,
    with their deltas against the snapshot's baselines as they stand now
    (the snapshot's `baseline_24h`, `baseline_7d` and `deltas_computed_at`
    are saved too), exactly as `snapshots.deltas.snapshot_compute_deltas`
    would compute them afterwards, and the score components
    (`snapshots.scoring.with_percentiles`; `components_computed_at` saved).
    """
    # The atomic block joins the caller's transaction without a savepoint;
    # called outside one, the ingest still writes all or nothing.
    with cyclic_gc_paused(), transaction.atomic(savepoint=False):
        by_id = dedupe_records(records)
        ids, created, updated = upsert_catalog(by_id, seen_at=seen_at)
        baselines = snapshot_baselines(snapshot=snapshot)
        figures = baselines.figures
        rows = []
        append = rows.append
        for position, r in enumerate(ranked(by_id.values()), start=1):
            model_id = ids[r.hub_id]
            downloads, likes, all_time = r.downloads, r.likes, r.downloads_all_time
            append(
                (
                    snapshot.pk,
                    model_id,
                    position,
                    downloads,
                    all_time,
                    likes,
                    r.trending_score,
                    r.last_modified,
                    *figures(model_id, position, downloads, likes, all_time),
                )
            )
        # The baselines' figures are in the rows now: freed before the
        # components' sorts (a million entries for the whole Hub).
        baselines.day_figures.clear()
        baselines.week_figures.clear()
        # Streamed to the database as the components are appended.
        insert_observations(snapshot, iter_with_percentiles(rows, _BEFORE_PERCENTILES))
        del rows
        deltas_mark_computed(snapshot=snapshot, baselines=baselines)
        components_mark_computed(snapshot=snapshot)
    return IngestResult(
        models_seen=len(by_id),
        models_created=len(created),
        models_updated=len(updated),
        touched_model_ids=(*(ids[hub_id] for hub_id in created), *updated),
    )
