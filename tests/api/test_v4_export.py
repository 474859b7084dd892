"""/api/v4/export.csv: streamed, filtered and sorted like the list, capped by plan."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.v4 import export
from snapshots.models import Observation
from tests.api.boards import catalog_board
from tests.api.callers import on_plan
from tests.factories import T0, hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db

URL = "/api/v4/export.csv"


def read(response) -> list[dict]:
    assert response.status_code == 200, b"".join(response.streaming_content)
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def board():
    return catalog_board()


def test_it_exports_the_board_as_csv_with_every_flat_field(client, board):
    response = client.get(URL)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="modelboard-snapshot-{board.pk}.csv"'
    )
    rows = read(response)
    assert [row["id"] for row in rows] == [
        "meta-llama/Llama-3.1-8B",
        "mistralai/Mistral-7B-v0.1",
        "google-bert/bert-base-uncased",
        "google/gemma-2-2b-it",
        "Qwen/Qwen2.5-Coder-7B",
    ]
    assert list(rows[0]) == list(export.COLUMNS)
    assert rows[0] == {
        "rank": "1",
        "id": "meta-llama/Llama-3.1-8B",
        "author": "meta-llama",
        "provider": "Meta",
        "pipeline_tag": "text-generation",
        "library": "transformers",
        "license": "llama3.1",
        "license_class": "open-weights",
        "parameters": "8030261248",
        "param_class": "8-15B",
        "downloads": "500000",
        "downloads_all_time": "50000",
        "daily_downloads": "0",  # the day before saw the same all-time count
        "weekly_downloads": "",  # no figures a week before: unknown
        "likes": "900",
        "trending_score": "40.0",
        "delta_24h_downloads": "20000",
        "delta_24h_likes": "0",
        "delta_7d_downloads": "",
        "delta_7d_likes": "",
        "new_24h": "False",
        "new_7d": "False",
        "rank_change_24h": "0",
        "score": "55.0",
        "profile": "community",
        "last_modified": "2026-02-01T10:00:00Z",
        "created_at": "2025-12-01T10:00:00Z",
        "tags": "chat;code",
    }
    qwen = rows[-1]
    assert (qwen["delta_24h_downloads"], qwen["new_24h"], qwen["rank_change_24h"]) == (
        "",
        "True",
        "",
    )
    assert (response["X-Export-Rows"], response["X-Export-Total"]) == ("5", "5")
    assert (response["X-Export-Row-Limit"], response["X-Export-Truncated"]) == ("1000", "false")


def test_it_applies_the_same_filters_and_sort_as_the_list(client, board):
    rows = read(client.get(f"{URL}?tag=chat&sort=-delta_24h"))
    assert [row["id"] for row in rows] == [
        "meta-llama/Llama-3.1-8B",
        "mistralai/Mistral-7B-v0.1",
        "google/gemma-2-2b-it",
        "Qwen/Qwen2.5-Coder-7B",
    ]
    assert [row["id"] for row in read(client.get(f"{URL}?provider=google&sort=downloads"))] == [
        "google/gemma-2-2b-it",
        "google-bert/bert-base-uncased",
    ]


def test_it_refuses_what_the_list_refuses(client, board):
    bad = client.get(f"{URL}?license_class=free")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {
        "license_class": [
            "unknown license class 'free'; allowed: permissive, copyleft, open-weights, "
            "non-commercial, unknown"
        ]
    }
    assert client.get(f"{URL}?library=keras").status_code == 403
    assert client.get(f"{URL}?limit=10").json()["error"]["code"] == "unknown_parameter"
    assert [row["id"] for row in read(client.get(f"{URL}?library=keras", **on_plan("pro")))] == [
        "google/gemma-2-2b-it"
    ]


def test_it_stops_at_the_plans_row_limit_and_says_so(client):
    published_snapshot(hub_records(12), taken_at=T0)
    response = client.get(URL, **on_plan("pro", export_rows=5))
    rows = read(response)
    assert [int(row["rank"]) for row in rows] == [1, 2, 3, 4, 5]
    assert response["X-Export-Truncated"] == "true"
    assert (response["X-Export-Rows"], response["X-Export-Total"]) == ("5", "12")
    assert response["X-Export-Row-Limit"] == "5"
    whole = client.get(URL, **on_plan("enterprise"))
    assert len(read(whole)) == 12 and whole["X-Export-Truncated"] == "false"


def test_it_streams_in_chunks_with_their_tags_read_once_per_chunk(client, monkeypatch):
    monkeypatch.setattr(export, "CHUNK_ROWS", 4)
    published_snapshot(hub_records(10), taken_at=T0)
    caller = on_plan("pro")
    client.get("/api/v4/tags", **caller)  # the gate reads the key once, then remembers it
    with CaptureQueriesContext(connection) as captured:
        response = client.get(URL, **caller)
        before_body = len(captured)
        rows = read(response)
    assert len(rows) == 10
    # Profile, snapshot and count before the body; the rows (one query, or a
    # cursor's fetches) and one tag query per chunk of 4 as the body streams.
    assert before_body == 3
    tag_queries = [q for q in captured.captured_queries if "tagging_modeltag" in q["sql"]]
    assert len(tag_queries) == 3


def test_it_defuses_cells_a_spreadsheet_would_run(client):
    published_snapshot(
        [
            hub_record("@evil/model", cardData={"license": '=HYPERLINK("http://x")'}),
            hub_record("acme/plain", downloads=10),
        ],
        taken_at=T0,
    )
    Observation.objects.filter(model__hub_id="acme/plain").update(delta_downloads_24h=-5)
    rows = {row["id"]: row for row in read(client.get(URL))}
    evil = rows["'@evil/model"]
    assert evil["author"] == "'@evil"
    assert evil["license"] == '\'=hyperlink("http://x")'
    assert rows["acme/plain"]["delta_24h_downloads"] == "-5"  # numbers stay numbers


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        (-5, -5),
        (None, None),
    ],
)
def test_safe_cell(cell, safe):
    assert export.safe_cell(cell) == safe


def test_it_answers_503_before_the_first_snapshot(client):
    response = client.get(URL)
    assert response.status_code == 503 and response.json()["error"]["code"] == "no_snapshot"
