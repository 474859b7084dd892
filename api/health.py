"""/api/v4/health: is Modelboard serving fresh data, and can it keep doing so?

Each check reports a status and its figures. "degraded" in any check makes
the answer 503 (for load balancers and uptime monitors); "warning" is said
but keeps 200. Operators (registry.metrics.operator_access: METRICS_TOKEN in
X-Metrics-Token, an allowed network, staff) get every check's figures, looked
at anew on each call. Everyone else gets `{"status": …}` alone, with the same
200 or 503, worked out at most once per HEALTH_PUBLIC_SECONDS and shared
through the cache: the endpoint is not rate limited, so a flood of public
calls must not run the checks each time. Never cached by HTTP.

- database, cache, broker: reachable (the broker is "eager" when tasks run
  in-process, without one);
- queues: messages waiting per Celery queue (a warning above
  HEALTH_QUEUE_WARNING);
- snapshot: age of the snapshot being served, against the refresh schedule
  (degraded when older than twice REFRESH_EVERY_MINUTES plus
  HEALTH_GRACE_MINUTES, or when there is none);
- refresh: the last Hub refresh's status and error (degraded when it failed
  or ran out of budget), and the odd records it left out, by reason;
- crawl: the daily crawl of every public model: the current (or last)
  crawl's status, pages, models staged, calls, quota and an ETA, and when
  the last one was published (a warning when none was in the last
  CRAWL_MAX_HOURS plus a day, or when it is paused by an error);
- quota: the Hub's rate-limit quota the last refresh saw (a warning under
  10 % left), and its consumption over the last QUOTA_HISTORY_HOURS: every
  refresh's calls and the quota left after it;
- cache_hit_rate: hits and misses of cached pages and responses;
- backlog: work waiting: the refresh and webhook queues' depths, and webhook
  deliveries due, waiting for a retry and in flight, with the age of the
  oldest due one (a warning above HEALTH_BACKLOG_WARNING_SECONDS); endpoints
  failing, and disabled for failing in the last day (a warning); degraded
  when deliveries went past their last attempt unsettled (the sender is broken);
- cache_memory: how full the cache is (Redis used_memory against maxmemory,
  evictions; a warning above CACHE_SATURATION_WARNING).

The same figures are exported at /metrics (HealthCollector), read at scrape
time so that any process answers with current values.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache, caches
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from prometheus_client.core import GaugeMetricFamily
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request

from registry import metrics
from registry.caching import lookup_stats
from snapshots import crawl as crawls
from snapshots import selectors as snapshot_selectors
from snapshots.models import Snapshot
from webhooks import selectors as webhook_selectors

from .v4 import selectors
from .v4.schema import errors

logger = logging.getLogger("modelboard.health")

OK, WARNING, DEGRADED, EAGER = "ok", "warning", "degraded", "eager"
QUOTA_WARNING_FRACTION = 0.10
QUOTA_HISTORY_HOURS = 24
CACHE_SATURATION_WARNING = 0.90


def _time(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _timed(probe: Callable[[], object]) -> float:
    started = time.perf_counter()
    probe()
    return round((time.perf_counter() - started) * 1000, 2)


def check_database() -> dict:
    def probe():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    return {"status": OK, "vendor": connection.vendor, "latency_ms": _timed(probe)}


def check_cache() -> dict:
    key = f"health:{uuid.uuid4().hex}"
    value = uuid.uuid4().hex

    def probe():
        cache.set(key, value, timeout=10)
        if cache.get(key) != value:
            raise RuntimeError("a value written to the cache did not read back")
        cache.delete(key)

    latency = _timed(probe)
    return {"status": OK, "backend": type(caches["default"]).__name__, "latency_ms": latency}


def check_broker() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": EAGER, "detail": "tasks run in-process; there is no broker"}
    if metrics.broker_uses_redis():
        return {
            "status": OK,
            "transport": "redis",
            "latency_ms": _timed(metrics.broker_client().ping),
        }

    from registry.celery import app

    def probe():
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)

    return {
        "status": OK,
        "transport": app.conf.broker_url.split(":", 1)[0],
        "latency_ms": _timed(probe),
    }


def check_queues() -> dict:
    depths = metrics.queue_depths()
    if depths is None:
        return {
            "status": OK,
            "depths": None,
            "detail": "queue depth is read from Redis brokers only",
        }
    limit = settings.HEALTH_QUEUE_WARNING
    backed_up = sorted(name for name, depth in depths.items() if depth > limit)
    check = {"status": WARNING if backed_up else OK, "depths": depths, "warning_above": limit}
    if backed_up:
        check["detail"] = f"backlog in {', '.join(backed_up)}"
    return check


def check_snapshot() -> dict:
    schedule = settings.REFRESH_EVERY_MINUTES
    grace = settings.HEALTH_GRACE_MINUTES
    max_age = (2 * schedule + grace) * 60
    snapshot = snapshot_selectors.latest_snapshot()
    if snapshot is None:
        return {
            "status": DEGRADED,
            "detail": "no complete snapshot yet",
            "schedule_minutes": schedule,
            "max_age_seconds": max_age,
        }
    age = (timezone.now() - snapshot.taken_at).total_seconds()
    check = {
        "status": DEGRADED if age > max_age else OK,
        "id": snapshot.pk,
        "taken_at": _time(snapshot.taken_at),
        "age_seconds": round(age),
        "schedule_minutes": schedule,
        "max_age_seconds": max_age,
    }
    if age > max_age:
        check["detail"] = "the snapshot served is older than the schedule allows"
    return check


def check_refresh() -> dict:
    run = selectors.latest_refresh()
    if run is None:
        return {"status": OK, "last": None, "detail": "no Hub refresh has run yet"}
    failed = run.status in (Snapshot.Status.FAILED, Snapshot.Status.PARTIAL)
    duration = run.duration
    return {
        "status": DEGRADED if failed else OK,
        "last": {
            "id": run.pk,
            "status": run.status,
            "taken_at": _time(run.taken_at),
            "finished_at": _time(run.finished_at),
            "duration_seconds": round(duration.total_seconds(), 3) if duration else None,
            "calls_used": run.calls_used,
            "call_budget": run.call_budget,
            "records_skipped": run.records_skipped,
            "skipped_reasons": run.skipped_reasons,
            "error": run.error or None,
        },
    }


def check_crawl() -> dict:
    current = crawls.crawl_latest()
    published = crawls.crawl_last_published()
    if not settings.CRAWL_ENABLED:
        return {"status": OK, "enabled": False, "current": None, "last_published": None}
    check: dict = {
        "status": OK,
        "enabled": True,
        "current": crawls.crawl_facts(crawl=current) if current else None,
        "last_published": crawls.crawl_facts(crawl=published) if published else None,
    }
    if current is None:
        check["detail"] = "no daily crawl has run yet"
        return check
    stale_after = timedelta(hours=settings.CRAWL_MAX_HOURS + 24)
    since = (published or current).started_at
    if timezone.now() - since > stale_after:
        check["status"] = WARNING
        check["detail"] = "no daily crawl was published recently"
    # Pauses for budget and quota are the plan; one for an error is worth a look.
    expected = ("call budget", "quota", "rate limited")
    if (
        current is not None
        and current.status == current.Status.PAUSED
        and not (current.error.startswith(expected))
    ):
        check["status"] = WARNING
        check["detail"] = f"the crawl is paused by an error: {current.error}"
    return check


def quota_history() -> dict:
    """Upstream calls and the quota left after each Hub refresh of the last hours."""
    since = timezone.now() - timedelta(hours=QUOTA_HISTORY_HOURS)
    runs = selectors.refresh_runs_since(since=since)
    return {
        "hours": QUOTA_HISTORY_HOURS,
        "calls_used": sum(run.calls_used for run in runs),
        "runs": [
            {
                "taken_at": _time(run.taken_at),
                "status": run.status,
                "calls_used": run.calls_used,
                "call_budget": run.call_budget,
                "quota_remaining": run.quota_remaining,
                "quota_limit": run.quota_limit,
            }
            for run in runs
        ],
    }


def check_quota() -> dict:
    run = selectors.latest_refresh()
    history = quota_history()
    if run is None or run.quota_remaining is None:
        return {
            "status": OK,
            "remaining": None,
            "limit": None,
            "detail": "no quota seen yet",
            "history": history,
        }
    check = {
        "status": OK,
        "remaining": run.quota_remaining,
        "limit": run.quota_limit,
        "seen_at": _time(run.finished_at or run.taken_at),
        "history": history,
    }
    if run.quota_limit and run.quota_remaining < run.quota_limit * QUOTA_WARNING_FRACTION:
        check["status"] = WARNING
        check["detail"] = "under 10 % of the Hub's rate-limit window left"
    return check


def check_cache_hit_rate() -> dict:
    stats = lookup_stats()
    total = stats["hit"] + stats["miss"]
    return {
        "status": OK,
        "hits": stats["hit"],
        "misses": stats["miss"],
        "hit_rate": round(stats["hit"] / total, 4) if total else None,
    }


def check_backlog() -> dict:
    now = timezone.now()
    deliveries = webhook_selectors.delivery_backlog(now=now)
    oldest = deliveries.pop("oldest_due_at")
    age = round((now - oldest).total_seconds()) if oldest else None
    try:
        depths = metrics.queue_depths()
    except Exception:  # the broker is down: the queues check says so
        depths = None
    queues = None
    if depths is not None:
        queues = {
            "refresh": sum(d for name, d in depths.items() if name == "refresh"),
            "webhooks": sum(d for name, d in depths.items() if name.startswith("webhooks")),
        }
    limit = settings.HEALTH_BACKLOG_WARNING_SECONDS
    check = {
        "status": OK,
        "queues": queues,
        "deliveries": {**deliveries, "oldest_due_seconds": age},
        "warning_above_seconds": limit,
    }
    if deliveries["over_limit"]:
        # Attempts are made but their outcomes are not recorded: the sender is broken.
        check["status"] = DEGRADED
        check["detail"] = (
            f"{deliveries['over_limit']} webhook deliveries went past their last attempt "
            "without being settled"
        )
    elif age is not None and age > limit:
        check["status"] = WARNING
        check["detail"] = f"a webhook delivery has been due for {age} s"
    elif deliveries["disabled_recently"]:
        check["status"] = WARNING
        check["detail"] = (
            f"{deliveries['disabled_recently']} webhook endpoint(s) disabled for failing "
            "in the last day"
        )
    return check


def check_cache_memory() -> dict:
    memory = metrics.cache_memory()
    saturation = memory.get("saturation")
    check = {"status": OK, **memory, "warning_above": CACHE_SATURATION_WARNING}
    if saturation is not None and saturation > CACHE_SATURATION_WARNING:
        check["status"] = WARNING
        check["detail"] = "the cache is nearly full: entries are being evicted early"
    return check


CHECKS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "queues": check_queues,
    "snapshot": check_snapshot,
    "refresh": check_refresh,
    "crawl": check_crawl,
    "quota": check_quota,
    "cache_hit_rate": check_cache_hit_rate,
    "cache_memory": check_cache_memory,
    "backlog": check_backlog,
}


def run_checks() -> dict:
    """Every check; one that raises is reported degraded with its error, never a 500."""
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:
            logger.warning("health check %s failed: %s", name, exc)
            results[name] = {"status": DEGRADED, "error": f"{type(exc).__name__}: {exc}"}
    return results


class HealthCollector:
    """The health figures that are not counters of our own, read at scrape time.

    Registered once by api.apps; a figure that cannot be read is left out of
    the scrape rather than failing it.
    """

    FAMILIES = {
        "upstream_calls": (
            "modelboard_upstream_calls_recent",
            f"Hub calls made by refreshes in the last {QUOTA_HISTORY_HOURS} hours.",
        ),
        "hit_ratio": (
            "modelboard_cache_hit_ratio",
            "Share of cached page and API lookups that hit, since the cache was cleared.",
        ),
        "memory_used": ("modelboard_cache_memory_used_bytes", "Memory the cache uses."),
        "memory_max": ("modelboard_cache_memory_max_bytes", "The cache's memory limit."),
        "saturation": (
            "modelboard_cache_memory_saturation",
            "How full the cache is (0-1): used memory over maxmemory, or entries over the maximum.",
        ),
        "deliveries_due": (
            "modelboard_webhook_deliveries_due",
            "Webhook deliveries due now and not yet sent.",
        ),
        "deliveries_waiting": (
            "modelboard_webhook_deliveries_waiting",
            "Webhook deliveries waiting for their next retry.",
        ),
        "deliveries_delivering": (
            "modelboard_webhook_deliveries_in_flight",
            "Webhook deliveries a worker is sending now.",
        ),
        "oldest_due": (
            "modelboard_webhook_oldest_due_seconds",
            "How long the oldest due webhook delivery has waited (0 when none).",
        ),
        "refresh_skipped": (
            "modelboard_refresh_last_records_skipped",
            "Odd records the last hourly refresh left out.",
        ),
        "crawl_pages": (
            "modelboard_crawl_pages_done",
            "Listing pages the current (or last) daily crawl has staged.",
        ),
        "crawl_records": (
            "modelboard_crawl_records_staged",
            "Models the current (or last) daily crawl has staged.",
        ),
        "crawl_skipped": (
            "modelboard_crawl_records_skipped",
            "Odd records the current (or last) daily crawl left out.",
        ),
        "crawl_calls": (
            "modelboard_crawl_calls_used",
            "Hub calls the current (or last) daily crawl has made over all its runs.",
        ),
        "crawl_running": (
            "modelboard_crawl_unfinished",
            "1 while a daily crawl is running or paused, 0 once published or given up.",
        ),
        "crawl_eta": (
            "modelboard_crawl_eta_seconds",
            "Estimated seconds until the current daily crawl's listing ends.",
        ),
        "crawl_published": (
            "modelboard_crawl_last_published_timestamp_seconds",
            "When the last published daily crawl started (Unix time).",
        ),
    }

    def describe(self):
        for name, text in self.FAMILIES.values():
            yield GaugeMetricFamily(name, text)

    def collect(self):
        figures: dict[str, float | None] = {}
        for read in (
            self._quota,
            self._hits,
            self._memory,
            self._deliveries,
            self._refresh,
            self._crawl,
        ):
            try:
                figures.update(read())
            except Exception as exc:  # a scrape answers with whatever it can read
                logger.warning("health figure unavailable at scrape: %s", exc)
        for key, (name, text) in self.FAMILIES.items():
            if figures.get(key) is not None:
                yield GaugeMetricFamily(name, text, value=figures[key])

    @staticmethod
    def _quota() -> dict:
        return {"upstream_calls": quota_history()["calls_used"]}

    @staticmethod
    def _refresh() -> dict:
        run = selectors.latest_refresh()
        return {"refresh_skipped": run.records_skipped if run is not None else None}

    @staticmethod
    def _crawl() -> dict:
        current, published = crawls.crawl_latest(), crawls.crawl_last_published()
        figures: dict[str, float | None] = {}
        if current is not None:
            facts = crawls.crawl_facts(crawl=current)
            figures = {
                "crawl_pages": current.pages_done,
                "crawl_records": current.records_staged,
                "crawl_skipped": current.records_skipped,
                "crawl_calls": current.calls_used,
                "crawl_running": 1 if facts["unfinished"] else 0,
                "crawl_eta": facts["eta_seconds"],
            }
        if published is not None:
            figures["crawl_published"] = published.started_at.timestamp()
        return figures

    @staticmethod
    def _hits() -> dict:
        stats = lookup_stats()
        total = stats["hit"] + stats["miss"]
        return {"hit_ratio": stats["hit"] / total if total else None}

    @staticmethod
    def _deliveries() -> dict:
        now = timezone.now()
        backlog = webhook_selectors.delivery_backlog(now=now)
        oldest = backlog["oldest_due_at"]
        return {
            "deliveries_due": backlog["due"],
            "deliveries_waiting": backlog["waiting"],
            "deliveries_delivering": backlog["delivering"],
            "oldest_due": (now - oldest).total_seconds() if oldest else 0,
        }

    @staticmethod
    def _memory() -> dict:
        memory = metrics.cache_memory()
        return {
            "memory_used": memory.get("used_bytes"),
            "memory_max": memory.get("max_bytes"),
            "saturation": memory.get("saturation"),
        }


OPERATORS_ONLY = "Operators only (X-Metrics-Token, an allowed network, or staff)."
HEALTH = inline_serializer(
    name="Health",
    fields={
        "status": serializers.ChoiceField(choices=[OK, DEGRADED]),
        "degraded": serializers.ListField(
            child=serializers.CharField(), required=False, help_text=OPERATORS_ONLY
        ),
        "warnings": serializers.ListField(
            child=serializers.CharField(), required=False, help_text=OPERATORS_ONLY
        ),
        "checked_at": serializers.DateTimeField(required=False, help_text=OPERATORS_ONLY),
        "checks": serializers.DictField(
            child=serializers.DictField(),
            required=False,
            help_text=f"Each check: its status and figures. {OPERATORS_ONLY}",
        ),
    },
)

PUBLIC_STATUS_CACHE_KEY = "health:public-status"


def public_status() -> str:
    """The overall status alone, from a run of the checks at most HEALTH_PUBLIC_SECONDS old."""
    try:
        status = cache.get(PUBLIC_STATUS_CACHE_KEY)
    except Exception:  # the cache is down: the checks say so below
        status = None
    if status is None:
        checks = run_checks()
        status = DEGRADED if any(c["status"] == DEGRADED for c in checks.values()) else OK
        with contextlib.suppress(Exception):  # a cache that is down: next call looks again
            cache.set(PUBLIC_STATUS_CACHE_KEY, status, settings.HEALTH_PUBLIC_SECONDS)
    return status


@extend_schema(
    operation_id="health_retrieve",
    summary="Is Modelboard serving fresh data, and can it keep doing so?",
    description=(
        "200 when serving, 503 when a check is degraded. Everyone gets `status`; "
        "operators (METRICS_TOKEN in `X-Metrics-Token`, an address in "
        "METRICS_ALLOWED_NETWORKS, or staff) get every check's figures."
    ),
    responses={
        200: HEALTH,
        503: OpenApiResponse(response=HEALTH, description="A check is degraded."),
        **{s: r for s, r in errors().items() if s != 503},
    },
    tags=["operations"],
)
@api_view(["GET", "HEAD"])
def health(request: Request) -> JsonResponse:
    if not metrics.operator_access(request):
        status = public_status()
        response = JsonResponse({"status": status}, status=503 if status == DEGRADED else 200)
        response["Cache-Control"] = "no-store"
        return response
    checks = run_checks()
    degraded = [name for name, check in checks.items() if check["status"] == DEGRADED]
    warnings = [name for name, check in checks.items() if check["status"] == WARNING]
    body = {
        "status": DEGRADED if degraded else OK,
        "degraded": degraded,
        "warnings": warnings,
        "checked_at": _time(timezone.now()),
        "checks": checks,
    }
    response = JsonResponse(body, status=503 if degraded else 200)
    response["Cache-Control"] = "no-store"
    return response
