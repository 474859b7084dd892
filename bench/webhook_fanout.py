"""Webhook delivery at scale, with real Celery workers, Redis and loopback receivers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/webhook_fanout.py

Two measurements:

1. Fan-out: one event to 1,000 subscriptions (pro plan, the ordinary queue);
   the time from the publish until every delivery has succeeded, and the
   delivery latency (event written → success recorded) p50/p95/max.
2. Priority under a backlog: 10,000 free-plan deliveries are queued (100 free
   organizations, 100 events each), then enterprise events go out while that
   backlog drains; the enterprise delivery latency p50/p95, against the same
   probe with no backlog, and how much of the free backlog was still waiting.

Everything is real: the events are written by `events_publish` and enqueued
on commit to Redis; two `celery -A registry worker` processes consume them,
thread pools: one on `webhooks_priority`, one on `webhooks` at a lower CPU
priority (`--nice`; a deployment gives it hosts of its own); each attempt is
SSRF-checked, signed and POSTed to receivers on 127.0.0.1 (allowlisted) run
by this script in child processes. The sweeper runs every 10 s, as beat would.

DATABASE_URL names a PostgreSQL server: a scratch database
`modelboard_bench_webhooks_<pid>` is created there, migrated and dropped at
the end. REDIS_URL is the broker; the two queues are emptied at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from bench_keys import bench_keys

REPO = Path(__file__).resolve().parents[1]
QUEUES = ("webhooks_priority", "webhooks")


# --- Receivers ----------------------------------------------------------------


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _serve(port_queue) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    server.request_queue_size = 512
    port_queue.put(server.server_address[1])
    server.serve_forever()


def start_receivers(n: int) -> tuple[list[multiprocessing.Process], list[int]]:
    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    procs = [ctx.Process(target=_serve, args=(ports,), daemon=True) for _ in range(n)]
    for proc in procs:
        proc.start()
    return procs, [ports.get(timeout=30) for _ in procs]


# --- Database and workers ---------------------------------------------------------


def scratch_database_url(server_url: str, name: str) -> str:
    return urlsplit(server_url)._replace(path=f"/{name}").geturl()


def admin_execute(server_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql)


def start_worker(
    env: dict, queue: str, concurrency: int, log: Path, *, nice: int = 0
) -> subprocess.Popen:
    return subprocess.Popen(
        [
            *(["nice", "-n", str(nice)] if nice else []),
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "registry",
            "worker",
            "-Q",
            queue,
            "--pool",
            "threads",
            "-c",
            str(concurrency),
            "-n",
            f"{queue}-{os.getpid()}@%h",
            "-l",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# --- The measurements (run with Django set up on the scratch database) -----------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def wait_delivered(event_ids, expected: int, *, timeout: float, sweep_every: float = 10.0):
    """Poll until `expected` deliveries of these events succeeded; sweep as beat would."""
    from webhooks.models import Delivery
    from webhooks.queueing import deliveries_sweep

    rows = Delivery.objects.filter(event_id__in=event_ids)
    deadline = time.monotonic() + timeout
    next_sweep = time.monotonic() + sweep_every
    while time.monotonic() < deadline:
        done = rows.filter(status=Delivery.Status.SUCCEEDED).count()
        if done >= expected:
            return done
        if time.monotonic() >= next_sweep:
            deliveries_sweep()
            next_sweep += sweep_every
        time.sleep(0.02)
    raise SystemExit(f"timed out: {done}/{expected} delivered")


def latencies_ms(event_ids) -> list[float]:
    from webhooks.models import Delivery

    return [
        (finished - created).total_seconds() * 1000
        for created, finished in Delivery.objects.filter(
            event_id__in=event_ids, status=Delivery.Status.SUCCEEDED
        ).values_list("created_at", "finished_at")
    ]


def make_subscriptions(*, plan: str, orgs: int, per_org: int, urls, event_types, tag: str):
    from registry.models import Organization, Plan
    from webhooks.models import Subscription
    from webhooks.secrets import secret_encrypt, secret_generate

    plan_row = Plan.objects.get(slug=plan)
    created = Organization.objects.bulk_create(
        Organization(name=f"{tag} {i}", slug=f"{tag}-{i}", plan=plan_row) for i in range(orgs)
    )
    # Bulk, for setup speed; each URL is the kind subscription_create accepts.
    subs = [
        Subscription(
            organization=org,
            url=next(urls),
            event_types=event_types,
            secret_encrypted=secret_encrypt(secret_generate()),
        )
        for org in created
        for _ in range(per_org)
    ]
    return Subscription.objects.bulk_create(subs)


def probe_enterprise(events: int, *, spacing: float) -> list[int]:
    from webhooks.services import events_publish

    ids = []
    for i in range(events):
        ids.append(events_publish(type="model.anomaly", data={"probe": i}).pk)
        time.sleep(spacing)
    return ids


def run(args) -> None:
    from django.db import connection

    from webhooks.models import Delivery, Subscription
    from webhooks.services import events_publish

    urls = _cycle_urls(args.ports)

    # Warm-up: both workers answer (imports, connections) before anything is timed.
    warm_free = make_subscriptions(
        plan="pro", orgs=1, per_org=1, urls=urls, event_types=["endpoint.disabled"], tag="warm"
    )
    warm_ent = make_subscriptions(
        plan="enterprise",
        orgs=1,
        per_org=1,
        urls=urls,
        event_types=["endpoint.disabled"],
        tag="warm-ent",
    )
    warm = [events_publish(type="endpoint.disabled", data={"warm": True}).pk]
    wait_delivered(warm, 2, timeout=120)
    Subscription.objects.filter(pk__in=[s.pk for s in warm_free + warm_ent]).delete()

    # 1. One event, 1,000 subscriptions.
    make_subscriptions(
        plan="pro",
        orgs=args.subscriptions // 10,
        per_org=10,
        urls=urls,
        event_types=["snapshot.completed"],
        tag="fan",
    )
    started = time.monotonic()
    fan = [events_publish(type="snapshot.completed", data={"snapshot": {"id": 1}}).pk]
    published = time.monotonic()
    wait_delivered(fan, args.subscriptions, timeout=600)
    fan_seconds = time.monotonic() - started
    fan_lat = latencies_ms(fan)
    Subscription.objects.filter(event_types=["snapshot.completed"]).update(is_active=False)

    # 2. Enterprise probes, without and then with a free backlog.
    make_subscriptions(
        plan="enterprise",
        orgs=args.enterprise_subscriptions // 10,
        per_org=10,
        urls=urls,
        event_types=["model.anomaly"],
        tag="ent",
    )
    make_subscriptions(
        plan="free",
        orgs=args.free_subscriptions,
        per_org=1,
        urls=urls,
        event_types=["snapshot.completed"],
        tag="free",
    )
    per_probe = args.enterprise_subscriptions
    quiet = probe_enterprise(args.probes, spacing=args.spacing)
    wait_delivered(quiet, per_probe * len(quiet), timeout=300)
    quiet_lat = latencies_ms(quiet)

    backlog_started = time.monotonic()
    backlog = [
        events_publish(type="snapshot.completed", data={"snapshot": {"id": 100 + i}}).pk
        for i in range(args.backlog // args.free_subscriptions)
    ]
    backlog_total = Delivery.objects.filter(event_id__in=backlog).count()
    queued = _queue_lengths(args.redis_url)
    busy = probe_enterprise(args.probes, spacing=args.spacing)
    wait_delivered(busy, per_probe * len(busy), timeout=600)
    free_left = (
        Delivery.objects.filter(event_id__in=backlog)
        .exclude(status=Delivery.Status.SUCCEEDED)
        .count()
    )
    busy_lat = latencies_ms(busy)
    wait_delivered(backlog, backlog_total, timeout=1800)
    backlog_seconds = time.monotonic() - backlog_started
    backlog_lat = latencies_ms(backlog)

    print()
    print(
        f"PostgreSQL {connection.pg_version // 10000} + Redis broker · workers: "
        f"webhooks_priority ×{args.concurrency} threads, webhooks ×{args.concurrency} threads "
        f"(nice {args.nice}) · "
        f"{len(args.ports)} receiver processes on 127.0.0.1 · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"1. fan-out: 1 event → {len(fan_lat)} subscriptions delivered in {fan_seconds:.2f} s "
        f"(publish + enqueue {published - started:.2f} s); latency p50 "
        f"{statistics.median(fan_lat):.0f} ms, p95 {percentile(fan_lat, 95):.0f} ms, "
        f"max {max(fan_lat):.0f} ms; {len(fan_lat) / fan_seconds:.0f} deliveries/s"
    )
    print(
        f"2. enterprise latency, {len(quiet_lat)} deliveries with no backlog: p50 "
        f"{statistics.median(quiet_lat):.0f} ms, p95 {percentile(quiet_lat, 95):.0f} ms"
    )
    print(
        f"   enterprise latency, {len(busy_lat)} deliveries while {backlog_total:,} free "
        f"deliveries were queued (Redis queues at that moment: {queued}): p50 "
        f"{statistics.median(busy_lat):.0f} ms, p95 {percentile(busy_lat, 95):.0f} ms, "
        f"max {max(busy_lat):.0f} ms"
    )
    print(
        f"   free backlog still undelivered when the last enterprise probe landed: "
        f"{free_left:,}; all {backlog_total:,} delivered after {backlog_seconds:.1f} s "
        f"(latency p50 {statistics.median(backlog_lat) / 1000:.1f} s, "
        f"p95 {percentile(backlog_lat, 95) / 1000:.1f} s)"
    )


def _cycle_urls(ports: list[int]):
    i = 0
    while True:
        yield f"http://127.0.0.1:{ports[i % len(ports)]}/hook/{i}"
        i += 1


def _queue_lengths(redis_url: str) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(redis_url)
    return {q: client.llen(q) for q in QUEUES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--free-subscriptions", type=int, default=100)
    parser.add_argument("--enterprise-subscriptions", type=int, default=20)
    parser.add_argument("--probes", type=int, default=10, help="enterprise events per probe")
    parser.add_argument("--spacing", type=float, default=0.2, help="seconds between them")
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker")
    parser.add_argument("--receivers", type=int, default=2)
    parser.add_argument(
        "--nice", type=int, default=10, help="CPU niceness of the ordinary worker (0: none)"
    )
    args = parser.parse_args(argv)
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("DATABASE_URL must name a PostgreSQL server")
    if not args.redis_url:
        raise SystemExit("REDIS_URL must name the Redis to use as the broker")

    procs, args.ports = start_receivers(args.receivers)
    name = f"modelboard_bench_webhooks_{os.getpid()}"
    env = {
        **os.environ,
        "DATABASE_URL": scratch_database_url(args.database_url, name),
        "REDIS_URL": args.redis_url,
        "CACHE_KEY_PREFIX": f"bench-webhooks-{os.getpid()}",
        "CONN_MAX_AGE": "60",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        # Production settings need keys of their own; a throwaway pair for the run.
        **bench_keys(),
        "WEBHOOK_REQUIRE_HTTPS": "0",
        "LOG_LEVEL": "WARNING",
        "MODELBOARD_LOG_LEVEL": "ERROR",
        "DJANGO_SETTINGS_MODULE": "registry.settings",
    }
    logs = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    workers: list[subprocess.Popen] = []
    admin_execute(args.database_url, f'CREATE DATABASE "{name}"')
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=REPO,
            env=env,
            check=True,
        )
        _empty_queues(args.redis_url)
        for queue in QUEUES:
            # On shared cores the ordinary worker yields the CPU to the
            # priority one, as a deployment would give it hosts of its own.
            nice = args.nice if queue == "webhooks" else 0
            workers.append(
                start_worker(env, queue, args.concurrency, logs / f"{queue}.log", nice=nice)
            )
        os.environ.update(env)
        sys.path.insert(0, str(REPO))
        import django

        django.setup()
        run(args)
    finally:
        for worker in workers:
            stop(worker)
        for proc in procs:
            proc.terminate()
        _empty_queues(args.redis_url)
        from django.db import connections

        connections.close_all()
        admin_execute(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"worker logs: {logs}")
    return 0


def _empty_queues(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).delete(*QUEUES)


if __name__ == "__main__":
    sys.exit(main())
