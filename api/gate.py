"""The API's gate: who is calling, on which plan, and whether they may, now.

`admit(environ)` runs once per API request, from two places: the WSGI fast
path that answers cached /api/v4 GETs before Django (registry.caching
ResponseCacheApp, through FAST_PATH_GATE) and, for everything else under
/api/, the Django middleware (api.middleware). Whichever runs first leaves
its Admission in the environ, and the other reuses it: a request is counted
once.

- Identity: `Authorization: Bearer mb_…` (or `X-API-Key: mb_…`) names an
  organization's key, and so its plan; no key is an anonymous caller on the
  free plan, counted per IP address (IPv6 per /64). A key that is unknown,
  revoked or expired is refused with 401, never served as anonymous.
- Rate limit: a fixed window (RATE_LIMIT_WINDOW_SECONDS, 60) per caller, the
  plan's rate_limit_per_minute scaled to it, counted in Redis, shared by
  every process. A process leases runs of slots from the shared counter and
  hands them out locally (api.rate_count), so a busy caller's requests cost
  a round trip only every so often; the last fifth of a limit is counted
  one request at a time, so the 429 comes at the exact count, and no caller
  is ever served more than its limit. Without Redis (the embedded default)
  the Django cache counts, with add + incr: exact within one process only,
  which is all the local-memory cache serves anyway.
- If Redis is down the gate fails open: the request is served without
  rate-limit headers (X-Plan still says the plan), and a warning is logged at
  most every few seconds. Refusing every API call because the counter is
  unreachable would turn a cache outage into an API outage.
- Keys and plans are memoised in the process for API_KEY_CACHE_SECONDS, so a
  request costs no query, and most cost no round trip either.
- Responses are cached per plan *as it stands*: the key names the plan's slug
  and a digest of its figures (`plan_cache_key`), so a curator's edit retires
  every answer computed under the old figures as soon as a process reads the
  plan again (at once in the process that saved it, within
  API_KEY_CACHE_SECONDS in the others), instead of replaying them until they
  expire. The fast path never
  queries the database: when its memo cannot answer it leaves the request to
  Django, whose middleware looks the key up and fills the memo.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from hmac import compare_digest

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone

from registry.caching import CACHE_ERRORS, PLAN_ENVIRON_KEY, _redis_client
from registry.models import Plan

from .access import ANONYMOUS_PLAN, CALLER_ENVIRON_KEY, Caller
from .errors import error_body
from .models import ApiKey, key_digest, key_prefix
from .rate_count import WindowCounter

logger = logging.getLogger("modelboard.api.gate")

ADMISSION_ENVIRON_KEY = "modelboard.admission"
# How often last_used_at is written, at most, per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_MEMO_MAX = 10_000
_clock = time.time  # wall-clock seconds, for the windows (tests pin it)
_WARN_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class Refusal:
    """An answer given instead of the API's: status, JSON body, and its own headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def content_type(self) -> str:
        return "application/json"


@dataclass(frozen=True)
class Admission:
    """What the gate decided: the caller, headers for the response, and a refusal if any."""

    caller: Caller
    headers: tuple[tuple[str, str], ...]
    refusal: Refusal | None = None


@dataclass(frozen=True)
class Window:
    """One caller's position in the current rate-limit window."""

    limit: int
    used: int
    reset_at: int  # epoch seconds
    seconds: int  # the window's length

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def reset_in(self, now: float) -> int:
        return max(math.ceil(self.reset_at - now), 1)


class _InvalidKey(Exception):
    pass


# --- Memo of keys and plans ----------------------------------------------------------

_lock = threading.Lock()
_keys: dict[str, tuple[Caller | None, float]] = {}  # key digest -> (caller or invalid, read at)
_plans: dict[str, tuple[Plan, float]] = {}  # slug -> (plan, read at)
_plan_keys: dict[int, tuple[Plan, str]] = {}  # id(plan) -> (that plan, its cache key part)
_last_warning = 0.0


def forget() -> None:
    """Drop this process's memo of keys and plans (after an edit; tests).

    Its leased rate-limit slots stay: they are counted in Redis already, and
    a lowered limit refuses any slot above it anyway.
    """
    with _lock:
        _keys.clear()
        _plans.clear()
        _plan_keys.clear()


