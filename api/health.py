"""/api/v4/health: is Modelboard serving fresh data, and can it keep doing so?

Each check reports a status and its figures. "degraded" in any check makes
the answer 503 (for load balancers and uptime monitors); "warning" is said
but keeps 200. Never cached: every call looks again.

- database, cache, broker: reachable (the broker is "eager" when tasks run
  in-process, without one);
- queues: messages waiting per Celery queue (a warning above
  HEALTH_QUEUE_WARNING);
- snapshot: age of the snapshot being served, against the refresh schedule
  (degraded when older than twice REFRESH_EVERY_MINUTES plus
  HEALTH_GRACE_MINUTES, or when there is none);
- refresh: the last Hub refresh's status and error (degraded when it failed
  or ran out of budget);
- quota: the Hub's rate-limit quota the last refresh saw (a warning under
  10 % left);
- cache_hit_rate: hits and misses of cached pages and responses.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache, caches
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request

from registry import metrics
from registry.caching import lookup_stats
from snapshots import selectors as snapshot_selectors
from snapshots.models import Snapshot

from .v4 import selectors
from .v4.schema import errors

logger = logging.getLogger("modelboard.health")

OK, WARNING, DEGRADED, EAGER = "ok", "warning", "degraded", "eager"
QUOTA_WARNING_FRACTION = 0.10


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
            "error": run.error or None,
        },
    }


def check_quota() -> dict:
    run = selectors.latest_refresh()
    if run is None or run.quota_remaining is None:
        return {"status": OK, "remaining": None, "limit": None, "detail": "no quota seen yet"}
    check = {
        "status": OK,
        "remaining": run.quota_remaining,
        "limit": run.quota_limit,
        "seen_at": _time(run.finished_at or run.taken_at),
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


CHECKS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "queues": check_queues,
    "snapshot": check_snapshot,
    "refresh": check_refresh,
    "quota": check_quota,
    "cache_hit_rate": check_cache_hit_rate,
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


HEALTH = inline_serializer(
    name="Health",
    fields={
        "status": serializers.ChoiceField(choices=[OK, DEGRADED]),
        "degraded": serializers.ListField(child=serializers.CharField()),
        "warnings": serializers.ListField(child=serializers.CharField()),
        "checked_at": serializers.DateTimeField(),
        "checks": serializers.DictField(
            child=serializers.DictField(), help_text="Each check: its status and figures."
        ),
    },
)


@extend_schema(
    operation_id="health_retrieve",
    summary="Is Modelboard serving fresh data, and can it keep doing so?",
    responses={
        200: HEALTH,
        503: OpenApiResponse(response=HEALTH, description="A check is degraded."),
        **{s: r for s, r in errors().items() if s != 503},
    },
    tags=["operations"],
)
@api_view(["GET"])
def health(request: Request) -> JsonResponse:
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
