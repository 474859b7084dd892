"""Import consecutive whole-Hub days into PostgreSQL and print what each one costs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        python bench/scale.py --models 1000000 --days 2

Days come from `make_hub_day.py` in the shared tools folder (`--generator`,
by default `../shared/tools/make_hub_day.py` relative to the repository): the
same models from one day to the next, about 1% new, 10% revised. Each day is
written to a file first (not timed), then imported by a fresh process doing
what `manage.py import_snapshots FILE` does: read the archive, validate every
record, write and publish the snapshot (catalog, observations with deltas and
score components, tags, families and rollups, anomalies, outbox) in one
transaction. The process's start-up (Python, Django, the connection) is not
timed: a refresh runs in a long-lived worker.

Printed per day: wall time, observations per second, the importing process's
peak RSS, the database's growth per model (`pg_database_size` before and after),
and, measured in the same run, a bare binary COPY of as many observation rows
into a plain table with no index, constraint or trigger: the ratio of the two
rates is the import's speed against the floor. On a machine shared with
other work the wall clock also measures the scheduler, so the CPU seconds
both spent (the Python process plus its PostgreSQL backend, read from /proc)
are printed too, with the same ratio. At the end the oldest day is retired
(`observations_prune`, which drops its partition) and timed.

The server named by DATABASE_URL (or --database-url) is only used to create a
scratch database `modelboard_scale_<pid>`, migrated here and dropped at the end
unless --keep is given.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench_keys import bench_keys

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GENERATOR = REPO.parent / "shared" / "tools" / "make_hub_day.py"
START = datetime(2026, 11, 1, tzinfo=UTC)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(url: str):
    import psycopg

    return psycopg.connect(_with_database(url, "postgres"), autocommit=True)


@dataclass
class Day:
    day: int
    models: int
    seconds: float
    peak_rss: int  # bytes
    bytes_added: int
    copy_seconds: float
    cpu: float  # CPU seconds of the import: its process and its database backend
    copy_cpu: float

    @property
    def per_second(self) -> float:
        return self.models / self.seconds

    @property
    def copy_per_second(self) -> float:
        return self.models / self.copy_seconds


# --- The child: one import, timed from inside -------------------------------------


def _backend_cpu(pid: int) -> float:
    """CPU seconds a PostgreSQL backend on this machine has used (0 if unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu(backend_pid: int) -> float:
    """This process's CPU seconds plus its database backend's."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + _backend_cpu(backend_pid)


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def import_one(path: Path, url: str) -> dict:
    """What import_snapshots does with one file; returns its figures."""
    _setup_django(url)
    from django.db import connection

    from registry.archive import read_archive, taken_at_from_filename, validate_records
    from snapshots.services import snapshot_import

    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    started, cpu = time.perf_counter(), _cpu(backend)
    archive = read_archive(path)
    records = validate_records(archive)
    archive = replace(archive, records=())  # as the command does once a file is checked
    when = archive.taken_at or taken_at_from_filename(path.name)
    outcome = snapshot_import(archive=archive, records=records, taken_at=when)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu": _cpu(backend) - cpu,
        "models": outcome.snapshot.models_seen,
        "snapshot": outcome.snapshot.pk,
        # Linux reports kilobytes.
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def bare_copy(url: str, snapshot_id: int) -> tuple[int, float, float]:
    """Time a binary COPY of this snapshot's observation rows into a plain table.

    The rows are read into memory first (not timed), in the column types
    of the observations, and COPYed into a fresh table with the same
    columns but no index, constraint or trigger; the commit is timed too.
    """
    import psycopg

    with psycopg.connect(url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = 'snapshots_observation'::regclass AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum"
        )
        columns = cur.fetchall()
        names = ", ".join(name for name, _ in columns)
        cur.execute(
            f"SELECT {names} FROM snapshots_observation WHERE snapshot_id = %s", [snapshot_id]
        )
        rows = cur.fetchall()
        cur.execute("DROP TABLE IF EXISTS bench_bare_copy")
        conn.commit()
        backend = conn.info.backend_pid
        started, cpu = time.perf_counter(), _cpu(backend)
        cur.execute(
            "CREATE TABLE bench_bare_copy ("
            + ", ".join(f"{name} {kind}" for name, kind in columns)
            + ")"
        )
        with cur.copy(f"COPY bench_bare_copy ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([kind for _, kind in columns])
            for row in rows:
                copy.write_row(row)
        conn.commit()
        seconds, cpu = time.perf_counter() - started, _cpu(backend) - cpu
        cur.execute("DROP TABLE bench_bare_copy")
        conn.commit()
    return len(rows), seconds, cpu


def observation_bytes(url: str) -> int:
    """Bytes of every observation, indexes included, across all partitions."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(relid)), "
            "pg_total_relation_size('snapshots_observation')) "
            "FROM pg_partition_tree('snapshots_observation')"
        ).fetchone()[0]