def plan_cache_key(plan: Plan) -> str:
    """What cached responses are keyed on for `plan`: its slug and a digest of its figures.

    Any edit of the plan (page size, filter depth …) changes it, so answers
    computed under the old figures are never replayed under the new ones.
    Memoised per plan object (a memoised plan is never changed in place):
    the digest costs a few microseconds, the fast path's whole budget.
    """
    held = _plan_keys.get(id(plan))
    if held is not None and held[0] is plan:
        return held[1]
    figures = repr([getattr(plan, field.attname) for field in Plan._meta.concrete_fields])
    digest = hashlib.blake2b(figures.encode(), digest_size=8).hexdigest()
    found = f"{plan.slug}:{digest}"
    with _lock:
        if len(_plan_keys) >= _MEMO_MAX:
            _plan_keys.clear()
        _plan_keys[id(plan)] = (plan, found)  # holding the plan keeps its id from being reused
    return found


def _memo_seconds() -> float:
    return settings.API_KEY_CACHE_SECONDS


def _plan(slug: str, *, database: bool) -> Plan | None:
    now = time.monotonic()
    held = _plans.get(slug)
    if held is not None and now - held[1] < _memo_seconds():
        return held[0]
    if not database:
        return None
    plan = Plan.objects.get(slug=slug)
    _plans[slug] = (plan, now)
    return plan


def anonymous_plan() -> Plan:
    """The anonymous callers' plan (free), memoised like the rest."""
    return _plan(ANONYMOUS_PLAN, database=True)


def _presented_key(environ: dict) -> str | None:
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return token.strip()
    # Other schemes (Basic from a proxy in front, say) are not meant for us.
    presented = environ.get("HTTP_X_API_KEY")
    return presented.strip() if presented is not None else None


def _key_caller(plaintext: str, *, database: bool) -> Caller | None:
    """The caller a key names; None when only the database could tell (and it may not be used)."""
    digest = key_digest(plaintext)
    now = time.monotonic()
    held = _keys.get(digest)
    if held is not None and now - held[1] < _memo_seconds():
        if held[0] is None:
            raise _InvalidKey
        return held[0]
    if not database:
        return None
    caller = _look_up_key(plaintext, digest)
    with _lock:
        if len(_keys) >= _MEMO_MAX:
            _keys.clear()  # a flood of made-up keys must not grow the memo without bound
        _keys[digest] = (caller, now)
    if caller is None:
        raise _InvalidKey
    return caller


def _look_up_key(plaintext: str, digest: str) -> Caller | None:
    prefix = key_prefix(plaintext)
    if prefix is None:
        return None
    key = ApiKey.objects.select_related("organization__plan").filter(prefix=prefix).first()
    if key is None or not compare_digest(key.secret_hash, digest):
        return None
    now = timezone.now()
    if not key.usable(now):
        return None
    stale = now - LAST_USED_RESOLUTION
    if key.last_used_at is None or key.last_used_at < stale:
        # Conditional, so that several processes write it once a minute between them.
        ApiKey.objects.filter(pk=key.pk).exclude(last_used_at__gte=stale).update(last_used_at=now)
    return Caller(
        plan=key.organization.plan,
        ident=f"key:{key.prefix}",
        api_key_id=key.pk,
        organization_id=key.organization_id,
    )


