"""Versioned cache keys for pages and API responses, and the one hook that
invalidates them.

Every cached response's key carries the content generation: a counter bumped
by `content_changed()` whenever what readers see may change (a snapshot is
published, curators edit tags, rules, providers …). Old entries are never
deleted one by one; they stop being asked for and expire.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache

logger = logging.getLogger("modelboard.cache")

GENERATION_KEY = "content-generation"
STATS_KEYS = {"hit": "cache-stats:hits", "miss": "cache-stats:misses"}


def content_generation() -> int:
    """The current generation (1 on a fresh cache)."""
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, 1, timeout=None)
        generation = cache.get(GENERATION_KEY, 1)
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
        cache.set(GENERATION_KEY, 2, timeout=None)
        generation = 2
    logger.info("content changed (%s): cache generation %d", reason, generation)
    return int(generation)


def versioned_key(namespace: str, *parts: object) -> str:
    """A cache key for `namespace` and `parts` under the current generation."""
    raw = "\x1f".join(str(p) for p in parts)
    digest = hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()
    return f"v{content_generation()}:{namespace}:{digest}"


def record_lookup(*, hit: bool) -> None:
    """Count a cache hit or miss (shared across processes through the cache)."""
    key = STATS_KEYS["hit" if hit else "miss"]
    if not cache.add(key, 1, timeout=None):
        try:
            cache.incr(key)
        except ValueError:  # evicted between the two calls
            cache.set(key, 1, timeout=None)


def lookup_stats() -> dict[str, int]:
    """Hits and misses counted so far (since the cache was last cleared)."""
    values = cache.get_many(list(STATS_KEYS.values()))
    return {name: int(values.get(key) or 0) for name, key in STATS_KEYS.items()}
