"""Time /api/v4/models with each sort and some filters, and the CSV export, at 100k models.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/list_queries.py
    ... --keep, then --reuse modelboard_bench_<pid> [--only counts] to measure again

Like bench/ingest.py it creates a scratch database `modelboard_bench_<pid>`
on the PostgreSQL server DATABASE_URL names, imports two generated
snapshots a day apart (so deltas exist), and drops it at the end unless
--keep is given. Then, in-process and with the response cache off, it asks
for a first page and a page half-way down (through a cursor) for every sort,
a few filter combinations, and the whole board as CSV, and prints the
median time of each, the PostgreSQL plan's top node for the page query, and
the export's peak Python memory (tracemalloc). The `counts` section times
lists and leaderboard pages (each a page body not cached yet) twice: with
the cache emptied before every request, so each computes its COUNT(*) and
the filter bar's options as before they were kept, and with them kept per
snapshot and filter, as served. Figures, not asserts: the machine's other
load shows in them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import ingest  # noqa: E402  (bench/ingest.py: the generator and scratch databases)
from bench_keys import bench_keys  # noqa: E402

SORTS = (
    "rank",
    "-downloads",
    "-likes",
    "-delta_24h",
    "-delta_7d",
    "-trending_score",
    "-last_modified",
)
FILTERS = (
    "tag=chat",
    "tag=chat,code&license_class=permissive",
    "provider=meta,qwen&sort=-delta_24h",
    "param_class=3-8B&min_downloads=1000&sort=-likes",
    "search=llama",
    "new=24h",
)
SECTIONS = ("sorts", "filters", "counts", "export")
# Lists and pages timed with their count (and filter options) computed, then kept.
COUNTED = (
    "/api/v4/models?limit=100",
    "/api/v4/models?sort=-likes&limit=100",
    "/api/v4/models?tag=chat&limit=100",
    "/api/v4/models?search=llama&limit=100",
    "/?page={n}",
    "/?tag=chat&page={n}",
    "/?sort=-downloads&page={n}",
)


def timed(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def server_ms(queryset, *, count: bool = False) -> float:
    """The server's execution time of a query, from EXPLAIN ANALYZE."""
    from django.db import connection

    sql, params = queryset.query.sql_with_params()
    if count:
        sql = f"SELECT COUNT(*) FROM ({sql}) AS counted"
    with connection.cursor() as db:
        db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        (plan,) = db.fetchone()
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)
    return plan[0]["Execution Time"]


def timed_counts(get, url: str, repeat: int) -> tuple[float, float]:
    """Median ms of `url` with the cache emptied before each request, then with it kept.

    `{n}` in a page URL is a fresh page number each time, so every request
    renders a page body of its own (as most leaderboard requests do), while
    its count and filter options may be kept.
    """
    from django.core.cache import cache

    pages = iter(range(1, 2 * repeat + 2))

    def one() -> None:
        get(url.format(n=next(pages)))

    def cold() -> None:
        cache.clear()
        one()

    computed = timed(cold, repeat)
    cache.clear()
    one()  # keeps this snapshot's count and filter options
    return computed, timed(one, repeat)


def measure(repeat: int, sections: tuple[str, ...] = SECTIONS) -> None:
    from django.test import Client

    from api.access import CALLER_ENVIRON_KEY, Caller
    from api.gate import ADMISSION_ENVIRON_KEY, Admission
    from api.v4 import selectors
    from registry.models import HubModel, Plan
    from snapshots.models import Snapshot

    snapshot = Snapshot.objects.served().order_by("-taken_at").first()
    enterprise = Plan.objects.get(slug="enterprise")
    bench_caller = Caller(plan=enterprise, ident="key:bench", api_key_id=1)
    # Admitted already, as the gate leaves it: on enterprise, and not rate limited.
    caller = {
        CALLER_ENVIRON_KEY: bench_caller,
        ADMISSION_ENVIRON_KEY: Admission(caller=bench_caller, headers=()),
    }
    client = Client()
    total = selectors.public_rows(snapshot=snapshot).count()
    print(f"\nSnapshot #{snapshot.pk}: {total:,} public models; median of {repeat} runs, in ms\n")
    count_ms = server_ms(selectors.public_rows(snapshot=snapshot).order_by(), count=True)
    print(f"COUNT of the board on the server: {count_ms:.1f} ms")
    tasks = HubModel.objects.filter(private=False).exclude(pipeline_tag="")
    tasks = tasks.order_by("pipeline_tag").values_list("pipeline_tag", flat=True).distinct()
    distinct_ms = server_ms(tasks)
    print(f"DISTINCT pipeline_tag (the filter bar's tasks) on the server: {distinct_ms:.1f} ms")

    def get(url: str) -> None:
        response = client.get(url, **caller)
        assert response.status_code == 200, response.content[:300]

    if "counts" in sections:
        print(f"\n{'request (count, filter options)':58} {'computed':>9} {'kept':>8}")
        for url in COUNTED:
            computed, kept = timed_counts(get, url, repeat)
            print(f"{url:58} {computed:9.1f} {kept:8.1f}")

    if "sorts" in sections:
        measure_sorts(get, snapshot, total, repeat)
    if "filters" in sections:
        print()
        for query in FILTERS:
            url = f"/api/v4/models?{query}&limit=100"
            print(f"{url:58} {timed(lambda url=url: get(url), repeat):8.1f}")
    if "export" in sections:
        measure_export(client, caller)