def database_size(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def retire_oldest(url: str) -> dict:
    """Prune the first day's observations and time it, the partition drop apart."""
    _setup_django(url)
    from snapshots import retention
    from snapshots.models import Observation, Snapshot

    first = Snapshot.objects.order_by("taken_at").first()
    rows = Observation.objects.filter(snapshot=first).count()
    dropping: list[float] = []
    retire = retention.observations_retire

    def timed_retire(**kwargs):
        started = time.perf_counter()
        try:
            return retire(**kwargs)
        finally:
            dropping.append(time.perf_counter() - started)

    retention.observations_retire = timed_retire
    # Old enough that only the first day is past the window.
    now = first.taken_at + timedelta(days=30, hours=12)
    started = time.perf_counter()
    result = retention.observations_prune(older_than_days=30, now=now)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "drop": sum(dropping), "rows": rows, "pruned": result.observations}


# --- The parent ---------------------------------------------------------------------


def _child(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], cwd=REPO, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(options: argparse.Namespace) -> int:
    generator = Path(options.generator)
    if not generator.is_file():
        print(f"skipped: no day generator at {generator} (pass --generator PATH)")
        return 0
    server = options.database_url or os.environ.get("DATABASE_URL", "")
    if not server.startswith(("postgres://", "postgresql://")):
        print("skipped: needs a PostgreSQL server (DATABASE_URL or --database-url)")
        return 0
    name = options.database_name or f"modelboard_scale_{os.getpid()}"
    url = _with_database(server, name)
    with _admin(server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    results: list[Day] = []
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=REPO,
            check=True,
            env={**os.environ, "DATABASE_URL": url},
        )
        with tempfile.TemporaryDirectory(dir=options.workdir) as workdir:
            for day in range(options.days):
                path = Path(workdir) / f"day{day}.json"
                at = (START + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
                subprocess.run(
                    [sys.executable, str(generator), str(path), str(options.models), at, str(day)],
                    check=True,
                )
                before, observed_before = database_size(url), observation_bytes(url)
                figures = _child(["--_import", str(path), "--database-url", url])
                added = database_size(url) - before
                per_observation = (observation_bytes(url) - observed_before) / figures["models"]
                path.unlink()
                rows, copy_seconds, copy_cpu = bare_copy(url, figures["snapshot"])
                result = Day(
                    day=day,
                    models=figures["models"],
                    seconds=figures["seconds"],
                    peak_rss=figures["peak_rss"],
                    bytes_added=added,
                    copy_seconds=copy_seconds,
                    cpu=figures["cpu"],
                    copy_cpu=copy_cpu,
                )
                results.append(result)
                print(
                    f"day {day}: {result.models:,} models in {result.seconds:.1f} s = "
                    f"{result.per_second:,.0f} obs/s; peak RSS {result.peak_rss / 2**20:,.0f} MiB; "
                    f"+{result.bytes_added / result.models:,.0f} B/model in the database "
                    f"({per_observation:,.0f} B/observation with indexes); "
                    f"bare COPY of {rows:,} rows {copy_seconds:.2f} s = "
                    f"{result.copy_per_second:,.0f} rows/s; ratio "
                    f"{result.per_second / result.copy_per_second:.3f}; "
                    f"CPU {result.cpu:.1f} s against {copy_cpu:.2f} s for the COPY, ratio "
                    f"{copy_cpu / result.cpu:.3f}",
                    flush=True,
                )
        if options.days >= 2:
            retired = _child(["--_retire", "--database-url", url])
            print(
                f"retire day 0 ({retired['rows']:,} observations): "
                f"{retired['drop'] * 1000:,.0f} ms to drop them; the whole prune, with the "
                f"daily history's rollup, {retired['seconds']:,.1f} s"
            )
    finally:
        if not options.keep:
            with _admin(server) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


def main(argv: list[str] | None = None) -> int:
    bench_keys()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=1_000_000, help="Models a day (N).")
    parser.add_argument("--days", type=int, default=2, help="Consecutive days to import.")
    parser.add_argument("--database-url", help="PostgreSQL server (default: DATABASE_URL).")
    parser.add_argument("--database-name", help="Scratch database name.")
    parser.add_argument("--generator", default=str(DEFAULT_GENERATOR), help="make_hub_day.py")
    parser.add_argument("--workdir", help="Where day files are written (default: temp).")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    parser.add_argument("--_import", help=argparse.SUPPRESS)
    parser.add_argument("--_retire", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options._import:
        print(json.dumps(import_one(Path(options._import), options.database_url)))
        return 0
    if options._retire:
        print(json.dumps(retire_oldest(options.database_url)))
        return 0
    return run(options)


if __name__ == "__main__":
    sys.exit(main())
