"""v4 responses are cached whole, retired by the one hook, and counted."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from registry import caching
from registry.models import HubModel
from tagging.models import Tag, TagOverride
from tagging.services import tags_apply
from tests.factories import T0, days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db

URL = "/api/v4/models?limit=10"


def lookups(result: str) -> float:
    return REGISTRY.get_sample_value("modelboard_cache_lookups_total", {"result": result}) or 0.0


@pytest.fixture
def board():
    return published_snapshot([hub_record("acme/one", downloads=500), hub_record("acme/two")])


def test_it_serves_a_hit_from_the_stored_bytes_without_a_query(client, board):
    first = client.get(URL)
    assert first["X-Cache"] == "MISS"
    with CaptureQueriesContext(connection) as captured:
        second = client.get(URL)
    assert second["X-Cache"] == "HIT"
    assert len(captured) == 0
    assert second.status_code == 200
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"] == "application/json"
    assert second["Allow"] == first["Allow"]  # headers the view set come back too


def test_it_looks_a_hit_up_in_one_round_trip(client, board, monkeypatch):
    client.get(URL)
    round_trips, other_calls = [], []
    fetch = caching._get_many_counting

    def counted(keys):
        round_trips.append(keys)
        return fetch(keys)

    class Spy:
        def __getattr__(self, name):
            other_calls.append(name)
            return getattr(cache, name)

    monkeypatch.setattr(caching, "_get_many_counting", counted)
    monkeypatch.setattr(caching, "cache", Spy())
    assert client.get(URL)["X-Cache"] == "HIT"
    # The generation, the version memo and the entry, with the lookup counted.
    assert len(round_trips) == 1 and len(round_trips[0]) == 3
    assert other_calls == []


def test_it_counts_hits_and_misses(client, board):
    hits, misses = lookups("hit"), lookups("miss")
    client.get(URL)
    client.get(URL)
    client.get(URL)
    client.get("/api/v4/models?limit=11")
    assert caching.lookup_stats() == {"hit": 2, "miss": 2}
    assert (lookups("hit") - hits, lookups("miss") - misses) == (2, 2)


def test_it_retires_cached_responses_when_a_snapshot_is_published(
    client, board, django_capture_on_commit_callbacks
):
    before = json.loads(client.get(URL).content)
    assert before["snapshot"]["id"] == board.pk
    with django_capture_on_commit_callbacks(execute=True):
        latest = published_snapshot([hub_record("acme/three")], taken_at=T0 + days(1))
    response = client.get(URL)
    assert response["X-Cache"] == "MISS"
    after = json.loads(response.content)
    assert after["snapshot"]["id"] == latest.pk
    assert [m["id"] for m in after["results"]] == ["acme/three"]


def test_it_shows_a_curation_change_after_tags_are_applied_again(
    client, board, django_capture_on_commit_callbacks
):
    tags_apply()
    url = "/api/v4/models/acme/one"
    assert "code" not in json.loads(client.get(url).content)["model"]["tags"]
    assert client.get(url)["X-Cache"] == "HIT"
    with django_capture_on_commit_callbacks(execute=True):
        TagOverride.objects.create(
            tag=Tag.objects.get(slug="code"),
            model=HubModel.objects.get(hub_id="acme/one"),
            action=TagOverride.Action.INCLUDE,
        )
        tags_apply()
    response = client.get(url)
    assert response["X-Cache"] == "MISS"
    assert "code" in json.loads(response.content)["model"]["tags"]


def test_it_notices_a_publish_whose_hook_never_ran_within_the_recheck_period(client, board):
    client.get(URL)
    # Published without on_commit callbacks running: as if the cache had
    # been unreachable at that moment. The generation stays the same.
    latest = published_snapshot([hub_record("acme/three")], taken_at=T0 + days(1))
    assert json.loads(client.get(URL).content)["snapshot"]["id"] == board.pk
    # VERSION_RECHECK_SECONDS later the memo of the latest snapshot expires.
    cache.delete("api-v4:version")
    response = client.get(URL)
    assert response["X-Cache"] == "MISS"
    assert json.loads(response.content)["snapshot"]["id"] == latest.pk


def test_it_follows_a_generation_bumped_by_another_process(client, board):
    client.get(URL)
    assert client.get(URL)["X-Cache"] == "HIT"
    cache.incr(caching.GENERATION_KEY)  # what content_changed does elsewhere
    assert client.get(URL)["X-Cache"] == "MISS"
    assert client.get(URL)["X-Cache"] == "HIT"


def test_it_keeps_hosts_apart_since_page_links_name_the_host(client, board):
    body = json.loads(client.get("/api/v4/models?limit=1").content)
    assert body["next"].startswith("http://testserver/")
    other = client.get("/api/v4/models?limit=1", HTTP_HOST="localhost")
    assert other["X-Cache"] == "MISS"
    assert json.loads(other.content)["next"].startswith("http://localhost/")


def test_it_never_stores_errors(client, board):
    assert client.get("/api/v4/models?limit=0")["X-Cache"] == "MISS"
    assert client.get("/api/v4/models?limit=0")["X-Cache"] == "MISS"
    assert client.get("/api/v4/models/nobody/nothing")["X-Cache"] == "MISS"
    assert client.get("/api/v4/models/nobody/nothing")["X-Cache"] == "MISS"


def test_it_can_be_switched_off(client, board, settings):
    settings.RESPONSE_CACHE_ENABLED = False
    client.get(URL)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(URL)
    assert "X-Cache" not in response and len(captured) > 0
    assert caching.lookup_stats() == {"hit": 0, "miss": 0}


# --- In front of Django: registry.caching.ResponseCacheApp ---------------------


def test_it_answers_a_hit_before_django_with_django_s_own_headers(front, board):
    status, first_headers, first = front(URL)
    assert status == 200 and first_headers["X-Cache"] == "MISS"
    status, headers, body = front(URL)
    assert status == 200 and headers["X-Cache"] == "HIT"
    assert body == first
    assert front.django_calls == ["/api/v4/models"]  # the hit never reached Django
    # Headers middleware added on the way out are part of what was stored.
    for name in ("Content-Type", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"):
        assert headers[name] == first_headers[name]
    assert headers["Content-Length"] == str(len(body))


def test_it_takes_a_hit_from_the_shared_cache_when_it_holds_no_copy(client, front, board):
    assert client.get(URL, HTTP_HOST="testserver")["X-Cache"] == "MISS"  # stored by the view
    status, headers, body = front(URL, HTTP_HOST="testserver")
    assert headers["X-Cache"] == "HIT" and front.django_calls == []
    assert json.loads(body)["snapshot"]["id"] == board.pk


def test_it_shows_a_publish_at_the_next_revalidation(
    front, board, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.RESPONSE_CACHE_LOCAL_SECONDS = 60
    front(URL)
    assert front(URL)[1]["X-Cache"] == "HIT"
    with django_capture_on_commit_callbacks(execute=True):
        latest = published_snapshot([hub_record("acme/three")], taken_at=T0 + days(1))
    # Within the re-validation period this process may still answer the old page …
    assert json.loads(front(URL)[2])["snapshot"]["id"] == board.pk
    # … and not after it.
    later = caching.time.monotonic() + 61
    monkeypatch.setattr(caching.time, "monotonic", lambda: later)
    status, headers, body = front(URL)
    assert headers["X-Cache"] == "MISS"
    assert json.loads(body)["snapshot"]["id"] == latest.pk


def test_it_counts_its_hits_in_the_shared_statistics(front, board):
    front(URL)
    front(URL)
    front(URL)
    front(URL)  # re-validates, and so reports the hits before it
    assert caching.lookup_stats() == {"hit": 2, "miss": 1}


def test_it_leaves_other_paths_and_methods_to_django(front, board):
    status, headers, _ = front("/api/v4/health")
    assert "X-Cache" not in headers
    front("/api/v4/health")
    front("/api/v3/leaderboard")
    front("/api/v3/leaderboard")
    assert front.django_calls == ["/api/v4/health"] * 2 + ["/api/v3/leaderboard"] * 2
    assert caching.lookup_stats() == {"hit": 0, "miss": 0}


def test_it_answers_uncached_when_the_cache_is_down(front, board, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache server gone")

    monkeypatch.setattr(caching, "_get_many_counting", down)
    for _ in range(2):
        status, headers, body = front(URL)
        assert status == 200 and "X-Cache" not in headers
        assert json.loads(body)["snapshot"]["id"] == board.pk
    assert len(front.django_calls) == 2
