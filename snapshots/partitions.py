"""Observations on PostgreSQL: one partition per snapshot, loaded whole, dropped whole.

`snapshots_observation` is a table partitioned by LIST (snapshot_id) there
(migration 0009); other backends keep a plain table behind the same model.

Why a partition per snapshot rather than per day: a snapshot is the unit
every write and every retirement deals in. It is written at once, in one
transaction, and published atomically; it is retired at once when it leaves
the retention window; a deleted snapshot takes exactly its rows along. With
a partition per snapshot each of these is one DDL statement on one table,
and a new snapshot never writes into a table readers are using (a day
partition would take 24 hourly loads into a live, indexed table, and
retiring one snapshot of a day would be a DELETE again). Readers always name
the snapshot (`snapshot_id = …`), so they touch a single partition; a model's
history across snapshots probes each partition's primary key, which leads
with the model. At the default retention (30 days of hourly hot-tier
snapshots) that is ~720 partitions, well within what PostgreSQL plans fast.

Loading (`observations_write`): the rows are COPYed in binary into a fresh
standalone table with no index and no foreign key (so no per-row index
upkeep and no per-row trigger queued for the commit), carrying a CHECK that
matches the partition bound from the start; then its primary key and rank
index are built in one sort each, and `ATTACH PARTITION` makes it part of
the table: the CHECK lets PostgreSQL skip the scan that proves the rows
belong, the indexes are adopted as partitions of the parent's, and the
foreign keys are cloned and validated with one set-based join each. All of
it is DDL inside the publishing transaction, so a rollback or a killed
process leaves no table, no partition and no row behind.

A DEFAULT partition takes rows written any other way (the ORM's `create`,
`bulk_create`, a second write to a snapshot that already has its partition).
It is normally empty; retirement clears a snapshot's rows there too.

Retiring (`observations_retire`) drops the snapshot's partition: no batched
DELETE, no dead rows, no vacuum.

Locks. ATTACH takes SHARE UPDATE EXCLUSIVE on the table (readers go on) and
ACCESS EXCLUSIVE on the default partition, both until the publishing
transaction ends: a statement that names its snapshot (every page and API
read: `snapshot_id = …` or `IN (…)`, pruned when planned) never touches the
default partition and does not wait, but one that scans every partition
(`EXISTS` over any snapshot's rows, as baseline look-ups do) waits for the
publish to commit, and two snapshots published at once take turns at the
attach. DROP of a partition locks the table briefly, in a transaction of its
own per snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection

from .models import Observation

TABLE = Observation._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"


def is_partitioned() -> bool:
    """Whether observations are stored partitioned (PostgreSQL)."""
    return connection.vendor == "postgresql"


def partition_name(snapshot_id: int) -> str:
    return f"{TABLE}_s{int(snapshot_id)}"


def _has_rows_elsewhere(cursor, snapshot_id: int) -> bool:
    """Whether the snapshot already has a partition, or rows in the default one."""
    cursor.execute(
        f"SELECT to_regclass(%s) IS NOT NULL "
        f"OR EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE snapshot_id = %s)",
        [partition_name(snapshot_id), snapshot_id],
    )
    return cursor.fetchone()[0]


def observations_write(
    *, snapshot_id: int, columns: Sequence[str], types: Sequence[str], rows: Iterable[tuple]
) -> None:
    """Write one snapshot's observation rows on PostgreSQL (inside a transaction).

    A snapshot without rows yet gets its own partition, loaded the fast way
    (see the module docstring); otherwise the rows are COPYed into the
    table, where they land in its partition or in the default one.
    """
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        if _has_rows_elsewhere(cursor, snapshot_id):
            _copy(cursor, TABLE, names, types, rows)
            return
        part = partition_name(snapshot_id)
        # LIKE copies the columns, NOT NULLs, defaults and CHECKs of the
        # parent, so a column added to observations later is here too.
        cursor.execute(
            f"CREATE TABLE {part} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
            f"CONSTRAINT {part}_bound CHECK (snapshot_id = {int(snapshot_id)}))"
        )
        _copy(cursor, part, names, types, rows)
        # One round trip for the three statements.
        cursor.execute(
            f"ALTER TABLE {part} ADD PRIMARY KEY (model_id, snapshot_id); "
            f"CREATE INDEX {part}_rank ON {part} (snapshot_id, rank); "
            f"ALTER TABLE {TABLE} ATTACH PARTITION {part} FOR VALUES IN ({int(snapshot_id)})"
        )


def _copy(cursor, table: str, names: str, types: Sequence[str], rows: Iterable[tuple]) -> None:
    # Binary COPY: the server parses no text for these numbers and times.
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(types))
        write = copy.write_row
        for row in rows:
            write(row)


def observations_retire(*, snapshot_id: int) -> int:
    """Remove a snapshot's observations; returns how many there were.

    On PostgreSQL its partition is dropped (and any of its rows in the
    default partition deleted); elsewhere its rows are deleted.
    """
    if not is_partitioned():
        count, _ = Observation.objects.filter(snapshot_id=snapshot_id).delete()
        return count
    part = partition_name(snapshot_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [part])
        retired = 0
        if cursor.fetchone()[0]:
            cursor.execute(f"SELECT count(*) FROM {part}")
            retired = cursor.fetchone()[0]
            cursor.execute(f"DROP TABLE {part}")
        cursor.execute(f"DELETE FROM {DEFAULT_PARTITION} WHERE snapshot_id = %s", [snapshot_id])
        return retired + max(cursor.rowcount, 0)


def observation_partitions() -> list[int]:
    """Snapshot ids that have a partition of their own (PostgreSQL), ascending."""
    if not is_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        prefix = f"{TABLE}_s"
        return sorted(int(name[len(prefix) :]) for (name,) in cursor if name.startswith(prefix))


def snapshot_drop_observations(sender, instance, **kwargs) -> None:
    """pre_delete of a Snapshot: drop its partition (PostgreSQL) before the cascade."""
    if is_partitioned() and instance.pk is not None:
        observations_retire(snapshot_id=instance.pk)
