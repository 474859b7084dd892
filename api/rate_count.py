"""Rate-limit counting shared by every process, with slots leased ahead in batches.

Counting each request with its own Redis round trip was nearly all of a
cached answer's cost. Instead each process leases a run of slots from the
window's shared counter (one INCRBY in a Lua script) and hands them out
locally: a request's slot is its place in the caller's window, so the
rate-limit headers read `limit - slot` as before. The counter holds every
slot handed out or still leased, and never goes past the limit (a refused
request is not counted), so no caller is ever served more than its limit,
however many processes serve it, and once leases are used or given back it
is served exactly its limit.

- The size of a lease follows the caller's rate in this process: about what
  it uses in LEASE_SECONDS (1 to start with, at most MAX_LEASE and a
  twentieth of the limit). A caller making a request now and then leases
  one slot at a time: one round trip, as before. A busy one costs a round
  trip a second or so per process, rarely enough to stay out of the p99.
- Leases never reach into the last RESERVE_FRACTION of a limit: there every
  request is counted in Redis on its own, so a caller at the edge of its
  limit gets its 429 at the exact count, whichever process it reaches.
- Every SYNC_SECONDS a process looks (on the request path) for leases older
  than LEASE_SECONDS with slots it has not handed out, and gives those back
  in one round trip; a lease of a past window is just dropped. Until then a
  caller whose count reaches its limit while another process holds slots
  it leased but has not used is refused that many requests early (at most
  one lease: a twentieth of the limit, and only when the caller spent the
  last fifth of it within about a second), and served again once they are
  given back.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

SYNC_SECONDS = 0.1
LEASE_SECONDS = 1.0
RESERVE_FRACTION = 0.2
MAX_LEASE = 1000

# KEYS[1]: the window's counter. ARGV: the limit, the slots wanted, the
# slots kept out of leases at the end of the limit, the key's time to live.
# Returns {the last slot granted, how many}: one slot only in the reserve,
# none over the limit ({limit + 1, 0}: a refusal is not counted, so the
# counter never exceeds the limit and slots given back can still be used).
_LEASE_SCRIPT = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
if used >= limit then return {limit + 1, 0} end
local grant = math.max(1, math.min(tonumber(ARGV[2]), limit - tonumber(ARGV[3]) - used))
local last = redis.call('INCRBY', KEYS[1], grant)
if last == grant then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return {last, grant}
"""
# KEYS: counters; ARGV: the unused slots to give back to each. A counter
# that has expired is left alone (giving back would create it, forever).
_RELEASE_SCRIPT = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECRBY', key, ARGV[i]) end
end
return 0
"""


@dataclass
class _Lease:
    redis_key: str  # the shared counter it was leased from
    first: int  # the lease's first slot
    next: int  # the next slot to hand out
    last: int  # its last slot
    granted_at: float  # monotonic seconds
    ends_at: float  # wall-clock end of the window (the counter expires then)

    @property
    def left(self) -> int:
        return self.last - self.next + 1


class WindowCounter:
    """One process's view of the shared rate-limit counters (see the module docstring).

    `clock` (monotonic seconds) paces leases and syncs; tests give each of
    two instances their own to play two processes.
    """

    def __init__(
        self,
        *,
        sync_seconds: float = SYNC_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        reserve_fraction: float = RESERVE_FRACTION,
        max_lease: int = MAX_LEASE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sync_seconds = sync_seconds
        self.lease_seconds = lease_seconds
        self.reserve_fraction = reserve_fraction
        self.max_lease = max_lease
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._sizes: dict[str, int] = {}  # key -> the size of its next lease
        # Held while a lease is fetched too: two threads that find the same
        # lease spent must not both fetch one and lose the other's slots.
        self._lock = threading.Lock()
        self._synced_at = clock()
        self._scripts: dict[int, tuple] = {}

    def forget(self) -> None:
        """Drop every lease without giving anything back (tests; a flushed cache)."""
        with self._lock:
            self._leases.clear()
            self._sizes.clear()

    def take(self, key: str) -> int | None:
        """A slot this process holds for `key` already, without a round trip; None if none.

        None too when a sync is due: `count` does it.
        """
        if self._clock() - self._synced_at >= self.sync_seconds:
            return None
        with self._lock:
            lease = self._leases.get(key)
            if lease is None or lease.next > lease.last:
                return None
            slot = lease.next
            lease.next += 1
            return slot

    def count(
        self,
        client,
        key: str,
        *,
        redis_key: str | None = None,
        limit: int,
        ttl: int,
        ends_at: float,
        wall: float,
    ) -> int:
        """Count one request under `key` in a window ending at `ends_at`.

        Returns the request's slot in the window: above `limit`, it is over
        the limit. The shared counter is `redis_key` (`key` unless given);
        `wall` is the time now (epoch seconds, the windows' clock).
        """
        now = self._clock()
        if now - self._synced_at >= self.sync_seconds:
            self.sync(client, now=now, wall=wall)
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None and lease.left > 0:
                slot = lease.next
                lease.next += 1
                return slot
            wanted = self._size(key, lease, now, limit)
            reserve = math.ceil(limit * self.reserve_fraction)
            lease_script, _ = self._scripts_for(client)
            shared = redis_key or key
            last, granted = lease_script(
                keys=[shared], args=[limit, wanted, reserve, ttl], client=client
            )
            last, granted = int(last), int(granted)
            if not granted:
                return last  # over the limit
            first = last - granted + 1
            self._leases[key] = _Lease(
                redis_key=shared,
                first=first,
                next=first + 1,
                last=last,
                granted_at=now,
                ends_at=ends_at,
            )
            return first

    def sync(self, client, *, wall: float, now: float | None = None) -> int:
        """Give back the unused slots of leases older than LEASE_SECONDS; how many.

        Leases of windows ended by `wall` (epoch seconds) are dropped: their
        counters expire.
        """
        now = self._clock() if now is None else now
        given: dict[str, int] = {}
        with self._lock:
            self._synced_at = now
            for key, lease in list(self._leases.items()):
                if lease.ends_at <= wall:
                    del self._leases[key]
                    self._sizes.pop(key, None)
                elif now - lease.granted_at >= self.lease_seconds and lease.left > 0:
                    given[lease.redis_key] = lease.left
                    self._sizes[key] = self._rate_size(lease.next - lease.first, lease, now)
                    lease.last = lease.next - 1
        if given:
            _, release_script = self._scripts_for(client)
            release_script(keys=list(given), args=list(given.values()), client=client)
        return sum(given.values())

    # --- Sizes -----------------------------------------------------------------------

    def _size(self, key: str, spent: _Lease | None, now: float, limit: int) -> int:
        if spent is not None:  # used up: size the next one by how fast that went
            self._sizes[key] = self._rate_size(spent.last - spent.first + 1, spent, now)
        cap = max(1, min(self.max_lease, limit // 20))
        return min(self._sizes.get(key, 1), cap)

    def _rate_size(self, used: int, lease: _Lease, now: float) -> int:
        elapsed = max(now - lease.granted_at, 1e-4)
        return max(1, min(self.max_lease, int(used / elapsed * self.lease_seconds)))

    def _scripts_for(self, client) -> tuple:
        scripts = self._scripts.get(id(client))
        if scripts is None:
            scripts = (
                client.register_script(_LEASE_SCRIPT),
                client.register_script(_RELEASE_SCRIPT),
            )
            self._scripts[id(client)] = scripts
        return scripts
