"""Time the daily crawl end to end against the replay hub, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/modelboard python bench/crawl.py --models 100000

Days of a synthetic Hub come from `make_hub_day.py` (in the shared tools
folder, `--generator PATH`): consecutive days of the same models, about 1%
new and 10% revised each day. The replay hub serves each day through the
real `/api/models` listing (pages of 1,000, cursors, rate-limit headers) and
`snapshots.crawl.crawl_run` crawls it: paging and staging (one row per page,
each with the checkpoint), then the publish (catalog, tags, families, daily
table) in one transaction. Day 1 finds the catalog from day 0.

Printed per day: pages, models, listing time and pages/s (the replay hub
answers on loopback, in this process: its CPU time is in the listing's), the
staging table's size before publish, publish time and models/s, the CPU
time of each (this process; the database server's is not in it: on a busy
machine it says more than the wall time), and the peak RSS.

A scratch database `<name>_crawlbench` is created beside the one
DATABASE_URL names and dropped at the end (unless --keep).
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

from bench_keys import bench_keys

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GENERATOR = REPO.parent / "shared" / "tools" / "make_hub_day.py"
START = datetime(2026, 11, 1, tzinfo=UTC)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_day(generator: Path, out: Path, models: int, day: int) -> list[dict]:
    fetched = (START + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
    subprocess.run(
        [sys.executable, str(generator), str(out), str(models), fetched, str(day)], check=True
    )
    return json.loads(out.read_text())["models"]


def crawl_day(hub, day: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    from registry.hub import HubClient
    from snapshots.crawl import crawl_run
    from snapshots.models import CrawlPage

    marks: dict[str, float] = {}

    def progress(p) -> None:
        if p.phase == "publishing" and "publishing" not in marks:
            marks["publishing"] = time.perf_counter()
            marks["publishing_cpu"] = time.process_time()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_total_relation_size(%s)", [CrawlPage._meta.db_table])
                marks["staged_bytes"] = cursor.fetchone()[0]

    client = HubClient(endpoint=hub.url, sleep=lambda s: None)
    started, started_cpu = time.perf_counter(), time.process_time()
    # Each generated day is crawled on its own UTC day (the clock shifted, still
    # running), so its rows land in a day of their own, as in production.
    real_now = timezone.now
    shift = START + timedelta(days=day) - real_now()
    with mock.patch("django.utils.timezone.now", lambda: real_now() + shift):
        outcome = crawl_run(client=client, call_budget=10**6, on_progress=progress)
    finished, finished_cpu = time.perf_counter(), time.process_time()
    assert outcome.outcome == "published", outcome.crawl.error
    crawl = outcome.crawl
    listing = marks["publishing"] - started
    publish = finished - marks["publishing"]
    return {
        "day": day,
        "pages": crawl.pages_done,
        "models": outcome.snapshot.models_seen,
        "listing_s": listing,
        "pages_per_s": crawl.pages_done / listing,
        "listing_cpu_s": marks["publishing_cpu"] - started_cpu,
        "publish_cpu_s": finished_cpu - marks["publishing_cpu"],
        "staged_mb": marks["staged_bytes"] / 2**20,
        "publish_s": publish,
        "models_per_s": outcome.snapshot.models_seen / publish,
        "peak_rss_mb": peak_rss_mb(),
    }


def profile_last_publish(days: int) -> None:
    import cProfile
    import pstats

    from snapshots import crawl

    publish, calls = crawl.crawl_publish, []

    def profiled(**kwargs):
        calls.append(1)
        if len(calls) < days:
            return publish(**kwargs)
        profiler = cProfile.Profile()
        try:
            return profiler.runcall(publish, **kwargs)
        finally:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)

    crawl.crawl_publish = profiled


def database_bytes() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return cursor.fetchone()[0]


def vacuum_staging() -> None:
    from django.db import connection

    from snapshots.models import CrawlPage

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {CrawlPage._meta.db_table}")


def daily_row_bytes() -> float:
    from django.db import connection

    from snapshots.models import DailyObservation

    table = DailyObservation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute(f"SELECT pg_total_relation_size('{table}'), count(*) FROM {table}")
        size, count = cursor.fetchone()
    return size / max(count, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--generator", type=Path, default=DEFAULT_GENERATOR)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--profile", action="store_true", help="profile the last day's publish with cProfile"
    )
    args = parser.parse_args(argv)
    url = args.database_url
    if urlsplit(url).scheme not in ("postgres", "postgresql"):
        print("Set DATABASE_URL to a PostgreSQL database.", file=sys.stderr)
        return 2
    if not args.generator.is_file():
        print(f"make_hub_day.py not found at {args.generator}; pass --generator", file=sys.stderr)
        return 2

    import psycopg

    scratch = urlsplit(url).path.lstrip("/") + "_crawlbench"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{scratch}"')
    os.environ["DATABASE_URL"] = urlsplit(url)._replace(path=f"/{scratch}").geturl()
    os.environ["DJANGO_SETTINGS_MODULE"] = "registry.settings"
    bench_keys()
    os.environ.setdefault("MODELBOARD_LOG_LEVEL", "WARNING")
    os.environ["CRAWL_QUOTA_RESERVE"] = "0"
    sys.path.insert(0, str(REPO))
    rows = []
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)
        from registry.replay import ReplayHub

        if args.profile:
            profile_last_publish(args.days)

        with tempfile.TemporaryDirectory(prefix="modelboard-crawlbench-") as tmp:
            for day in range(args.days):
                records = make_day(args.generator, Path(tmp) / f"d{day}.json", args.models, day)
                before = database_bytes()
                with ReplayHub(records, quota=10**7) as hub:
                    del records
                    rows.append(crawl_day(hub, day))
                # The day's cost on disk: what the database grew by (the staged
                # pages, deleted at publish, are reused by the next day once
                # vacuumed), and the daily table's own bytes per row.
                vacuum_staging()
                rows[-1]["growth_per_model"] = (database_bytes() - before) / args.models
                rows[-1]["daily_row_bytes"] = daily_row_bytes()
                print(
                    "day {day}: {pages} pages, {models:,} models; listing {listing_s:.1f}s "
                    "({pages_per_s:.1f} pages/s; CPU {listing_cpu_s:.1f}s), staged "
                    "{staged_mb:.1f} MB; publish {publish_s:.1f}s ({models_per_s:,.0f} "
                    "models/s; CPU {publish_cpu_s:.1f}s); peak RSS "
                    "{peak_rss_mb:.0f} MB; database +{growth_per_model:,.0f} B/model; "
                    "daily table {daily_row_bytes:,.0f} B/row with its index".format(**rows[-1]),
                    flush=True,
                )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
