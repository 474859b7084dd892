"""The leaderboard counts its rows and reads its filter bar's options once per snapshot."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import T0, days, hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db


def queries(captured: CaptureQueriesContext, word: str) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if word in q["sql"].upper()]


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_a_second_page_body_reuses_the_count_and_the_filter_options(client):
    published_snapshot([*hub_records(9), hub_record("acme/speech", pipeline_tag="text-to-speech")])
    with CaptureQueriesContext(connection) as first:
        html = page(client, "/?search=org1")
    assert "2 models match." in html and 'value="text-to-speech"' in html
    assert len(queries(first, "COUNT(")) == 1 and len(queries(first, "DISTINCT")) == 1
    # Another sort is another cached body, with the same count and options.
    with CaptureQueriesContext(connection) as second:
        html = page(client, "/?search=org1&sort=-likes")
    assert "2 models match." in html and 'value="text-to-speech"' in html
    assert queries(second, "COUNT(") == [] and queries(second, "DISTINCT") == []


def test_a_new_snapshot_gives_new_counts_and_options(client):
    published_snapshot(hub_records(3))
    assert "3 models match." in page(client, "/?search=org")
    published_snapshot(
        [*hub_records(4), hub_record("acme/speech", pipeline_tag="text-to-speech")],
        taken_at=T0 + days(1),
    )
    html = page(client, "/?search=org")
    assert "4 models match." in html and 'value="text-to-speech"' in html
