"""Rate limits counted in Redis: headers on every response, 429 with Retry-After, X-Plan.

Against a real Redis (REDIS_URL); skipped without one, except the few tests
marked for the embedded fallback.
"""

from __future__ import annotations

import json
import threading

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpResponseNotModified
from django.test import RequestFactory

from api import gate
from api.middleware import ApiGateMiddleware
from api.rate_count import WindowCounter
from registry.hub import parse_ratelimit
from registry.models import Plan
from tests.factories import api_key, hub_record, published_snapshot

pytestmark = pytest.mark.django_db

URL = "/api/v4/models?limit=5"
NOW = 1_800_000_000.0 + 15  # 15 s into a window: 45 s to its reset
redis_only = pytest.mark.skipif(
    not django_settings.REDIS_URL, reason="needs Redis (REDIS_URL): the rate limit counts there"
)


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    """Every request in one window, whenever the test runs; leases never given back."""
    monkeypatch.setattr(gate, "_clock", lambda: NOW)
    monkeypatch.setattr(gate, "counter", WindowCounter(clock=lambda: 0.0))
    return NOW


@pytest.fixture
def board():
    return published_snapshot([hub_record("acme/one"), hub_record("acme/two")])


def limit_plan(slug: str, per_minute: int) -> None:
    Plan.objects.filter(slug=slug).update(rate_limit_per_minute=per_minute)
    gate.forget()  # an update() sends no signal


def key_on(plan: str, name: str = "key") -> str:
    return api_key(plan, name)


