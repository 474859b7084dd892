"""Versioned cache keys for pages and API responses, and the one hook that
invalidates them.

Every cached response's key carries the content generation: a counter bumped
by `content_changed()` whenever what readers see may change (a snapshot is
published, curators edit tags, rules, providers …). Old entries are never
deleted one by one; they stop being asked for and expire.

`cached_get` wraps a whole GET view: on a hit it answers from the stored
bytes, with no database query and a single cache round trip. In front of
Django, `ResponseCacheApp` (a WSGI wrapper, see registry/wsgi.py) answers
hits before Django's request cycle even starts, from a small per-process copy
it re-validates against the generation at least every second: Django's
request cycle alone costs more than the API's latency budget. Entries are
responses as they were sent (compressed, with their strong ETag), keyed on
the negotiated coding too, and the wrapper answers `If-None-Match` from them.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponse
from redis.exceptions import RedisError

from . import metrics
from .cache_policy import NOT_MODIFIED_HEADERS, has_credentials, if_none_match
from .compression import negotiate_encoding

logger = logging.getLogger("modelboard.cache")

GENERATION_KEY = "content-generation"
# Lookups and misses are counted; hits are the difference. A cached view
# counts its lookup in the same round trip as the lookup itself, before it
# knows whether it hits.
STATS_KEYS = {"lookups": "cache-stats:lookups", "miss": "cache-stats:misses"}
# How long a cached view trusts its memo of the content version (the latest
# snapshot's id) before asking the database again. The generation retires
# entries at once on every publish; this bounds how long an entry could
# outlive a publish whose hook never ran (the cache was down at that moment).
VERSION_RECHECK_SECONDS = 30
# Headers a stored response must not replay: they belong to one request (the
# API gate's plan and rate-limit headers to one caller).
_UNSTORED_HEADERS = {
    "content-length",
    "set-cookie",
    "x-cache",
    "x-plan",
    "ratelimit",
    "ratelimit-policy",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "retry-after",
}
# The caller's plan, put in the environ by the API gate: responses may differ
# by plan (page-size caps …), so it is part of every cached response's key.
# The gate puts the plan's slug and a digest of its figures there, so an edit
# of the plan retires what was cached under the old figures.
PLAN_ENVIRON_KEY = "modelboard.plan"
# What a cache that is down raises.
CACHE_ERRORS = (OSError, RedisError)

# The last generation this process saw: a cached view guesses its key with it
# and so needs a single round trip as long as nothing changed.
_seen_generation: int | None = None


def content_generation() -> int:
    """The current generation.

    A fresh (or flushed, or evicted) generation starts from the clock in
    milliseconds rather than from 1, so it never comes back to a number that
    entries still in the cache were stored under.
    """
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, int(time.time() * 1000), timeout=None)
        generation = cache.get(GENERATION_KEY)
        if generation is None:  # evicted at once: answer without the key
            return int(time.time() * 1000)
    return int(generation)


def content_changed(*, reason: str) -> int:
    """Invalidate every versioned entry at once; returns the new generation.

    Call it after the change has committed (transaction.on_commit), so no
    reader caches the old content under the new generation.
    """
    content_generation()  # make sure the key exists before incrementing it
    try:
        generation = cache.incr(GENERATION_KEY)
    except ValueError:  # evicted between the two calls
        generation = int(time.time() * 1000)
        cache.set(GENERATION_KEY, generation, timeout=None)
    logger.info("content changed (%s): cache generation %d", reason, generation)
    return int(generation)


def _key(generation: int, namespace: str, parts: tuple) -> str:
    raw = "\x1f".join(str(p) for p in parts)
    digest = hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()
    return f"v{generation}:{namespace}:{digest}"


def versioned_key(namespace: str, *parts: object) -> str:
    """A cache key for `namespace` and `parts` under the current generation."""
    return _key(content_generation(), namespace, parts)


def versioned_value(namespace: str, *parts: object, compute: Callable[[], object]) -> object:
    """`compute()`, kept under `namespace` and `parts` until content changes.

    For figures only a publish or a curation change can move (a board's
    counts, its filter options): computed once per generation and parts,
    then read back. Put what pins the data (a snapshot's id) in `parts` as
    well: a publish whose hook never ran must still not be answered from
    the figures of the one before. When the cache is down it computes.
    """
    try:
        key = versioned_key(namespace, *parts)
        found = cache.get(key)
    except CACHE_ERRORS:
        logger.warning("cache unavailable: computing %s", namespace, exc_info=True)
        return compute()
    if found is None:
        found = compute()
        try:
            cache.set(key, found)
        except CACHE_ERRORS:
            logger.warning("could not keep %s in the cache", namespace, exc_info=True)
    return found


# --- Shared counters, and single round trips on Redis ------------------------


def _redis_client(backend: RedisCache):
    # Django builds a new client object for every call (about 0.1 ms each);
    # a cached view makes one per request, so keep one per backend instance
    # (Django keeps one backend instance per thread).
    client = backend.__dict__.get("_modelboard_client")
    if client is None:
        client = backend._cache.get_client(write=True)
        backend.__dict__["_modelboard_client"] = client
    return client


def _incr_shared(key: str) -> None:
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        # One INCR, which creates the key at 0 if missing; Django stores
        # integers unpickled, so `get` reads it back as it is.
        _redis_client(backend).incr(backend.make_and_validate_key(key))
        return
    if not backend.add(key, 1, timeout=None):
        try:
            backend.incr(key)
        except ValueError:  # evicted between the two calls
            backend.set(key, 1, timeout=None)


def _count(*, hit: bool, lookup_counted: bool = False) -> None:
    metrics.CACHE_LOOKUPS.labels(result="hit" if hit else "miss").inc()
    try:
        if not lookup_counted:
            _incr_shared(STATS_KEYS["lookups"])
        if not hit:
            _incr_shared(STATS_KEYS["miss"])
    except Exception:  # a statistic is not worth failing a request for
        logger.warning("could not count a cache lookup", exc_info=True)


def record_lookup(*, hit: bool) -> None:
    """Count a cache hit or miss (shared across processes through the cache)."""
    _count(hit=hit)


def lookup_stats() -> dict[str, int]:
    """Hits and misses counted so far (since the cache was last cleared)."""
    values = cache.get_many(list(STATS_KEYS.values()))
    lookups = int(values.get(STATS_KEYS["lookups"]) or 0)
    misses = int(values.get(STATS_KEYS["miss"]) or 0)
    return {"hit": max(lookups - misses, 0), "miss": misses}


def _get_many_counting(keys: list[str], count: int = 1) -> list[object | None]:
    """The values of `keys` (None when absent), and `count` lookups counted, in one round trip."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        pipe = _redis_client(backend).pipeline(transaction=False)
        pipe.mget([backend.make_and_validate_key(k) for k in keys])
        if count:
            pipe.incrby(backend.make_and_validate_key(STATS_KEYS["lookups"]), count)
        raw = pipe.execute()[0]
        loads = backend._cache._serializer.loads
        return [None if value is None else loads(value) for value in raw]
    for _ in range(count):
        _incr_shared(STATS_KEYS["lookups"])
    found = backend.get_many(keys)
    return [found.get(k) for k in keys]


# --- Whole responses -------------------------------------------------------------


def response_cache_enabled() -> bool:
    """False when RESPONSE_CACHE_ENABLED is off (e.g. to measure uncached latency)."""
    return settings.RESPONSE_CACHE_ENABLED


def request_parts(meta: Mapping) -> tuple[str, ...]:
    """What a cached response is keyed on: scheme, host, path, query string, the
    caller's plan, and which representation of it the request gets (`representation`).

    Read from the WSGI environ (a request's META), the same way before Django
    has seen the request (ResponseCacheApp) and inside a view (cached_get).
    The host is the one asked for: an entry is stored only after Django has
    validated it against ALLOWED_HOSTS, and page links in the body name it.
    """
    scheme = meta.get("wsgi.url_scheme", "http")
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy and meta.get(proxy[0], "").split(",")[0].strip() == proxy[1]:
        scheme = "https"
    host = meta.get("HTTP_HOST") or f"{meta.get('SERVER_NAME', '')}:{meta.get('SERVER_PORT', '')}"
    path = meta.get("SCRIPT_NAME", "") + meta.get("PATH_INFO", "")
    return (
        scheme,
        host,
        path,
        meta.get("QUERY_STRING", ""),
        meta.get(PLAN_ENVIRON_KEY, ""),
        *representation(meta),
    )


def representation(meta: Mapping) -> tuple[str, str]:
    """The request's content coding, and whether its answer is the caller's alone.

    Entries are stored as they left Django: compressed, with their ETag and
    their Cache-Control (`private` for requests with credentials, see
    registry.cache_policy), so each of these gets entries of its own.
    """
    encoding = negotiate_encoding(meta.get("HTTP_ACCEPT_ENCODING"))
    return encoding, "private" if has_credentials(meta) else "public"


def _lookup(namespace: str, parts: tuple) -> tuple[int, str, object, object]:
    """The generation, the entry's key under it, the entry and the version memo.

    The memo is stored as (generation, version) under a key of its own, and
    the entry's key is guessed from the last generation this process saw, so
    the usual lookup is one round trip for the three (and the lookup counted).
    A second is needed only when the generation moved.
    """
    global _seen_generation
    guess = _seen_generation
    keys = [GENERATION_KEY, _memo_key(namespace)]
    if guess is not None:
        keys.append(_key(guess, namespace, parts))
    generation, memo, *entry = _get_many_counting(keys)
    if generation is None:
        generation = content_generation()
    if generation != guess:
        _seen_generation = generation
        entry = [cache.get(_key(generation, namespace, parts))]
    return generation, _key(generation, namespace, parts), entry[0], _memo_version(memo, generation)


def _memo_key(namespace: str) -> str:
    return f"{namespace}:version"


def _memo_version(memo: object, generation: int) -> object:
    return memo[1] if isinstance(memo, tuple) and memo[0] == generation else None


def _replay(entry: tuple) -> HttpResponse:
    _, status, headers, body = entry
    response = HttpResponse(body, status=status)
    for name, value in headers:
        response[name] = value
    response["X-Cache"] = "HIT"
    return response


# The protocol between ResponseCacheApp and cached_get, in the WSGI environ.
_WRAPPED = "modelboard.response_cache"  # set by the wrapper: it stores and keeps copies
_FILL = "modelboard.response_cache.fill"  # set by the view: a hit the wrapper may keep
_STORE = "modelboard.response_cache.store"  # set by the view: a miss the wrapper stores


def cached_get(
    namespace: str,
    *,
    version: Callable[[], object] | None = None,
    timeout: int | None = None,
) -> Callable:
    """Cache a GET view's successful responses as bytes, under the content generation.

    The key is the namespace and `request_parts` (the URL, the negotiated
    coding, keyed caller or not), under the generation; `version()` (e.g.
    the latest snapshot's id) is stored with each entry and must match a
    memo of it, which is asked again at least every VERSION_RECHECK_SECONDS.
    Only 200 responses are stored, and not those that say `Cache-Control:
    no-store`. Each response says `X-Cache: HIT` or `MISS`; hits and misses
    are counted.

    Behind ResponseCacheApp the view leaves storing to the wrapper, which
    sees the response as it leaves Django, with every middleware's headers.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method != "GET" or not response_cache_enabled():
                return view(request, *args, **kwargs)
            meta = request.META
            try:
                generation, key, entry, current = _lookup(namespace, request_parts(meta))
                if version is not None and current is None:
                    current = version()
                    cache.set(_memo_key(namespace), (generation, current), VERSION_RECHECK_SECONDS)
            except CACHE_ERRORS:  # the cache is down: answer, uncached
                logger.warning("response cache unavailable", exc_info=True)
                return view(request, *args, **kwargs)
            if entry is not None and entry[0] == current:
                _count(hit=True, lookup_counted=True)
                if meta.get(_WRAPPED):
                    meta[_FILL] = (namespace, generation, current, entry)
                return _replay(entry)
            _count(hit=False, lookup_counted=True)
            response = view(request, *args, **kwargs)
            storable = "no-store" not in response.get("Cache-Control", "")
            if response.status_code == 200 and not response.streaming and storable:
                if meta.get(_WRAPPED):
                    meta[_STORE] = (namespace, generation, current, key, timeout)
                else:
                    if hasattr(response, "render"):
                        response.render()  # DRF and template responses render lazily
                    _store(
                        key,
                        _entry(current, response.status_code, response.items(), response.content),
                        timeout,
                    )
            response["X-Cache"] = "MISS"
            return response

        return wrapper

    return decorator


def _entry(current: object, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> tuple:
    kept = [(name, value) for name, value in headers if name.lower() not in _UNSTORED_HEADERS]
    return (current, status, kept, body)


def _store(key: str, entry: tuple, timeout: int | None) -> None:
    try:
        if timeout is None:
            cache.set(key, entry)
        else:
            cache.set(key, entry, timeout)
    except CACHE_ERRORS:
        logger.warning("could not store a response in the cache", exc_info=True)


# --- In front of Django ----------------------------------------------------------

# Path prefixes served by cached views, and their cache namespace. Apps
# register theirs when ready (api.apps), before the first request.
FAST_PATH_ROUTES: dict[str, str] = {}
# What runs before any answer under FAST_PATH_ROUTES (api.gate registers it):
# called with the environ, it returns None to leave the request to Django, or
# (headers for the answer, refusal) where a refusal is (status, headers, body)
# to answer instead. It may set PLAN_ENVIRON_KEY, which the cache key includes.
FAST_PATH_GATE: Callable[[dict], tuple | None] | None = None


# Bound once: looking the label up costs a hit in front of Django a few microseconds.
_FAST_HITS = metrics.CACHE_LOOKUPS.labels(result="hit")


class ResponseCacheApp:
    """A WSGI wrapper that answers cached GETs before Django's request cycle.

    Only for paths under FAST_PATH_ROUTES. Each process keeps the entries it
    served in memory (at most RESPONSE_CACHE_LOCAL_BYTES) and asks Redis for
    the generation and the version memo at most every
    RESPONSE_CACHE_LOCAL_SECONDS: a publish shows within that time, and a
    hit costs no round trip at all. An entry not held locally is looked for
    in the shared cache; anything else goes to Django, where the cached view
    decides, and the wrapper stores what it answered, with the final headers.

    FAST_PATH_GATE (the API gate) runs first: it may refuse the request, it
    names the caller's plan, part of the key, and its headers go on the hit.

    Requests it answers skip Django's middleware, django-prometheus's request
    metrics included; they are counted in modelboard_cache_lookups_total and
    in the shared hit statistics (which it updates at each re-validation).
    """

    def __init__(self, app: Callable) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._local: OrderedDict[tuple, tuple] = OrderedDict()
        self._local_bytes = 0
        self._states: dict[str, tuple[int, object, float]] = {}
        self._unflushed_hits = 0

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        namespace = self._route(environ)
        if namespace is None:
            return self.app(environ, start_response)
        decided = self._gate(environ)
        if decided is not None:
            gated, refusal = decided
            if refusal is not None:
                status, headers, body = refusal
                start_response(
                    f"{status} {HTTPStatus(status).phrase}",
                    [*headers, ("Content-Length", str(len(body)))],
                )
                return [body]
            try:
                served = self._serve(
                    namespace,
                    request_parts(environ),
                    start_response,
                    gated,
                    environ.get("HTTP_IF_NONE_MATCH"),
                )
            except Exception:  # whatever went wrong, Django can still answer
                logger.warning("response cache lookup failed", exc_info=True)
                return self.app(environ, start_response)
            if served is not None:
                return served
        # A miss, or a caller only Django's side of the gate can identify:
        # Django answers, and what it answers is stored here.
        environ[_WRAPPED] = True
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return (
                start_response(status, headers, exc_info)
                if exc_info
                else start_response(status, headers)
            )

        result = self.app(environ, capture)
        parts = request_parts(environ)  # the gate has named the plan by now
        fill, store = environ.get(_FILL), environ.get(_STORE)
        if fill is not None:
            _, generation, current, entry = fill
            self._keep((namespace, parts), generation, entry)
        if store is None or not captured.get("status", "").startswith("200 "):
            return result
        if any(name.lower() == "set-cookie" for name, _ in captured["headers"]):
            return result
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()  # Django's request_finished
        _, generation, current, key, timeout = store
        entry = _entry(current, 200, captured["headers"], body)
        _store(key, entry, timeout)
        self._keep((namespace, parts), generation, entry)
        return [body]

    def _gate(self, environ: dict) -> tuple | None:
        """FAST_PATH_GATE's decision: (headers, refusal), or None for Django to take."""
        if FAST_PATH_GATE is None:
            return [], None
        try:
            return FAST_PATH_GATE(environ)
        except Exception:  # Django's middleware runs the gate again, and answers
            logger.warning("API gate failed in front of Django", exc_info=True)
            return None

    def _route(self, environ: dict) -> str | None:
        if environ.get("REQUEST_METHOD") != "GET" or not response_cache_enabled():
            return None
        path = environ.get("PATH_INFO", "")
        for prefix, namespace in FAST_PATH_ROUTES.items():
            if path.startswith(prefix):
                return namespace
        return None

    def _current(self, namespace: str) -> tuple[int, object] | None:
        """The generation and version entries must carry, re-read every few moments."""
        now = time.monotonic()
        state = self._states.get(namespace)
        if state is not None and now - state[2] < _local_seconds():
            return state[0], state[1]
        with self._lock:
            unflushed, self._unflushed_hits = self._unflushed_hits, 0
        try:
            generation, memo = _get_many_counting(
                [GENERATION_KEY, _memo_key(namespace)], count=unflushed
            )
        except Exception:
            with self._lock:
                self._unflushed_hits += unflushed
            raise
        current = None if generation is None else _memo_version(memo, generation)
        if current is None:
            # Unknown until a view asks the database: let the next one do it.
            self._states.pop(namespace, None)
            return None
        self._states[namespace] = (generation, current, now)
        return generation, current

    def _serve(
        self,
        namespace: str,
        parts: tuple,
        start_response: Callable,
        gated: list,
        condition: str | None,
    ):
        known = self._current(namespace)
        if known is None:
            return None
        generation, current = known
        held = self._local.get((namespace, parts))
        if held is not None and held[0] == generation and held[1][0] == current:
            entry = held[1]
        else:
            entry = cache.get(_key(generation, namespace, parts))
            if entry is None or entry[0] != current:
                return None
            self._keep((namespace, parts), generation, entry)
        _FAST_HITS.inc()
        with self._lock:
            self._unflushed_hits += 1
        _, status, headers, body = entry
        etag = next((value for name, value in headers if name.lower() == "etag"), None)
        if if_none_match(condition, etag):
            kept = [(name, v) for name, v in headers if name.lower() in NOT_MODIFIED_HEADERS]
            start_response("304 Not Modified", [*kept, *gated, ("X-Cache", "HIT")])
            return [b""]
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [*headers, *gated, ("Content-Length", str(len(body))), ("X-Cache", "HIT")],
        )
        return [body]

    def _keep(self, local_key: tuple, generation: int, entry: tuple) -> None:
        size = len(entry[3])
        budget = _local_bytes()
        if size > budget // 4:
            return
        with self._lock:
            old = self._local.pop(local_key, None)
            if old is not None:
                self._local_bytes -= len(old[1][3])
            self._local[local_key] = (generation, entry)
            self._local_bytes += size
            while self._local_bytes > budget and self._local:
                _, (_, dropped) = self._local.popitem(last=False)
                self._local_bytes -= len(dropped[3])


def _local_seconds() -> float:
    return settings.RESPONSE_CACHE_LOCAL_SECONDS


def _local_bytes() -> int:
    return settings.RESPONSE_CACHE_LOCAL_BYTES
