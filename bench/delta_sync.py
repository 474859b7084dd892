"""Bytes on the wire: a client kept in sync by the delta feed, against refetching the list.

    .venv/bin/python bench/delta_sync.py                     # a temporary SQLite file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/delta_sync.py

It generates the demo Hub (`registry.demo`, 3,000 models over 35 days by
default, as `manage.py demo`) in a throwaway database and writes its days one
by one, each a complete snapshot (`snapshot_record`, as the demo does for all
days but the last, which the demo takes live through the Hub client). After
each day, two clients bring themselves up to date through the API, in-process
with Django's test client (no server, so no HTTP headers are counted: bodies
only):

- full: GET every page of /api/v4/models at the largest page size (500);
- delta: GET /api/v4/changes?since=<the snapshot it holds> and apply it with
  the reference client (`api.v4.changes_codec.changes_apply`).

Both start from the full list of day 1. Every body is measured as it is and
compressed here with the server's own compressor (registry.compression:
gzip 6, brotli 5, zstd 9), each page and each feed on its own, as the server
sends them. Both clients call with an enterprise API key (pages of 500 are
beyond free's page size). After each
day the delta client's list must equal the full list, row for row and field
for field; the benchmark stops with an error otherwise. It prints each day,
the totals, the ratio per encoding and PASS or FAIL against the target (the
feed at most 3% of the full refetch, compressed with the same encoding).

On PostgreSQL the benchmark creates a scratch database
`modelboard_bench_delta_<pid>` on the server DATABASE_URL names and drops it
at the end; the cache is the in-process one (REDIS_URL is ignored).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from bench_keys import bench_keys

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.03
PAGE_SIZE = 500
END = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ENCODINGS = ("identity", "gzip", "br", "zstd")


def encoded_sizes(body: bytes) -> dict[str, int]:
    from registry.compression import compress

    return {
        "identity": len(body),
        **{name: len(compress(body, name)) for name in ("gzip", "br", "zstd")},
    }


def add(total: dict[str, int], sizes: dict[str, int]) -> None:
    for name, size in sizes.items():
        total[name] = total.get(name, 0) + size


def get_json(client, url: str, spent: list[float] | None = None) -> tuple[dict, bytes]:
    started = time.perf_counter()
    response = client.get(url)
    if spent is not None:
        spent.append(time.perf_counter() - started)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}: {response.content[:500]!r}")
    return json.loads(response.content), response.content


def full_list(
    client, spent: list[float], served: dict[str, int]
) -> tuple[dict[int, dict], dict[str, int], int]:
    """Every page of /api/v4/models: the rows by key, their bytes, the snapshot id.

    The feed does not carry the score fields (a percentile moves with every
    other model): the rows and the bytes compared are the pages without them,
    serialized as the server does. What the pages cost as served (scores
    included) is added to `served`.
    """
    from api.v4.serializers import without_scores

    rows: dict[int, dict] = {}
    sizes: dict[str, int] = {}
    url = f"/api/v4/models?limit={PAGE_SIZE}"
    snapshot = None
    while url:
        body, raw = get_json(client, url, spent)
        add(served, encoded_sizes(raw))
        page = {**body, "results": [without_scores(row) for row in body["results"]]}
        add(
            sizes,
            encoded_sizes(json.dumps(page, separators=(",", ":"), ensure_ascii=False).encode()),
        )
        snapshot = body["snapshot"]["id"]
        for row in page["results"]:
            rows[row["key"]] = row
        url = body["next"]
    return rows, sizes, snapshot


def first_difference(client_rows: dict, server_rows: dict) -> str | None:
    if client_rows.keys() != server_rows.keys():
        missing = sorted(server_rows.keys() - client_rows.keys())[:5]
        extra = sorted(client_rows.keys() - server_rows.keys())[:5]
        return f"keys differ: missing {missing}, extra {extra}"
    for key, row in server_rows.items():
        if client_rows[key] != row:
            fields = [f for f in row if client_rows[key].get(f) != row[f]]
            return f"model {key} ({row['id']}) differs in {fields}: client {client_rows[key]!r}"
    return None


def part_sizes(feed: dict) -> dict[str, int]:
    """gzip bytes of each part of a feed, compressed alone (for where the bytes go)."""
    parts = {"added": feed["added"], "updated": feed["updated"], "removed": feed["removed"]}
    parts.update({f"changed:{name}": value for name, value in feed["changed"].items()})
    return {
        name: len(gzip.compress(json.dumps(value, separators=(",", ":")).encode(), 6, mtime=0))
        for name, value in parts.items()
    }


def run(args: argparse.Namespace) -> bool:
    from django.test import Client

    from api.v4.changes_codec import changes_apply
    from registry.demo import generate_demo_hub
    from registry.records import parse_hub_record
    from snapshots.models import Snapshot
    from snapshots.services import snapshot_record

    print(f"Generating the demo Hub: {args.models:,} models, {args.days} days, seed {args.seed}...")
    hub = generate_demo_hub(seed=args.seed, models=args.models, days=args.days, end=END)
    from api.services import api_key_create
    from registry.models import Organization, Plan

    organization = Organization.objects.create(
        name="Bench", slug="bench", plan=Plan.objects.get(slug="enterprise")
    )
    _, key = api_key_create(organization=organization, name="delta sync bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    state: dict[int, dict] = {}
    held = None
    full_total: dict[str, int] = {}
    served_total: dict[str, int] = {}
    delta_total: dict[str, int] = {}
    parts_total: dict[str, int] = {}
    timings: list[tuple[float, float]] = []
    header = (
        f"{'day':>3} {'snap':>5} {'models':>6} {'+':>3} {'-':>3} {'upd':>4} | "
        f"{'full B':>9} {'full gz':>8} {'full br':>8} {'full zst':>8} | "
        f"{'delta B':>8} {'gz':>6} {'br':>6} {'zst':>6} | {'gz %':>5} {'br %':>5} {'zst %':>5}"
    )
    print(header)
    print("-" * len(header))
    for index, day in enumerate(hub.days):
        records = [parse_hub_record(raw) for raw in hub.records_at(index)]
        snapshot_record(
            source=Snapshot.Source.DEMO,
            source_name=f"demo day {index + 1}",
            taken_at=day,
            records=records,
        )
        full_spent: list[float] = []
        day_served: dict[str, int] = {}
        server_rows, full_sizes, latest = full_list(client, full_spent, day_served)
        if held is None:
            state, held = server_rows, latest
            print(f"{1:>3} {latest:>5} {len(server_rows):>6}  (both clients start from the list)")
            continue
        feed_spent: list[float] = []
        feed, raw = get_json(client, f"/api/v4/changes?since={held}", feed_spent)
        timings.append((sum(full_spent), feed_spent[0]))
        state = changes_apply(state, feed)
        held = feed["next_since"]
        problem = first_difference(state, server_rows)
        if problem or held != latest:
            raise SystemExit(f"day {index + 1}: the delta client is out of sync: {problem}")
        sizes = encoded_sizes(raw)
        add(full_total, full_sizes)
        add(served_total, day_served)
        add(delta_total, sizes)
        add(parts_total, part_sizes(feed))
        pct = {name: 100 * sizes[name] / full_sizes[name] for name in ENCODINGS}
        print(
            f"{index + 1:>3} {latest:>5} {len(server_rows):>6} {len(feed['added']):>3} "
            f"{len(feed['removed']):>3} {len(feed['updated']):>4} | "
            f"{full_sizes['identity']:>9,} {full_sizes['gzip']:>8,} {full_sizes['br']:>8,} "
            f"{full_sizes['zstd']:>8,} | {sizes['identity']:>8,} {sizes['gzip']:>6,} "
            f"{sizes['br']:>6,} {sizes['zstd']:>6,} | {pct['gzip']:>5.2f} {pct['br']:>5.2f} "
            f"{pct['zstd']:>5.2f}"
        )
    days = len(hub.days) - 1
    print()
    print(f"Totals over {days} daily syncs (day 1's list, common to both, not counted):")
    passed = True
    for name in ENCODINGS:
        ratio = delta_total[name] / full_total[name]
        verdict = "" if name == "identity" else ("PASS" if ratio <= TARGET else "FAIL")
        if name != "identity":
            passed = passed and ratio <= TARGET
        print(
            f"  {name:<8} full {full_total[name]:>12,} B   delta {delta_total[name]:>10,} B   "
            f"delta/full {100 * ratio:6.2f}%  {verdict}"
        )
    print("The full list as served (score fields included), for comparison:")
    for name in ENCODINGS:
        ratio = delta_total[name] / served_total[name]
        print(f"  {name:<8} full {served_total[name]:>12,} B   delta/full {100 * ratio:6.2f}%")
    print("Where the feed's bytes go (gzip of each part alone, summed over the days):")
    for name, size in sorted(parts_total.items(), key=lambda item: -item[1]):
        print(f"  {name:<22} {size:>9,} B  {size / days:>8,.0f} B/day")
    full_ms = sorted(1000 * full for full, _ in timings)[len(timings) // 2]
    feed_ms = sorted(1000 * feed for _, feed in timings)[len(timings) // 2]
    print(
        f"Server time, uncached (first request after each publish), median of the days: "
        f"every page of the list {full_ms:.0f} ms, the feed {feed_ms:.0f} ms."
    )
    print(
        f"The delta client's list equalled the full list after every day ({days} checks). "
        f"Target: feed <= {100 * TARGET:.0f}% of the full refetch with compression: "
        f"{'PASS' if passed else 'FAIL'}"
    )
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=3000)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="a PostgreSQL server to make a scratch database on (default: $DATABASE_URL); "
        "without one, a temporary SQLite file",
    )
    args = parser.parse_args(argv)
    if args.models < 10 or args.days < 2:
        parser.error("--models must be at least 10 and --days at least 2")

    url = args.database_url
    on_postgres = urlsplit(url).scheme in ("postgres", "postgresql", "pgsql", "postgis")
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from ingest import create_database, drop_database, scratch_database_url

    with tempfile.TemporaryDirectory(prefix="modelboard-delta-") as tmp:
        scratch = f"modelboard_bench_delta_{os.getpid()}"
        if on_postgres:
            create_database(url, scratch)
            os.environ["DATABASE_URL"] = scratch_database_url(url, scratch)
            where = f"PostgreSQL database {scratch!r}"
        else:
            os.environ["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'delta.sqlite3'}"
            where = "a temporary SQLite file"
        os.environ.pop("REDIS_URL", None)
        os.environ["DJANGO_SETTINGS_MODULE"] = "registry.settings"
        os.environ["MODELBOARD_LOG_LEVEL"] = "WARNING"
        # Production settings (DEBUG off) over plain HTTP: a key, and no HTTPS redirect.
        bench_keys()
        os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
        warnings.filterwarnings("ignore", message="No directory at")
        try:
            import django
            from django.core.management import call_command

            django.setup()
            print(f"Migrating {where}...", flush=True)
            call_command("migrate", verbosity=0, interactive=False)
            started = time.monotonic()
            passed = run(args)
            print(f"({time.monotonic() - started:.0f} s)")
        finally:
            if on_postgres:
                from django.db import connections

                connections.close_all()
                drop_database(url, scratch)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
