"""Latency of /api/v4/models under gunicorn, on PostgreSQL and Redis, cached and uncached.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/api_latency.py

It creates a scratch database `modelboard_bench_api_<pid>` on the PostgreSQL
server DATABASE_URL names, migrates it and loads the demo (`manage.py demo
--models 3000 --no-admin`), then serves it with `gunicorn -w 4` (sync
workers) on a free loopback port and puts 16 concurrent connections on the
endpoint for a fixed duration, three times:

- cached: what registry/wsgi.py serves, behind `registry.caching.ResponseCacheApp`
  (the WSGI wrapper that answers cached responses before Django's request
  cycle; the benchmark adds it if registry/wsgi.py does not), the cache warm,
  as it is between publishes;
- cached-view: Django alone, so hits are answered by the view decorator
  (`cached_get`) inside Django's request cycle: one Redis round trip, no query;
- uncached: the response cache switched off (RESPONSE_CACHE_ENABLED = False,
  from a settings module the benchmark writes): every request queries
  PostgreSQL and renders the JSON.

First, though, the cached answer is compared side by side with a bare
Django view that returns the same bytes (the cached answer's body and
headers, read from the server; a settings module with one URL, no
middleware, no apps, no database, under the same gunicorn): both servers
run at once and are measured in turn, --rounds times (each going first in
every other round), and the medians and their ratios are printed, then what
each costs a request in one process without HTTP (--in-process). Rate
limiting stays on (as served) unless --no-rate-limit says otherwise. The
goal: the cached answer's p99 at most 1.0x the bare view's, and its
throughput at least 1.0x.

The load comes from `wrk` when it is installed (C, so it takes little of the
CPU the server needs), else from a Python client with one thread per
connection. It prints p50 and p99 latency and requests per second for each,
and whether the cached p99 meets the target (10 ms). The database is dropped
and the run's cache keys (a prefix of their own) deleted at the end, unless
--keep is given. The machine's other load shows in the figures: run it on a
quiet machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench_keys import bench_keys

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TARGET_P99_MS = 10.0

# Modules the benchmark writes to a temporary folder for gunicorn to load.
BENCH_MODULES = {
    "bench_api_uncached": '''"""Settings for the uncached run of bench/api_latency.py."""
from registry.settings import *  # noqa: F403

RESPONSE_CACHE_ENABLED = False
''',
    "bench_api_django": '''"""Django alone: hits answered by the view decorator."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
application = get_wsgi_application()
''',
    "bench_api_fast": '''"""registry/wsgi.py, behind ResponseCacheApp (added if it is not)."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")

from registry.caching import ResponseCacheApp  # noqa: E402
from registry.wsgi import application as served  # noqa: E402

application = served if isinstance(served, ResponseCacheApp) else ResponseCacheApp(served)
''',
    "bench_api_bare_site": '''"""A bare Django site: one view, the cached answer's bytes."""
import json
import os
from pathlib import Path

from django.http import HttpResponse
from django.urls import path

SECRET_KEY = "bench"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "bench_api_bare_site"
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True

_saved = Path(os.environ["BENCH_BARE_ANSWER"])
BODY = _saved.with_suffix(".body").read_bytes()
HEADERS = json.loads(_saved.with_suffix(".json").read_text())


def answer(request):
    response = HttpResponse(BODY)
    for name, value in HEADERS:
        response[name] = value
    response["Content-Length"] = str(len(BODY))
    return response


urlpatterns = [path(os.environ["BENCH_BARE_PATH"].lstrip("/"), answer)]
''',
    "bench_api_bare": '''"""The bare Django site's WSGI application."""
import os

os.environ["DJANGO_SETTINGS_MODULE"] = "bench_api_bare_site"

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
''',
}
# Times an application's answers in one process, without HTTP: what the
# server's own code costs a request. Run as a script by the benchmark.
IN_PROCESS = '''"""Median microseconds per request of a WSGI application, called directly."""
import importlib
import io
import json
import statistics
import sys
import time

module, name = sys.argv[1].split(":")
path, requests, batches = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
application = getattr(importlib.import_module(module), name)
environ = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": path,
    "QUERY_STRING": "",
    "SCRIPT_NAME": "",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "80",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_HOST": "127.0.0.1",
    "REMOTE_ADDR": "127.0.0.1",
    "wsgi.url_scheme": "http",
    "wsgi.version": (1, 0),
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": False,
    "wsgi.multiprocess": True,
    "wsgi.run_once": False,
}
seen = {}


