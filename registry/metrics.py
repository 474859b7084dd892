"""Prometheus metrics of our own, exported at /metrics beside django-prometheus's.

Counters and histograms count in the process where the thing happens: a
refresh in the Celery worker (or `manage.py refresh`), cache lookups in the
web workers, task runs in each worker. Run the web and Celery processes of a
host with a shared `PROMETHEUS_MULTIPROC_DIR` and django-prometheus's /metrics
aggregates them (prometheus_client's multiprocess mode); the gauges say how
they combine. Queue depth is read from the broker at scrape time by a
collector, so it is current whichever process answers (multiprocess mode
exports only the instruments; there, /api/v4/health gives the depths).

/metrics and the detailed /api/v4/health are for operators only
(`operator_access`): they name queues, backlogs, quotas and cache sizes.
"""

from __future__ import annotations

import ipaddress
import logging
from hmac import compare_digest
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger("modelboard.metrics")

SNAPSHOT_DURATION = Histogram(
    "modelboard_snapshot_duration_seconds",
    "How long a Hub refresh took, from start to publish (or to failure).",
    ["status"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
REFRESH_RUNS = Counter(
    "modelboard_refresh_runs_total", "Hub refreshes finished, by outcome.", ["status"]
)
LAST_PUBLISHED = Gauge(
    "modelboard_refresh_last_complete_timestamp_seconds",
    "When the last Hub refresh that completed was taken (Unix time).",
    multiprocess_mode="max",
)
UPSTREAM_CALLS = Counter(
    "modelboard_upstream_calls_total", "Calls made to the Hub by refreshes, retries included."
)
QUOTA_REMAINING = Gauge(
    "modelboard_upstream_quota_remaining",
    "Hub API calls left in the rate-limit window, as the last refresh's last response said.",
    multiprocess_mode="mostrecent",
)
QUOTA_LIMIT = Gauge(
    "modelboard_upstream_quota_limit",
    "The Hub's rate-limit window size, as the last refresh's last response said.",
    multiprocess_mode="mostrecent",
)
RECORDS_SKIPPED = Counter(
    "modelboard_records_skipped_total",
    "Odd Hub records left out of published snapshots (hourly and daily), by reason.",
    ["reason", "kind"],
)
CACHE_LOOKUPS = Counter(
    "modelboard_cache_lookups_total", "Cached pages and API responses looked up.", ["result"]
)
TASKS_STARTED = Counter("modelboard_celery_tasks_started_total", "Celery tasks started.", ["task"])
TASKS_FINISHED = Counter(
    "modelboard_celery_tasks_finished_total",
    "Celery tasks finished, by final state (success, failure, retry, …).",
    ["task", "state"],
)
TASK_FAILURES = Counter(
    "modelboard_celery_task_failures_total",
    "Celery tasks that raised, by exception type.",
    ["task", "exception"],
)
TASK_RETRIES = Counter(
    "modelboard_celery_task_retries_total", "Celery task retries scheduled.", ["task"]
)
TASK_RUNTIME = Histogram(
    "modelboard_celery_task_runtime_seconds",
    "How long Celery tasks ran.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)


def observe_refresh(*, snapshot: Any) -> None:
    """Record a finished Hub refresh: its duration, calls, quota and outcome.

    `snapshot` is the refresh's `snapshots.models.Snapshot` (any object with
    its fields: registry may not import snapshots).
    """
    status = str(snapshot.status)
    REFRESH_RUNS.labels(status=status).inc()
    if snapshot.finished_at is not None and snapshot.started_at is not None:
        seconds = (snapshot.finished_at - snapshot.started_at).total_seconds()
        SNAPSHOT_DURATION.labels(status=status).observe(max(seconds, 0.0))
    if snapshot.calls_used:
        UPSTREAM_CALLS.inc(snapshot.calls_used)
    if snapshot.quota_remaining is not None:
        QUOTA_REMAINING.set(snapshot.quota_remaining)
    if snapshot.quota_limit is not None:
        QUOTA_LIMIT.set(snapshot.quota_limit)
    if status == "complete":
        LAST_PUBLISHED.set(snapshot.taken_at.timestamp())
    observe_skipped(snapshot=snapshot)


def observe_skipped(*, snapshot: Any) -> None:
    """Count the odd records a published snapshot left out, by reason."""
    if str(snapshot.status) != "complete":
        return
    kind = str(getattr(snapshot, "kind", "hourly"))
    for reason, entry in (getattr(snapshot, "skipped_reasons", None) or {}).items():
        RECORDS_SKIPPED.labels(reason=reason, kind=kind).inc(entry["count"])


def observe_crawl(*, crawl: Any) -> None:
    """Record the quota a daily crawl run last saw (its progress is read at scrape time).

    `crawl` is a `snapshots.models.Crawl` (registry may not import snapshots).
    """
    if crawl.quota_remaining is not None:
        QUOTA_REMAINING.set(crawl.quota_remaining)
    if crawl.quota_limit is not None:
        QUOTA_LIMIT.set(crawl.quota_limit)


# --- Cache memory ------------------------------------------------------------


def cache_memory() -> dict[str, Any]:
    """How full the cache is: bytes used against Redis's maxmemory, and evictions.

    Redis answers with INFO memory and stats (one round trip each); the
    in-process cache of the embedded default counts entries against its
    MAX_ENTRIES instead. `saturation` is None when no limit is set (Redis
    without maxmemory grows until the machine runs out).
    """
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache
    from django.core.cache.backends.redis import RedisCache

    backend = caches["default"]
    if isinstance(backend, RedisCache):
        client = backend._cache.get_client(write=False)
        memory = client.info("memory")
        stats = client.info("stats")
        used, limit = int(memory["used_memory"]), int(memory.get("maxmemory") or 0)
        return {
            "backend": "redis",
            "used_bytes": used,
            "max_bytes": limit or None,
            "saturation": round(used / limit, 4) if limit else None,
            "policy": memory.get("maxmemory_policy"),
            "evicted_keys": int(stats.get("evicted_keys", 0)),
        }
    if isinstance(backend, LocMemCache):
        entries = len(backend._cache)
        return {
            "backend": "locmem",
            "entries": entries,
            "max_entries": backend._max_entries,
            "saturation": round(entries / backend._max_entries, 4),
        }
    return {"backend": type(backend).__name__, "saturation": None}


# --- Queue depth, read from the broker --------------------------------------

# kombu's Redis transport keeps a queue as a list under its name, and its
# higher priorities in lists named queue + separator + priority.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
_broker_clients: dict[str, Any] = {}


def celery_queues() -> list[str]:
    """The queues tasks are sent to: the default one and every routed one."""
    names = {settings.CELERY_TASK_DEFAULT_QUEUE}
    for route in getattr(settings, "CELERY_TASK_ROUTES", {}).values():
        if isinstance(route, dict) and route.get("queue"):
            names.add(route["queue"])
    return sorted(names)


def broker_uses_redis() -> bool:
    """True when tasks go through a Redis broker (not eager, not another transport)."""
    url = settings.CELERY_BROKER_URL or ""
    return not settings.CELERY_TASK_ALWAYS_EAGER and url.startswith(("redis://", "rediss://"))


def broker_client():
    """A Redis client for the broker, with short timeouts (health checks must not hang)."""
    import redis

    url = settings.CELERY_BROKER_URL
    client = _broker_clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        _broker_clients[url] = client
    return client


def queue_depths() -> dict[str, int] | None:
    """Messages waiting in each Celery queue; None when the broker is not Redis.

    One pipelined round trip. Raises redis errors when the broker is down.
    """
    if not broker_uses_redis():
        return None
    queues = celery_queues()
    pipe = broker_client().pipeline(transaction=False)
    for name in queues:
        pipe.llen(name)
        for step in _PRIORITY_STEPS:
            pipe.llen(f"{name}{_PRIORITY_SEPARATOR}{step}")
    lengths = pipe.execute()
    per_queue = 1 + len(_PRIORITY_STEPS)
    return {
        name: sum(lengths[i * per_queue : (i + 1) * per_queue]) for i, name in enumerate(queues)
    }


class QueueDepthCollector:
    """`modelboard_queue_depth{queue}`, read from the broker at every scrape."""

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "modelboard_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"]
        )

    def describe(self):
        # Registering asks for the names; without this it would call collect()
        # and so reach the broker at import time.
        yield self._family()

    def collect(self):
        family = self._family()
        try:
            depths = queue_depths()
        except Exception as exc:  # a scrape must still answer with everything else
            logger.warning("queue depth unavailable: %s", exc)
            depths = None
        for name, depth in (depths or {}).items():
            family.add_metric([name], depth)
        yield family


_queue_collector = QueueDepthCollector()
REGISTRY.register(_queue_collector)


# --- Who may read operators' figures -------------------------------------------

TOKEN_HEADER = "HTTP_X_METRICS_TOKEN"


def _presented_token(request: HttpRequest) -> str:
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # Under /api/ an Authorization bearer names an API key (the API's gate
    # refuses one it does not know), so the health endpoint takes this header.
    return request.META.get(TOKEN_HEADER, "").strip()


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in settings.METRICS_ALLOWED_NETWORKS:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            logger.warning("METRICS_ALLOWED_NETWORKS: %r is not a network", network)
    return False


def operator_access(request: HttpRequest) -> bool:
    """May this request read operators' figures (/metrics, the detailed health)?

    Yes with METRICS_TOKEN as a bearer token (or in X-Metrics-Token), from an
    address in METRICS_ALLOWED_NETWORKS (the peer that connects to us:
    REMOTE_ADDR, never a forwarded header a client could write), or for a
    signed-in staff user. With neither a token nor networks configured,
    DEBUG opens them for development and production keeps them closed.
    """
    token = settings.METRICS_TOKEN
    if token and compare_digest(_presented_token(request).encode(), token.encode()):
        return True
    if settings.METRICS_ALLOWED_NETWORKS and _address_allowed(request.META.get("REMOTE_ADDR", "")):
        return True
    # From the session, not request.user: DRF's views replace that with the
    # API's own (nobody, as the API signs no one in).
    user = get_user(request)
    if user.is_active and user.is_staff:
        return True
    return settings.DEBUG and not token and not settings.METRICS_ALLOWED_NETWORKS


def metrics_view(request: HttpRequest) -> HttpResponse:
    """/metrics: django-prometheus's export, for operators only."""
    if not operator_access(request):
        response = HttpResponseForbidden(
            "/metrics needs METRICS_TOKEN (Authorization: Bearer) or an address in "
            "METRICS_ALLOWED_NETWORKS.\n",
            content_type="text/plain; charset=utf-8",
        )
        response["Cache-Control"] = "no-store"
        return response
    response = ExportToDjangoView(request)
    response["Cache-Control"] = "no-store"
    return response
