"""The daily history: one row per model per UTC day, and its true daily downloads.

A day's row (`DailyObservation`) is the model's latest sighting that day: the
figures of the latest complete snapshot of that UTC day that saw it, whatever
its kind (an hourly snapshot, an archive, the demo, the daily crawl). Its
`daily_downloads` is `downloads_all_time(day) - downloads_all_time(day - 1)`
when both rows exist and both counts are known, else null: a gap, never
interpolated; a model's first day has none.

Rows are written as each complete snapshot is published, in its
transaction and set-based (one INSERT … SELECT … ON CONFLICT per snapshot):

- `daily_history_from_snapshot` for snapshots that hold observations (it
  reads them back with INSERT … SELECT);
- `daily_rows_write` for the daily crawl, whose snapshot holds none: it hands
  over the day's figures as tuples, staged in a temporary table (COPY on
  PostgreSQL) and written the same way.

A stored row is replaced only by a sighting at least as late (taken_at, then
id), so snapshots may be written in any order; writing a day also sets the
next day's `daily_downloads` again, so a day imported out of order fixes the
day after it. `daily_history_backfill` builds the table from every
observation still held and recomputes every `daily_downloads`
(`manage.py backfill_daily`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from itertools import islice

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from .models import DailyObservation, Observation, Snapshot

# (model_id, downloads, downloads_all_time, likes, trending_score)
DailyRow = tuple[int, int | None, int | None, int | None, float | None]

_FIGURES = ("downloads", "downloads_all_time", "likes", "trending_score")
_STAGE = "daily_rows_stage"
_STAGE_CHUNK = 5_000  # rows per executemany where COPY is not available


def snapshot_day(snapshot: Snapshot) -> date:
    """The UTC day a snapshot belongs to in the daily history."""
    return snapshot.taken_at.astimezone(UTC).date()


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _day(value: date):
    return connection.ops.adapt_datefield_value(value)


def _time(value):
    return connection.ops.adapt_datetimefield_value(value)


def _upsert_sql(source: str) -> str:
    """INSERT the source's rows as the snapshot's day, the day before giving daily_downloads.

    `source` is a relation of (model_id, downloads, downloads_all_time,
    likes, trending_score), one row per model. Parameters: day, snapshot id,
    previous day, then (for the "at least as late" test) taken_at, taken_at, id.
    """
    daily = _quote(DailyObservation._meta.db_table)
    snapshots = _quote(Snapshot._meta.db_table)
    figures = ", ".join(_FIGURES)
    replace = ", ".join(
        f"{name} = excluded.{name}" for name in ("snapshot_id", *_FIGURES, "daily_downloads")
    )
    # A stored sighting later than this one (by taken_at, then id) keeps its row;
    # one whose snapshot is gone can no longer say when it was taken: replaced.
    later_kept = (
        f"SELECT 1 FROM {snapshots} AS kept WHERE kept.id = {daily}.snapshot_id "
        "AND (kept.taken_at > %s OR (kept.taken_at = %s AND kept.id > %s))"
    )
    # "WHERE 1 = 1": SQLite needs a WHERE before ON CONFLICT to parse the upsert.
    return (
        f"INSERT INTO {daily} (model_id, day, snapshot_id, {figures}, daily_downloads) "
        f"SELECT s.model_id, %s, %s, {', '.join(f's.{name}' for name in _FIGURES)}, "
        "s.downloads_all_time - prev.downloads_all_time "
        f"FROM ({source}) AS s LEFT JOIN {daily} AS prev "
        "ON prev.model_id = s.model_id AND prev.day = %s WHERE 1 = 1 "
        f"ON CONFLICT (model_id, day) DO UPDATE SET {replace} "
        f"WHERE NOT EXISTS ({later_kept})"
    )


def _next_day_sql(source: str) -> str:
    """Set the next day's daily_downloads again for the source's models.

    Parameters: the day written, the next day.
    """
    daily = _quote(DailyObservation._meta.db_table)
    return (
        f"UPDATE {daily} SET daily_downloads = {daily}.downloads_all_time - ("
        f"SELECT cur.downloads_all_time FROM {daily} AS cur "
        f"WHERE cur.model_id = {daily}.model_id AND cur.day = %s) "
        f"WHERE {daily}.day = %s AND {daily}.model_id IN (SELECT model_id FROM ({source}) AS s)"
    )


def _write(cursor, *, snapshot: Snapshot, source: str, source_params: list) -> int:
    day = snapshot_day(snapshot)
    cursor.execute(
        _upsert_sql(source),
        [
            _day(day),
            snapshot.pk,
            *source_params,
            _day(day - timedelta(days=1)),
            _time(snapshot.taken_at),
            _time(snapshot.taken_at),
            snapshot.pk,
        ],
    )
    written = max(cursor.rowcount, 0)
    cursor.execute(
        _next_day_sql(source), [_day(day), _day(day + timedelta(days=1)), *source_params]
    )
    return written


def daily_history_from_snapshot(*, snapshot: Snapshot) -> int:
    """Write a snapshot's observations into the daily history of its UTC day.

    Called by `snapshot_publish` in the publishing transaction (and by the
    backfill); a snapshot without observations (a daily crawl) writes
    nothing here. Idempotent. Returns the rows inserted or replaced.
    """
    observations = _quote(Observation._meta.db_table)
    source = f"SELECT model_id, {', '.join(_FIGURES)} FROM {observations} WHERE snapshot_id = %s"
    with transaction.atomic(), connection.cursor() as cursor:
        return _write(cursor, snapshot=snapshot, source=source, source_params=[snapshot.pk])


def daily_rows_write(*, snapshot: Snapshot, rows: Iterable[DailyRow]) -> int:
    """Write figures seen by `snapshot` into the daily history of its UTC day.

    For snapshots that hold no observations (the daily crawl): `rows` are
    (model_id, downloads, downloads_all_time, likes, trending_score) tuples,
    one per model (a model given twice: its last tuple counts), for models
    already in the catalog. They are streamed into a temporary table (COPY on
    PostgreSQL) and written with one INSERT … SELECT, in the caller's
    transaction. Returns the rows inserted or replaced.
    """
    stage = _quote(_STAGE)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} (n bigint, model_id bigint, downloads bigint, "
            "downloads_all_time bigint, likes bigint, trending_score double precision)"
        )
        _stage_rows(cursor, stage, rows)
        # Numbered as given, so a repeated model keeps its last tuple.
        source = (
            f"SELECT model_id, {', '.join(_FIGURES)} FROM ("
            f"SELECT *, ROW_NUMBER() OVER (PARTITION BY model_id ORDER BY n DESC) AS last "
            f"FROM {stage}) AS numbered WHERE last = 1"
        )
        written = _write(cursor, snapshot=snapshot, source=source, source_params=[])
        cursor.execute(f"DROP TABLE {stage}")
    return written


def _numbered(rows: Iterable[DailyRow]) -> Iterator[tuple]:
    for n, row in enumerate(rows):
        yield (n, *row)


def _stage_rows(cursor, stage: str, rows: Iterable[DailyRow]) -> None:
    columns = f"n, model_id, {', '.join(_FIGURES)}"
    numbered = _numbered(rows)
    if connection.vendor == "postgresql":
        with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
            for row in numbered:
                copy.write_row(row)
        return
    sql = f"INSERT INTO {stage} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)"
    while chunk := list(islice(numbered, _STAGE_CHUNK)):
        cursor.executemany(sql, chunk)


# --- Backfill ---------------------------------------------------------------------


@dataclass(frozen=True)
class BackfillResult:
    snapshots: int  # complete snapshots whose observations were written
    rows: int  # daily rows inserted or replaced from them
    recomputed: int  # daily rows whose daily_downloads was set again


def daily_downloads_recompute() -> int:
    """Set every row's daily_downloads from its own and the previous day's all-time count.

    One UPDATE; rows without a previous day (or an unknown count) get null.
    """
    daily = _quote(DailyObservation._meta.db_table)
    if connection.vendor == "postgresql":
        previous = "prev.day = {daily}.day - 1"
    else:
        previous = "prev.day = date({daily}.day, '-1 day')"
    sql = (
        f"UPDATE {daily} SET daily_downloads = {daily}.downloads_all_time - ("
        f"SELECT prev.downloads_all_time FROM {daily} AS prev "
        f"WHERE prev.model_id = {daily}.model_id AND {previous.format(daily=daily)})"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
        return max(cursor.rowcount, 0)


def daily_history_backfill() -> BackfillResult:
    """Build the daily history from every observation still held, then every daily_downloads.

    For installs that kept observations before the daily history was written
    at publish: each complete snapshot with observations is written in turn
    (oldest first, each in its own transaction: the latest sighting of a day
    wins whatever the order), then every row's daily_downloads is computed
    again, which also covers rows carried over from the old table. Running it
    again changes nothing.
    """
    snapshots = list(
        Snapshot.objects.visible()
        .filter(Exists(Observation.objects.filter(snapshot=OuterRef("pk"))))
        .order_by("taken_at", "id")
        .only("taken_at")
    )
    rows = sum(daily_history_from_snapshot(snapshot=snapshot) for snapshot in snapshots)
    return BackfillResult(
        snapshots=len(snapshots), rows=rows, recomputed=daily_downloads_recompute()
    )