def start_response(status, headers, exc_info=None):
    seen["status"], seen["headers"] = status, {k.lower(): v for k, v in headers}


def one():
    result = application({**environ, "wsgi.input": io.BytesIO()}, start_response)
    for _ in result:
        pass
    if hasattr(result, "close"):
        result.close()


for _ in range(200):  # the cache entry stored, the local copy held, leases running
    one()
per_batch = []
for _ in range(batches):
    started = time.perf_counter()
    for _ in range(requests):
        one()
    per_batch.append((time.perf_counter() - started) / requests * 1e6)
print(json.dumps({
    "us": statistics.median(per_batch),
    "best_us": min(per_batch),
    "status": seen["status"],
    "x_cache": seen["headers"].get("x-cache", "-"),
    "remaining": seen["headers"].get("x-ratelimit-remaining", "-"),
}))
'''
# Headers of the cached answer the bare view does not repeat: gunicorn's own.
_SERVER_HEADERS = {"date", "server", "connection", "content-length", "transfer-encoding"}


# --- The scratch database --------------------------------------------------


def scratch_database_url(server_url: str, name: str) -> str:
    return urlsplit(server_url)._replace(path=f"/{name}").geturl()


def admin_execute(server_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql)


def manage(env: dict, *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=REPO, env=env, check=True)


def delete_cache_keys(redis_url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    return len(keys)


# --- gunicorn --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gunicorn(env: dict, *, app: str, workers: int, log: Path) -> Server:
    port = free_port()
    gunicorn = str(Path(PYTHON).with_name("gunicorn"))
    with log.open("w") as stderr:  # a file, not a pipe nobody reads, which could fill
        process = subprocess.Popen(
            [gunicorn, app, "-w", str(workers), "-b", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return Server(process=process, port=port, log=log)


def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def wait_ready(server: Server, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{server.log.read_text()}")
        try:
            status, _, body = get(server.port, path)
        except OSError:
            time.sleep(0.2)
            continue
        if status != 200:
            raise SystemExit(f"{path} answered {status}: {body[:300]!r}")
        return
    raise SystemExit("gunicorn did not answer in time")


# --- Load ------------------------------------------------------------------


@dataclass
class Result:
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str
    body_bytes: int
    x_cache: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"could not read the {label} latency from wrk:\n{text}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def load_wrk(url: str, *, connections: int, duration: int, threads: int) -> dict:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            "10s",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    if total is None:
        raise SystemExit(f"could not read wrk's totals:\n{out}")
    seconds = float(total.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[total.group(3)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return {
        "requests": int(total.group(1)),
        "seconds": seconds,
        "p50_ms": _wrk_ms(out, "50%"),
        "p99_ms": _wrk_ms(out, "99%"),
        "errors": errors,
    }


def load_python(port: int, path: str, *, connections: int, duration: int) -> dict:
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    stop_at = time.monotonic() + duration

    def worker(slot: int) -> None:
        conn = None
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors[slot] += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except OSError:
                errors[slot] += 1
                conn = None
                continue
            latencies[slot].append((time.perf_counter() - started) * 1000)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    every = sorted(x for slot in latencies for x in slot)
    if not every:
        raise SystemExit("no request succeeded")

    def percentile(p: float) -> float:
        return every[min(len(every) - 1, int(round(p / 100 * (len(every) - 1))))]

    return {
        "requests": len(every),
        "seconds": seconds,
        "p50_ms": percentile(50),
        "p99_ms": percentile(99),
        "errors": sum(errors),
    }


def measure(
    label: str, server: Server, args, *, expect_cache: str | None, warm: bool = True
) -> Result:
    url_path = args.path
    # Warm up: imports, connections, the cache entry (cached run), the query plan.
    for _ in range(20 if warm else 1):
        status, headers, body = get(server.port, url_path)
    if status != 200:
        raise SystemExit(f"{label}: {url_path} answered {status}: {body[:300]!r}")
    x_cache = headers.get("x-cache", "-")
    if expect_cache is not None and x_cache != expect_cache:
        raise SystemExit(f"{label}: expected X-Cache {expect_cache}, got {x_cache}")
    if expect_cache is None and x_cache != "-":
        raise SystemExit(f"{label}: the response cache is still on (X-Cache {x_cache})")
    use_wrk = args.load == "wrk" or (args.load == "auto" and shutil.which("wrk"))
    # A short run first, not counted: every worker warm, every copy in place.
    if warm and use_wrk:
        load_wrk(
            f"http://127.0.0.1:{server.port}{url_path}",
            connections=args.connections,
            duration=2,
            threads=args.wrk_threads,
        )
    elif warm:
        load_python(server.port, url_path, connections=args.connections, duration=2)
    if use_wrk:
        figures = load_wrk(
            f"http://127.0.0.1:{server.port}{url_path}",
            connections=args.connections,
            duration=args.duration,
            threads=args.wrk_threads,
        )
        tool = f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s"
    else:
        figures = load_python(
            server.port, url_path, connections=args.connections, duration=args.duration
        )
        tool = f"python, {args.connections} threads, {args.duration}s"
    return Result(label=label, tool=tool, body_bytes=len(body), x_cache=x_cache, **figures)


# --- Main ------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server (the scratch database is created there)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="Redis for the cache (keys under a prefix of this run's own)",
    )
    parser.add_argument("--path", default="/api/v4/models", help="what to request")
    parser.add_argument("--models", type=int, default=3000, help="demo catalog size")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=15, help="seconds per run")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--skip-uncached", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the cached vs bare comparison"
    )
    parser.add_argument(
        "--compare-only",
        action="store_true",
        help="only the cached vs bare Django comparison (no cached-view, no uncached run)",
    )
    parser.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="RATE_LIMIT_ENABLED=0: leave the gate's Redis count out, to measure what it costs",
    )
    parser.add_argument(
        "--in-process",
        type=int,
        default=20_000,
        metavar="N",
        help="requests per batch of the in-process timing (0: skip it)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and cache keys")
    parser.add_argument(
        "--reuse", metavar="NAME", help="measure a database kept by an earlier --keep run"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("--database-url must name a PostgreSQL server")
    run_id = f"{os.getpid()}"
    name = args.reuse or f"modelboard_bench_api_{run_id}"
    prefix = f"bench-api-{run_id}"
    if args.reuse:
        args.keep = True
    env = {
        **os.environ,
        "DATABASE_URL": scratch_database_url(args.database_url, name),
        "REDIS_URL": args.redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "CONN_MAX_AGE": "60",  # as deploy/README.md runs production
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "MODELBOARD_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "RATE_LIMIT_ENABLED": "0" if args.no_rate_limit else "1",
        # Production settings, spoken to over plain HTTP as nginx would after TLS.
        **bench_keys(),
        "SECURE_SSL_REDIRECT": "0",
    }
    settings_dir = tempfile.mkdtemp(prefix="bench-api-")
    for module, source in BENCH_MODULES.items():
        Path(settings_dir, f"{module}.py").write_text(source)
    env["PYTHONPATH"] = os.pathsep.join([settings_dir, str(REPO)])
    server: Server | None = None
    results: list[Result] = []
    print(f"scratch database {name}; cache prefix {prefix}")
    if not args.reuse:
        admin_execute(args.database_url, f'CREATE DATABASE "{name}"')
    in_process: list[tuple[str, dict]] = []
    try:
        started = time.monotonic()
        if not args.reuse:
            manage(env, "migrate", "--noinput", "-v", "0")
            manage(env, "demo", "--models", str(args.models), "--no-admin")
        # Every request comes from one address: raise the plans' limits so the
        # gate counts each one (its real cost) and refuses none.
        admin_execute(
            env["DATABASE_URL"], "UPDATE registry_plan SET rate_limit_per_minute = 1000000000"
        )
        # Settle: what autovacuum would otherwise do during the measurements.
        admin_execute(env["DATABASE_URL"], "VACUUM ANALYZE")
        admin_execute(env["DATABASE_URL"], "CHECKPOINT")
        print(f"database ready in {time.monotonic() - started:.0f}s")

        comparison = compare_with_bare(args, env, settings_dir)
        results.append(comparison.cached)
        if args.in_process:
            in_process = time_in_process(args, env, settings_dir)
        runs = (
            []
            if args.compare_only
            else [("cached-view", "bench_api_django:application", env, "HIT")]
        )
        if not args.skip_uncached and not args.compare_only:
            uncached_env = {**env, "DJANGO_SETTINGS_MODULE": "bench_api_uncached"}
            runs.append(("uncached", "bench_api_django:application", uncached_env, None))
        for label, app, run_env, expect in runs:
            log = Path(settings_dir, f"gunicorn-{label}.log")
            server = start_gunicorn(run_env, app=app, workers=args.workers, log=log)
            wait_ready(server, args.path)
            load = os.getloadavg()[0]
            print(
                f"{label}: measuring {args.path} for {args.duration}s "
                f"(load average before: {load:.2f}) …",
                flush=True,
            )
            results.append(measure(label, server, args, expect_cache=expect))
            server.stop()
            server = None
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(settings_dir, ignore_errors=True)
        if not args.keep:
            admin_execute(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            delete_cache_keys(args.redis_url, prefix)

    print()
    print(
        f"GET {args.path} · gunicorn -w {args.workers} (sync) · PostgreSQL + Redis · "
        f"{args.connections} connections · {os.cpu_count()} cores · Python "
        f"{platform.python_version()}"
    )
    print(f"API gate: rate limit {'off' if args.no_rate_limit else 'on (leased slots, Redis)'}")
    print(f"{'':12} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>9} {'requests':>9} {'errors':>7}  body")
    for r in results:
        print(
            f"{r.label:12} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.rps:9.0f} {r.requests:9d} "
            f"{r.errors:7d}  {r.body_bytes:,} B (X-Cache {r.x_cache})"
        )
    print(f"load: {results[0].tool}" if results else "")
    print_comparison(comparison)
    if in_process:
        print(f"\nin one process, no HTTP (median of 5 batches of {args.in_process:,} requests):")
        for label, figures in in_process:
            print(
                f"  {label:34} {figures['us']:7.1f} µs a request  "
                f"({figures['status']}, X-Cache {figures['x_cache']}, "
                f"remaining {figures['remaining']})"
            )
    cached = comparison.cached
    met = cached.p99_ms <= TARGET_P99_MS and cached.errors == 0
    verdict = "met" if met else "NOT met"
    print(f"target: cached p99 <= {TARGET_P99_MS:.0f} ms: {verdict} ({cached.p99_ms:.2f} ms)")
    met_bare = comparison.p99_ratio <= 1.0 and comparison.rps_ratio >= 1.0
    print(
        f"target: cached p99 <= 1.0x and req/s >= 1.0x the bare Django view: "
        f"{'met' if met_bare else 'NOT met'} "
        f"({comparison.p99_ratio:.2f}x, {comparison.rps_ratio:.2f}x)"
    )
    return 0 if met and met_bare else 1


# --- Cached vs a bare Django view ----------------------------------------------


@dataclass
class Comparison:
    rounds: list[tuple[Result, Result]]  # (bare, cached) per round

    @staticmethod
    def _median(values: list[float]) -> float:
        ordered = sorted(values)
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2

    def median(self, which: int, field: str) -> float:
        return self._median([getattr(pair[which], field) for pair in self.rounds])

    @property
    def cached(self) -> Result:
        # The round whose cached p99 is the median one, for the absolute target.
        ordered = sorted(self.rounds, key=lambda pair: pair[1].p99_ms)
        return ordered[len(ordered) // 2][1]

    @property
    def p99_ratio(self) -> float:
        return self.median(1, "p99_ms") / self.median(0, "p99_ms")

    @property
    def rps_ratio(self) -> float:
        return self.median(1, "rps") / self.median(0, "rps")


def compare_with_bare(args, env: dict, settings_dir: str) -> Comparison:
    """Serve the cached answer and a bare Django view of its bytes at once; load each in turn."""
    servers: list[Server] = []
    try:
        cached = start_gunicorn(
            env,
            app="bench_api_fast:application",
            workers=args.workers,
            log=Path(settings_dir, "gunicorn-cached.log"),
        )
        servers.append(cached)
        wait_ready(cached, args.path)
        for _ in range(20):
            status, headers, body = get(cached.port, args.path)
        if headers.get("x-cache") != "HIT":
            raise SystemExit(f"cached: expected a hit, got X-Cache {headers.get('x-cache')}")
        saved = Path(settings_dir, "answer")
        saved.with_suffix(".body").write_bytes(body)
        kept = [(k, v) for k, v in headers.items() if k not in _SERVER_HEADERS]
        saved.with_suffix(".json").write_text(json.dumps(kept))
        bare_env = {**env, "BENCH_BARE_ANSWER": str(saved), "BENCH_BARE_PATH": args.path}
        bare = start_gunicorn(
            bare_env,
            app="bench_api_bare:application",
            workers=args.workers,
            log=Path(settings_dir, "gunicorn-bare.log"),
        )
        servers.append(bare)
        wait_ready(bare, args.path)
        if get(bare.port, args.path)[2] != body:
            raise SystemExit("the bare view does not answer the cached bytes")
        rounds = []
        for number in range(1, args.rounds + 1):
            load = os.getloadavg()[0]
            # Each goes first in every other round: the machine's drift falls on both.
            order = ("bare", "cached") if number % 2 else ("cached", "bare")
            print(
                f"round {number}/{args.rounds}: {order[0]}, then {order[1]}, "
                f"{args.duration}s each (load average before: {load:.2f}) …",
                flush=True,
            )
            warm = number <= 2
            measured = {}
            for which in order:
                server = bare if which == "bare" else cached
                label = "bare-django" if which == "bare" else "cached"
                measured[which] = measure(label, server, args, expect_cache="HIT", warm=warm)
            rounds.append((measured["bare"], measured["cached"]))
        return Comparison(rounds=rounds)
    finally:
        for server in servers:
            server.stop()


def time_in_process(args, env: dict, settings_dir: str) -> list[tuple[str, dict]]:
    """µs per request of each application called directly: the bare view, the cached hit."""
    script = Path(settings_dir, "bench_api_in_process.py")
    script.write_text(IN_PROCESS)
    saved = str(Path(settings_dir, "answer"))
    bare_env = {**env, "BENCH_BARE_ANSWER": saved, "BENCH_BARE_PATH": args.path}
    runs = [
        ("bare Django view", "bench_api_bare:application", bare_env),
        ("cached hit, rate limit on", "bench_api_fast:application", env),
        (
            "cached hit, rate limit off",
            "bench_api_fast:application",
            {**env, "RATE_LIMIT_ENABLED": "0"},
        ),
    ]
    found = []
    for label, app, run_env in runs:
        out = subprocess.run(
            [PYTHON, str(script), app, args.path, str(args.in_process), "5"],
            cwd=REPO,
            env=run_env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        found.append((label, json.loads(out.strip().splitlines()[-1])))
    return found


def print_comparison(comparison: Comparison) -> None:
    print()
    first = comparison.rounds[0][1]
    print(
        f"cached vs a bare Django view of the same {first.body_bytes:,} bytes, "
        f"{len(comparison.rounds)} rounds in turn ({first.tool} each)"
    )
    print(f"{'round':6} {'bare p99':>9} {'cached p99':>11} {'bare req/s':>11} {'cached req/s':>13}")
    for number, (bare, cached) in enumerate(comparison.rounds, 1):
        errors = f"  errors {bare.errors}/{cached.errors}" if bare.errors or cached.errors else ""
        print(
            f"{number:<6} {bare.p99_ms:9.2f} {cached.p99_ms:11.2f} {bare.rps:11.0f} "
            f"{cached.rps:13.0f}{errors}"
        )
    bare_p99, cached_p99 = comparison.median(0, "p99_ms"), comparison.median(1, "p99_ms")
    bare_rps, cached_rps = comparison.median(0, "rps"), comparison.median(1, "rps")
    print(f"{'median':6} {bare_p99:9.2f} {cached_p99:11.2f} {bare_rps:11.0f} {cached_rps:13.0f}")
    print(
        f"cached / bare: p99 {comparison.p99_ratio:.2f}x, throughput {comparison.rps_ratio:.2f}x "
        "(goal: p99 <= 1.0x, throughput >= 1.0x)"
    )


if __name__ == "__main__":
    sys.exit(main())
