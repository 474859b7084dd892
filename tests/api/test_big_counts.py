"""Counts past 2^31 (and up to 2^63) come back exactly through v3 and v4.

PostgreSQL's `integer` wraps nothing silently but refuses, and an earlier
schema stored likes in it: a record with 3,000,000,000 likes was served as
-1,294,967,296. Every count column is `bigint` now.
"""

import pytest

from tests.factories import T0, days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db

HUGE = {
    "downloads": 9_000_000_000_000_000,
    "downloadsAllTime": 9_000_000_000_000_000,
    "likes": 3_000_000_000,
}


@pytest.fixture
def huge_board():
    published_snapshot([hub_record("big/model", likes=2_999_999_000, downloads=10)], taken_at=T0)
    return published_snapshot([hub_record("big/model", **HUGE)], taken_at=T0 + days(1))


def test_v3_serves_counts_beyond_32_bits_exactly(client, huge_board):
    board = client.get("/api/v3/leaderboard").json()["results"][0]
    model = client.get("/api/v3/models/big/model").json()["model"]

    assert board["likes"] == 3_000_000_000 and board["downloads"] == 9_000_000_000_000_000
    assert model["downloads_all_time"] == 9_000_000_000_000_000


def test_v4_serves_counts_and_their_deltas_beyond_32_bits_exactly(client, huge_board):
    row = client.get("/api/v4/models").json()["results"][0]
    detail = client.get("/api/v4/models/big/model").json()

    assert row["likes"] == 3_000_000_000
    assert row["downloads"] == 9_000_000_000_000_000
    assert row["downloads_all_time"] == 9_000_000_000_000_000
    assert row["delta_24h"]["likes"] == 1_000
    assert detail["model"]["likes"] == 3_000_000_000
    assert [point["likes"] for point in detail["history"]][-1] == 3_000_000_000