def client_address(environ: dict) -> str:
    """The address an anonymous caller is counted by.

    REMOTE_ADDR, unless RATE_LIMIT_TRUSTED_PROXIES says how many proxies of
    ours append to X-Forwarded-For (1 behind deploy/nginx.conf); an IPv6
    address counts as its /64, which one subscriber usually holds whole.
    """
    address = environ.get("REMOTE_ADDR", "")
    hops = settings.RATE_LIMIT_TRUSTED_PROXIES
    if hops:
        chain = [a.strip() for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        chain = [a for a in chain if a]
        if chain:
            address = chain[-min(hops, len(chain))]
    if ":" in address:
        try:
            return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
        except ValueError:
            pass
    return address


# --- Counting ------------------------------------------------------------------------

# This process's leases of the shared counters.
counter = WindowCounter()


def _count(key: str, *, ttl: int, limit: int, ends_at: float, now: float) -> int:
    """Count one request under `key` (expiring after `ttl` seconds); its place in the window."""
    slot = counter.take(key)  # a slot leased already: the usual case for a busy caller
    if slot is not None:
        return slot
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return counter.count(
            _redis_client(backend),
            key,
            redis_key=backend.make_and_validate_key(key),
            limit=limit,
            ttl=ttl,
            ends_at=ends_at,
            wall=now,
        )
    # Not atomic across processes: the local-memory cache is per process anyway.
    if backend.add(key, 1, timeout=ttl):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired between the two calls
        backend.set(key, 1, timeout=ttl)
        return 1


def rate_window(caller: Caller, *, now: float | None = None) -> Window | None:
    """Count this request against the caller's window; None when the counter is unreachable."""
    global _last_warning
    now = _clock() if now is None else now
    seconds = settings.RATE_LIMIT_WINDOW_SECONDS
    limit = max(round(caller.plan.rate_limit_per_minute * seconds / 60), 1)
    started = int(now // seconds) * seconds
    try:
        used = _count(
            f"ratelimit:{caller.ident}:{started}",
            ttl=seconds + 1,
            limit=limit,
            ends_at=started + seconds,
            now=now,
        )
    except CACHE_ERRORS:
        if now - _last_warning > _WARN_EVERY_SECONDS:
            _last_warning = now
            logger.warning("rate-limit counter unavailable: serving without limits", exc_info=True)
        return None
    return Window(limit=limit, used=used, reset_at=started + seconds, seconds=seconds)


def rate_limit_headers(window: Window, *, now: float) -> list[tuple[str, str]]:
    """The IETF draft headers (as the Hub sends them) and the X-RateLimit-* trio (as GitHub)."""
    reset_in = window.reset_in(now)
    return [
        ("RateLimit-Policy", f'"default";q={window.limit};w={window.seconds}'),
        ("RateLimit", f'"default";r={window.remaining};t={reset_in}'),
        ("X-RateLimit-Limit", str(window.limit)),
        ("X-RateLimit-Remaining", str(window.remaining)),
        ("X-RateLimit-Reset", str(window.reset_at)),
    ]


# --- The gate --------------------------------------------------------------------------


def _json(code: str, message: str) -> bytes:
    return json.dumps(error_body(code, message), ensure_ascii=False, separators=(",", ":")).encode()


def _counted(environ: dict) -> bool:
    if not settings.RATE_LIMIT_ENABLED:
        return False
    path = environ.get("PATH_INFO", "")
    return not any(path.startswith(p) for p in settings.RATE_LIMIT_EXEMPT_PATHS)


def admit(environ: dict, *, database: bool = True) -> Admission | None:
    """Identify the caller, count the request, and decide: the Admission, kept in the environ.

    Returns None only when `database` is False and the memo cannot tell who
    is calling: the caller (the fast path) then leaves the request to Django.
    """
    admission = environ.get(ADMISSION_ENVIRON_KEY)
    if admission is not None:
        return admission
    refusal = None
    presented = _presented_key(environ)
    try:
        caller = _key_caller(presented, database=database) if presented is not None else None
    except _InvalidKey:
        # Counted against the address, like anonymous calls: guessing keys costs quota.
        caller = None
        refusal = Refusal(
            status=401,
            body=_json("invalid_api_key", "The API key is unknown, revoked or expired."),
            headers=(("WWW-Authenticate", 'Bearer error="invalid_token"'),),
        )
    if caller is None:
        if presented is not None and refusal is None:
            return None  # a key only the database can check
        plan = _plan(ANONYMOUS_PLAN, database=database)
        if plan is None:
            return None
        caller = Caller(plan=plan, ident=f"ip:{client_address(environ)}")
    headers = [("X-Plan", caller.plan.slug)]
    if _counted(environ):
        now = _clock()
        window = rate_window(caller, now=now)
        if window is not None:
            headers += rate_limit_headers(window, now=now)
            if window.exceeded:
                reset_in = window.reset_in(now)
                refusal = Refusal(
                    status=429,
                    body=_json(
                        "rate_limited",
                        f"Rate limit of {caller.plan.rate_limit_per_minute} requests a minute "
                        f"on the {caller.plan.slug} plan exceeded; retry in {reset_in} s.",
                    ),
                    headers=(("Retry-After", str(reset_in)),),
                )
    admission = Admission(caller=caller, headers=tuple(headers), refusal=refusal)
    environ[ADMISSION_ENVIRON_KEY] = admission
    environ[CALLER_ENVIRON_KEY] = caller
    environ[PLAN_ENVIRON_KEY] = plan_cache_key(caller.plan)
    return admission


def fast_path_gate(environ: dict):
    """registry.caching's FAST_PATH_GATE: (headers, refusal or None), or None for Django to decide.

    A refusal is (status, headers, body) with every header it needs.
    """
    admission = admit(environ, database=False)
    if admission is None:
        return None
    refusal = admission.refusal
    if refusal is None:
        return list(admission.headers), None
    headers = [
        ("Content-Type", refusal.content_type),
        ("X-Content-Type-Options", "nosniff"),
        *admission.headers,
        *refusal.headers,
    ]
    return list(admission.headers), (refusal.status, headers, refusal.body)
