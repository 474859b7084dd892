"""The server-rendered pages: leaderboard and model page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import T0, days, hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db


def test_it_says_there_is_no_snapshot_yet(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"No complete snapshot yet" in response.content


def test_it_lists_the_latest_snapshot_in_rank_order(client):
    published_snapshot([hub_record("old/model", downloads=10**9)], taken_at=T0)
    latest = published_snapshot(
        [
            hub_record("meta-llama/Llama-3.1-8B", downloads=2_345_678, likes=1234),
            hub_record("someone/small", downloads=999, likes=2, pipeline_tag="fill-mask"),
        ],
        taken_at=T0 + days(1),
    )
    response = client.get("/")
    html = response.content.decode()
    assert response.context["snapshot"] == latest
    assert f"Snapshot #{latest.pk} taken" in html
    assert "old/model" not in html
    assert html.index("meta-llama/Llama-3.1-8B") < html.index("someone/small")
    assert 'href="/models/meta-llama/Llama-3.1-8B"' in html
    assert ">Meta<" in html  # provider, not the Hub author
    assert 'title="2,345,678">2.3M<' in html  # abbreviated, exact on hover
    assert "fill-mask" in html


def test_it_paginates_at_fifty_rows(client):
    published_snapshot(hub_records(120))
    first = client.get("/").content.decode()
    assert "Page 1 of 3" in first and "org0/model-00049" in first
    assert "org1/model-00050" not in first
    third = client.get("/?page=3").content.decode()
    assert "org1/model-00099" not in third and "org2/model-00100" in third
    assert client.get("/?page=abc").status_code == 200  # bad page numbers fall back


@pytest.mark.parametrize("n", [5, 60])
def test_the_leaderboard_query_count_is_pinned(client, n):
    published_snapshot(hub_records(n))
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/").status_code == 200
    # latest snapshot, row count for the pager, the page of rows with models and providers
    assert len(ctx.captured_queries) == 3, [q["sql"][:70] for q in ctx.captured_queries]


def test_the_model_page_shows_facts_and_recent_snapshots(client):
    record = hub_record(
        "acme/coder-33b",
        downloads=5000,
        cardData={"license": "cc-by-nc-4.0"},
        safetensors={"total": 33_000_000_000},
        tags=["base_model:finetune:acme/base-33b"],
    )
    published_snapshot([record], taken_at=T0)
    published_snapshot([{**record, "downloads": 7000}], taken_at=T0 + days(1))
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/models/acme/coder-33b")
    html = response.content.decode()
    assert response.status_code == 200
    assert "cc-by-nc-4.0" in html and "non-commercial" in html
    assert "15-40B" in html and 'title="33,000,000,000">33B<' in html
    assert 'href="/models/acme/base-33b"' in html and "finetune" in html
    assert html.index("2026-03-02 12:00") < html.index("2026-03-01 12:00")  # newest first
    assert 'title="7,000">7k<' in html
    assert len(ctx.captured_queries) == 4


def test_the_model_page_is_a_404_for_unknown_models(client):
    published_snapshot(hub_records(1))
    assert client.get("/models/nobody/nothing").status_code == 404