def measure_sorts(get, snapshot, total: int, repeat: int) -> None:
    from api.v4 import cursors, selectors
    from snapshots.filters import sort_named

    print(f"\n{'request':58} {'page 1':>8} {'halfway':>8}  page query on the server (1, half)")
    for sort in SORTS:
        url = f"/api/v4/models?sort={sort}&limit=100"
        chosen = sort_named(sort)
        rows = selectors.public_rows(snapshot=snapshot).order_by(*chosen.order_by())
        middle = rows[total // 2]
        cursor = cursors.encode(
            binding={"snapshot": snapshot.pk, "sort": sort},
            value=getattr(middle, chosen.field),
            tie=middle.model.hub_id,
            backwards=False,
        )
        first_ms = timed(lambda url=url: get(url), repeat)
        half_ms = timed(lambda url=url, c=cursor: get(f"{url}&cursor={c}"), repeat)
        order = cursors.Order(
            field=chosen.field,
            descending=chosen.descending,
            tie_field="model__hub_id",
            kind=chosen.kind,
        )
        position = cursors.Position(
            value=getattr(middle, chosen.field), tie=middle.model.hub_id, backwards=False
        )
        first_sql = server_ms(rows[:101])
        half_sql = server_ms(rows.filter(order.after(position.value, position.tie))[:101])
        plan = f"{first_sql:6.1f} {half_sql:7.1f}"
        print(f"{url:58} {first_ms:8.1f} {half_ms:8.1f}  {plan}")


def measure_export(client, caller: dict) -> None:
    for sort, traced in (("-delta_24h", False), ("rank", True)):
        url = f"/api/v4/export.csv?sort={sort}"
        if traced:
            tracemalloc.start()
        start = time.perf_counter()
        response = client.get(url, **caller)
        size = sum(len(chunk) for chunk in response.streaming_content)
        seconds = time.perf_counter() - start
        memory = ""
        if traced:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            memory = f", peak Python memory {peak / 1e6:.1f} MB (traced: slower)"
        print(
            f"\n{url}: {response['X-Export-Rows']} rows, {size / 1e6:.1f} MB in {seconds:.2f} s "
            f"({int(response['X-Export-Rows']) / seconds:,.0f} rows/s){memory}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--reuse", metavar="NAME", help="measure a database kept by an earlier --keep run"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        help="measure only these sections (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    url = args.database_url
    if urlsplit(url).scheme not in ("postgres", "postgresql"):
        print("Set DATABASE_URL to a PostgreSQL server (a scratch database is made there).")
        return 2
    scratch = args.reuse or f"modelboard_bench_{os.getpid()}"
    if args.reuse:
        args.keep = True
    else:
        ingest.create_database(url, scratch)
    os.environ["DATABASE_URL"] = ingest.scratch_database_url(url, scratch)
    os.environ["DJANGO_SETTINGS_MODULE"] = "registry.settings"
    os.environ.setdefault("MODELBOARD_LOG_LEVEL", "WARNING")
    # Production settings (DEBUG off) over plain HTTP: a key, and no HTTPS redirect.
    bench_keys()
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.pop("REDIS_URL", None)  # in-process cache, and it is switched off below
    try:
        import django

        django.setup()
        from django.conf import settings

        settings.RESPONSE_CACHE_ENABLED = False
        settings.ALLOWED_HOSTS = ["*"]
        if not args.reuse:
            load(args)
        measure(args.repeat, tuple(args.only or SECTIONS))
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"Kept {os.environ['DATABASE_URL']}")
        else:
            ingest.drop_database(url, scratch)
    return 0


def load(args: argparse.Namespace) -> None:
    """Two generated snapshots a day apart, imported as import_snapshots would."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    with tempfile.TemporaryDirectory(prefix="modelboard-bench-") as tmp:
        days = ingest.write_archives(
            argparse.Namespace(
                models=args.models, seed=args.seed, snapshots=2, changed=0.1, new=0.01
            ),
            Path(tmp),
        )
        for day in days:
            print(f"Importing {day.path.name}...", flush=True)
            ingest.time_import(day.path, profiler=None)
    with connection.cursor() as db:
        db.execute("ANALYZE")


if __name__ == "__main__":
    raise SystemExit(main())