def bearer(plaintext: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def remaining(response) -> int:
    return int(response["X-RateLimit-Remaining"])


# --- Headers and 429 ----------------------------------------------------------------


@redis_only
def test_every_response_carries_the_rate_limit_headers_counting_down(client, board):
    assert isinstance(caches["default"], RedisCache)
    seen = [client.get(URL) for _ in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [r["X-Cache"] for r in seen] == ["MISS", "HIT", "HIT"]
    assert [remaining(r) for r in seen] == [59, 58, 57]
    last = seen[-1]
    assert last["X-Plan"] == "free"
    assert last["X-RateLimit-Limit"] == "60"
    assert last["X-RateLimit-Reset"] == str(1_800_000_060)
    assert last["RateLimit"] == '"default";r=57;t=45'
    assert last["RateLimit-Policy"] == '"default";q=60;w=60'
    # The Hub client reads them as it reads the Hub's.
    info = parse_ratelimit(dict(last.items()))
    assert (info.remaining, info.reset_seconds, info.limit, info.window_seconds) == (57, 45, 60, 60)


@redis_only
def test_it_answers_429_with_retry_after_once_the_plan_s_limit_is_spent(client, board):
    limit_plan("free", 3)
    assert [client.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get(URL)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "45"
    assert refused["X-Plan"] == "free"
    assert refused["X-RateLimit-Remaining"] == "0" and refused["X-RateLimit-Limit"] == "3"
    assert refused["RateLimit"] == '"default";r=0;t=45'
    assert json.loads(refused.content) == {
        "error": {
            "code": "rate_limited",
            "message": "Rate limit of 3 requests a minute on the free plan exceeded; "
            "retry in 45 s.",
        }
    }
    # The next window starts afresh.
    gate._clock = lambda: NOW + 60  # restored by the pinned_clock fixture's monkeypatch
    again = client.get(URL)
    assert again.status_code == 200 and remaining(again) == 2


@redis_only
def test_anonymous_callers_are_counted_per_address(client, board):
    limit_plan("free", 2)
    for _ in range(3):
        client.get(URL, REMOTE_ADDR="10.0.0.1")
    assert client.get(URL, REMOTE_ADDR="10.0.0.1").status_code == 429
    other = client.get(URL, REMOTE_ADDR="10.0.0.2")
    assert other.status_code == 200 and remaining(other) == 1


@redis_only
def test_a_key_is_counted_on_its_own_and_by_its_plan(client, board):
    limit_plan("free", 2)
    pro = key_on("pro")
    second = key_on("pro", name="second")
    for _ in range(3):
        client.get(URL)
    assert client.get(URL).status_code == 429  # the address is spent …
    first = client.get(URL, **bearer(pro))  # … not the key from the same address
    assert first.status_code == 200 and first["X-Plan"] == "pro"
    assert first["X-RateLimit-Limit"] == "600" and remaining(first) == 599
    assert remaining(client.get(URL, **bearer(pro))) == 598
    assert remaining(client.get(URL, **bearer(second))) == 599  # per key


@redis_only
def test_guessing_keys_spends_the_address_s_quota(client, board):
    limit_plan("free", 2)
    wrong = bearer("mb_nothere1_" + "x" * 43)
    assert [client.get(URL, **wrong).status_code for _ in range(2)] == [401, 401]
    assert client.get(URL, **wrong).status_code == 429
    assert client.get(URL).status_code == 429


@redis_only
def test_x_plan_and_the_limits_come_with_errors_too(client, board):
    for url, status in [
        ("/api/v4/models?limit=0", 400),
        ("/api/v4/nothing-here", 404),
        ("/api/v4/models/nobody/nothing", 404),
    ]:
        response = client.get(url)
        assert response.status_code == status
        assert response["X-Plan"] == "free" and "X-RateLimit-Remaining" in response
    assert remaining(client.get(URL)) == 56


@redis_only
def test_v3_gets_the_headers_and_keeps_its_body(client, board, settings):
    counted = client.get("/api/v3/leaderboard")
    assert counted["X-Plan"] == "free" and remaining(counted) == 59
    settings.RATE_LIMIT_ENABLED = False
    plain = client.get("/api/v3/leaderboard")
    assert plain.content == counted.content


def test_a_304_carries_x_plan_too(rf: RequestFactory, board):
    middleware = ApiGateMiddleware(lambda request: HttpResponseNotModified())
    response = middleware(rf.get(URL))
    assert response.status_code == 304 and response["X-Plan"] == "free"
    assert "X-RateLimit-Remaining" in response


def test_pages_are_not_gated(client, board):
    page = client.get("/")
    assert page.status_code == 200
    assert "X-Plan" not in page and "RateLimit" not in page


def test_health_is_not_counted(client, board):
    response = client.get("/api/v4/health")
    assert response["X-Plan"] == "free" and "RateLimit" not in response


def test_it_can_be_switched_off(client, board, settings):
    settings.RATE_LIMIT_ENABLED = False
    limit_plan("free", 1)
    responses = [client.get(URL) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert responses[-1]["X-Plan"] == "free" and "RateLimit" not in responses[-1]


def test_it_serves_without_limits_when_the_counter_is_down(client, board, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("redis gone")

    monkeypatch.setattr(gate, "_count", down)
    limit_plan("free", 1)
    for _ in range(2):
        response = client.get(URL)
        assert response.status_code == 200
        assert response["X-Plan"] == "free" and "X-RateLimit-Remaining" not in response


def test_it_refuses_over_the_limit_on_the_embedded_cache_too(client, board, settings):
    limit_plan("free", 2)
    assert [client.get(URL).status_code for _ in range(3)] == [200, 200, 429]


# --- Addresses ----------------------------------------------------------------------


def test_it_counts_by_the_forwarded_address_only_behind_trusted_proxies(settings):
    environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"}
    assert gate.client_address(environ) == "127.0.0.1"  # default: the header is not trusted
    settings.RATE_LIMIT_TRUSTED_PROXIES = 1
    assert gate.client_address(environ) == "203.0.113.9"  # what nginx saw; 6.6.6.6 is a claim
    settings.RATE_LIMIT_TRUSTED_PROXIES = 2
    assert gate.client_address(environ) == "6.6.6.6"
    assert gate.client_address({"REMOTE_ADDR": "127.0.0.1"}) == "127.0.0.1"


def test_an_ipv6_address_counts_as_its_64(settings):
    assert gate.client_address({"REMOTE_ADDR": "2001:db8:1:2:aaaa::1"}) == "2001:db8:1:2::/64"
    assert gate.client_address({"REMOTE_ADDR": "2001:db8:1:2:ffff::9"}) == "2001:db8:1:2::/64"


# --- Atomic counting ------------------------------------------------------------------


@redis_only
def test_concurrent_requests_are_each_counted_once():
    counts: list[int] = []
    lock = threading.Lock()

    def hit():
        found = [
            gate._count(
                "ratelimit:test:concurrent", ttl=61, limit=10_000, ends_at=NOW + 45, now=NOW
            )
            for _ in range(25)
        ]
        with lock:
            counts.extend(found)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == list(range(1, 201))
    client = gate._redis_client(caches["default"])
    ttl = client.ttl(caches["default"].make_and_validate_key("ratelimit:test:concurrent"))
    assert 0 < ttl <= 61


@redis_only
def test_two_processes_sharing_a_limit_refuse_at_its_count(client, board, monkeypatch):
    limit_plan("free", 40)  # leases of 2, none in the last 8
    processes = [WindowCounter(clock=lambda: 0.0), WindowCounter(clock=lambda: 0.0)]
    seen = []
    for number in range(42):
        monkeypatch.setattr(gate, "counter", processes[number % 2])  # turn about
        seen.append(client.get(URL))
    assert [r.status_code for r in seen] == [200] * 40 + [429, 429]
    # Counted one at a time at the end of the limit (once the slots leased
    # before it are used): the headers there are exact.
    assert [remaining(r) for r in seen[33:42]] == [6, 5, 4, 3, 2, 1, 0, 0, 0]
    # Before it, off by a slot at most: the other process's lease of 2.
    assert all(abs(remaining(r) - (39 - i)) <= 1 for i, r in enumerate(seen[:33]))
    assert seen[40]["RateLimit"] == '"default";r=0;t=45' and seen[40]["Retry-After"] == "45"


# --- In front of Django: registry.wsgi.application ------------------------------------


@redis_only
def test_the_fast_path_is_gated_and_never_stores_a_caller_s_headers(front, board):
    status, headers, first = front(URL)
    assert status == 200 and headers["X-Cache"] == "MISS" and headers["X-Plan"] == "free"
    status, headers, body = front(URL)
    assert headers["X-Cache"] == "HIT" and body == first
    assert front.django_calls == ["/api/v4/models"]  # the hit was answered in front
    assert headers["X-Plan"] == "free" and headers["X-RateLimit-Remaining"] == "58"
    assert headers["RateLimit"] == '"default";r=58;t=45'
    # What was stored has none of them: the next caller gets its own.
    client = gate._redis_client(caches["default"])
    for raw_key in client.scan_iter(match="*api-v4:*"):
        if raw_key.endswith(b":version"):
            continue
        entry = caches["default"].get(raw_key.decode().split(":", 2)[2])
        names = {name.lower() for name, _ in entry[2]}
        assert not names & {"x-plan", "ratelimit", "x-ratelimit-remaining", "retry-after"}


@redis_only
def test_the_fast_path_refuses_over_the_limit_without_django(front, board):
    limit_plan("free", 2)
    front(URL)
    front(URL)
    calls = len(front.django_calls)
    status, headers, body = front(URL)
    assert status == 429
    assert headers["Retry-After"] == "45" and headers["X-Plan"] == "free"
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(body))
    assert json.loads(body)["error"]["code"] == "rate_limited"
    assert len(front.django_calls) == calls  # answered in front of Django


@redis_only
def test_the_fast_path_keeps_plans_apart_and_learns_keys_from_django(front, board):
    pro = key_on("pro")
    assert front(URL)[1]["X-Cache"] == "MISS"
    status, headers, _ = front(URL, **bearer(pro))
    # Unknown to this process's memo: Django looks the key up; a plan of its own, its own entry.
    assert headers["X-Plan"] == "pro" and headers["X-Cache"] == "MISS"
    assert len(front.django_calls) == 2
    status, headers, _ = front(URL, **bearer(pro))
    assert headers["X-Plan"] == "pro" and headers["X-Cache"] == "HIT"
    assert headers["X-RateLimit-Remaining"] == "598"
    assert front(URL)[1]["X-Cache"] == "HIT"
    assert len(front.django_calls) == 2
    status, headers, body = front(URL, **bearer("mb_nothere1_" + "x" * 43))
    assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"


@redis_only
def test_a_hit_in_front_of_django_costs_no_redis_command(front, board, settings, monkeypatch):
    import redis

    settings.RESPONSE_CACHE_LOCAL_SECONDS = 60  # as served: the copy re-validated every so often
    front(URL)
    front(URL)  # the copy is held now, and the caller's next slots leased
    commands = []
    execute = redis.Redis.execute_command

    def counted(self, *args, **options):
        commands.append(args[0])
        return execute(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counted)
    status, headers, _ = front(URL)
    assert headers["X-Cache"] == "HIT" and headers["X-RateLimit-Remaining"] == "57"
    assert commands == []  # counted on a slot this process leased already
