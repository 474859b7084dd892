"""Rate-limit counting with leased slots, on a real Redis, by two or three "processes".

Each process is a WindowCounter of its own with a clock of its own, sharing
the counter in Redis as gunicorn's workers do.
"""

from __future__ import annotations

import random

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches

from api import gate
from api.rate_count import WindowCounter

pytestmark = pytest.mark.skipif(
    not django_settings.REDIS_URL, reason="needs Redis (REDIS_URL): the counters live there"
)

NOW = 1_800_000_000.0 + 15
ENDS = NOW + 45
LIMIT = 100


@pytest.fixture
def redis():
    backend = caches["default"]
    client = gate._redis_client(backend)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def key():
    return caches["default"].make_and_validate_key("ratelimit:key:test:1800000000")


class Process:
    """One server process: its own leases, its own clock (frozen unless it waits)."""

    def __init__(self, client, key: str, limit: int = LIMIT) -> None:
        self.client, self.key, self.limit = client, key, limit
        self.ticks = 0.0
        self.counter = WindowCounter(clock=lambda: self.ticks)

    def request(self, wall: float = NOW) -> int:
        return self.counter.count(
            self.client, self.key, limit=self.limit, ttl=61, ends_at=ENDS, wall=wall
        )

    def wait(self, seconds: float) -> None:
        self.ticks += seconds


def shared_count(redis, key: str) -> int:
    return int(redis.get(key) or 0)


def test_two_processes_refuse_at_the_exact_count(redis, key):
    a, b = Process(redis, key), Process(redis, key)
    slots = [p.request() for _ in range(55) for p in (a, b)]  # 110 requests, turn about
    admitted = [s for s in slots if s <= LIMIT]
    assert sorted(admitted) == list(range(1, LIMIT + 1))  # each slot once, none beyond
    assert slots.index(LIMIT + 1) == LIMIT  # the 101st request is the first refused
    assert all(s == LIMIT + 1 for s in slots[LIMIT:])
    # The last fifth is counted one request at a time: those slots are the
    # requests' exact places in the window, so the headers there are too.
    assert slots[90:100] == list(range(91, 101))
    assert shared_count(redis, key) == LIMIT


def test_a_busy_caller_costs_a_round_trip_only_every_so_often(redis, key, monkeypatch):
    import redis as redis_module

    commands = []
    execute = redis_module.Redis.execute_command

    def counted(self, *args, **options):
        commands.append(args[0])
        return execute(self, *args, **options)

    monkeypatch.setattr(redis_module.Redis, "execute_command", counted)
    busy = Process(redis, key, limit=1_000_000)
    slots = []
    for _ in range(2000):
        busy.wait(0.0002)  # 5,000 requests a second
        slots.append(busy.request())
    assert slots == list(range(1, 2001))
    assert len(commands) <= 10, commands
    assert shared_count(redis, key) >= 2000  # every slot handed out is counted


def test_slots_leased_elsewhere_are_given_back_and_then_served(redis, key):
    a, b = Process(redis, key), Process(redis, key)
    assert [a.request(), a.request()] == [1, 2]  # the second leased 2-6 (a twentieth of 100)
    served_by_b = 0
    while b.request() <= LIMIT:
        served_by_b += 1
    # Refused a moment early: a holds 3-6 without having used them.
    assert served_by_b == LIMIT - 6
    a.wait(1.0)
    assert a.request() == 97  # a's sync gave its four back before it counted this one
    assert [b.request() for _ in range(4)] == [98, 99, 100, LIMIT + 1]
    assert 2 + served_by_b + 1 + 3 == LIMIT  # served in this window: exactly the limit


def test_processes_in_any_order_never_serve_more_than_the_limit(redis, key):
    rng = random.Random(2026)
    processes = [Process(redis, key) for _ in range(3)]
    served = 0
    for _ in range(400):
        process = rng.choice(processes)
        process.wait(rng.choice([0.0, 0.0, 0.001, 0.05, 0.5]))
        if process.request() <= LIMIT:
            served += 1
        assert served <= LIMIT and shared_count(redis, key) <= LIMIT
    for process in processes:  # every lease given back or used up …
        process.wait(1.0)
        while process.request() <= LIMIT:
            served += 1
    assert served == LIMIT  # … and the window served exactly its limit


def test_unused_slots_are_given_back_once_their_lease_is_a_second_old(redis, key):
    a = Process(redis, key)
    a.request()
    a.request()  # holds 3-6
    a.wait(0.5)
    assert a.counter.sync(redis, wall=NOW) == 0  # still the caller's to use here
    assert shared_count(redis, key) == 6
    a.wait(0.5)
    assert a.counter.sync(redis, wall=NOW) == 4
    assert shared_count(redis, key) == 2


def test_an_expired_counter_is_not_brought_back_by_giving_slots_back(redis, key):
    a = Process(redis, key)
    a.request()
    a.request()  # holds 3-6
    redis.delete(key)  # the window's counter expired
    a.wait(1.0)
    assert a.counter.sync(redis, wall=NOW) == 4
    assert redis.exists(key) == 0


def test_leases_of_an_ended_window_are_dropped(redis, key):
    a = Process(redis, key)
    a.request()
    a.request()
    assert a.counter.sync(redis, wall=ENDS) == 0  # nothing given back: the counter expires
    assert shared_count(redis, key) == 6
    assert a.request(wall=ENDS) == 7  # the key is gone from the leases: a fresh lease
