"""A list's count is computed once per snapshot and filter, not on every uncached page."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import caching
from registry.caching import content_changed
from registry.models import HubModel
from tagging.models import ModelTag, Tag
from tests.factories import T0, days, hub_records, published_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def uncached_responses(settings):
    # Every request computes its answer, as a response-cache miss does.
    settings.RESPONSE_CACHE_ENABLED = False


def counts(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]


def get(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def test_a_second_page_or_sort_does_not_count_again(client):
    published_snapshot(hub_records(9))  # ids org0/model-00000 … org1/model-00008
    with CaptureQueriesContext(connection) as first:
        body = get(client, "/api/v4/models?search=org1&limit=1")
    assert body["count"] == 2 and len(counts(first)) == 1
    with CaptureQueriesContext(connection) as following:
        next_page = get(client, body["next"])
        other_sort = get(client, "/api/v4/models?search=org1&sort=-likes&limit=2")
    assert next_page["count"] == other_sort["count"] == 2
    assert [m["id"] for m in next_page["results"]] == ["org1/model-00008"]
    assert counts(following) == []
    # Another filter is another count.
    with CaptureQueriesContext(connection) as other:
        assert get(client, "/api/v4/models?search=org2&limit=1")["count"] == 1
    assert len(counts(other)) == 1


def test_a_new_snapshot_gives_new_counts(client):
    published_snapshot(hub_records(3))
    assert get(client, "/api/v4/models?limit=1")["count"] == 3
    # Published without its on_commit hook (the content generation stays):
    # the snapshot's id in the key is enough.
    published_snapshot(hub_records(5), taken_at=T0 + days(1))
    assert get(client, "/api/v4/models?limit=1")["count"] == 5


def test_a_curation_change_gives_new_counts(client):
    published_snapshot(hub_records(4))
    curated = Tag.objects.create(slug="curated", name="Curated", position=99)
    first, second = HubModel.objects.order_by("hub_id")[:2]
    ModelTag.objects.create(model=first, tag=curated, source=ModelTag.Source.RULE)
    assert get(client, "/api/v4/models?tag=curated&limit=1")["count"] == 1
    ModelTag.objects.create(model=second, tag=curated, source=ModelTag.Source.RULE)
    assert get(client, "/api/v4/models?tag=curated&limit=1")["count"] == 1  # kept …
    content_changed(reason="tags applied")  # … until curation says content changed
    assert get(client, "/api/v4/models?tag=curated&limit=1")["count"] == 2


def test_the_export_shares_the_list_s_count(client):
    published_snapshot(hub_records(9))
    get(client, "/api/v4/models?search=org1&limit=1")
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v4/export.csv?search=org1")
        lines = b"".join(response.streaming_content).decode().splitlines()
    assert response["X-Export-Total"] == "2" and len(lines) == 3  # the header and two rows
    assert counts(captured) == []


def test_it_counts_every_time_when_the_cache_is_down(client, monkeypatch):
    published_snapshot(hub_records(3))

    def down(*args, **kwargs):
        raise ConnectionError("cache gone")

    monkeypatch.setattr(caching, "versioned_key", down)
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            assert get(client, "/api/v4/models?limit=1")["count"] == 3
        assert len(counts(captured)) == 1
