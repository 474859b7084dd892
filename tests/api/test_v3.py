"""/api/v3 is frozen: golden files pin its JSON byte for byte.

If one of these fails, v3 changed. That is a breaking change for every v3
client: put the new behaviour in v4 instead. (To add a new golden case, run
with UPDATE_GOLDEN=1 once and review the file.)
"""

import json
import os
from pathlib import Path

import pytest

from tests.factories import T0, days, hub_record, published_snapshot

GOLDEN = Path(__file__).parent / "golden"

# Sequences reset so that snapshot ids in the output are the same on every run;
# serialized rollback keeps the seeded providers the output names.
pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True, serialized_rollback=True)


def golden(name: str, body: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") and not path.exists():
        path.write_bytes(body)
    assert path.exists(), f"missing golden file {path}; run once with UPDATE_GOLDEN=1"
    assert body == path.read_bytes(), f"v3 output changed: compare with {path}"


@pytest.fixture
def board():
    older = [hub_record("meta-llama/Llama-3.1-8B", downloads=100, likes=1)]
    published_snapshot(older, taken_at=T0)
    records = [
        hub_record(
            "meta-llama/Llama-3.1-8B",
            downloads=5_000_000,
            downloadsAllTime=90_000_000,
            likes=4200,
            trendingScore=88,
            cardData={"license": "llama3.1", "base_model": None},
            safetensors={"total": 8_030_261_248},
            gated="manual",
        ),
        hub_record(
            "someone/tiny-embed",
            downloads=12_345,
            likes=3,
            trendingScore=None,
            pipeline_tag="sentence-similarity",
            library_name="sentence-transformers",
            cardData={"license": "mit"},
            safetensors={"total": 22_000_000},
            tags=["base_model:finetune:meta-llama/Llama-3.1-8B"],
        ),
        {"id": "gpt2", "downloads": 12_345, "likes": 30, "lastModified": None},
    ]
    return published_snapshot(records, taken_at=T0 + days(1))


def test_it_pins_the_leaderboard(client, board):
    response = client.get("/api/v3/leaderboard")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    golden("v3_leaderboard.json", response.content)
    body = json.loads(response.content)
    assert [r["id"] for r in body["results"]] == [
        "meta-llama/Llama-3.1-8B",
        "gpt2",
        "someone/tiny-embed",
    ]
    assert body["snapshot"] == {"id": board.pk, "taken_at": "2026-03-02T12:00:00Z"}


def test_it_pins_a_page_of_the_leaderboard(client, board):
    response = client.get("/api/v3/leaderboard?limit=1&offset=1")
    golden("v3_leaderboard_page.json", response.content)
    assert [r["rank"] for r in json.loads(response.content)["results"]] == [2]


def test_it_pins_a_model(client, board):
    response = client.get("/api/v3/models/meta-llama/Llama-3.1-8B")
    assert response.status_code == 200
    golden("v3_model.json", response.content)
    model = json.loads(response.content)["model"]
    assert model["provider"] == "Meta" and model["downloads_all_time"] == 90_000_000


def test_it_pins_a_legacy_id_without_organization(client, board):
    response = client.get("/api/v3/models/gpt2")
    assert response.status_code == 200
    golden("v3_model_legacy.json", response.content)


def test_it_pins_the_unknown_model_error(client, board):
    response = client.get("/api/v3/models/nobody/nothing")
    assert response.status_code == 404
    golden("v3_model_404.json", response.content)


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=ten", "offset=-1"])
def test_it_rejects_bad_paging_with_a_named_parameter(client, board, query):
    response = client.get(f"/api/v3/leaderboard?{query}")
    assert response.status_code == 400
    error = json.loads(response.content)["error"]
    name = query.split("=")[0]
    assert error["code"] == "invalid_parameter"
    assert list(error["fields"]) == [name] and name in error["message"]


def test_it_pins_the_error_before_any_snapshot(client):
    response = client.get("/api/v3/leaderboard")
    assert response.status_code == 503
    golden("v3_no_snapshot.json", response.content)


def test_it_never_shows_private_models(client, board):
    published_snapshot(
        [hub_record("acme/secret", downloads=10**9, private=True), hub_record("acme/open")],
        taken_at=T0 + days(2),
    )
    ids = [r["id"] for r in json.loads(client.get("/api/v3/leaderboard").content)["results"]]
    assert ids == ["acme/open"]
    assert client.get("/api/v3/models/acme/secret").status_code == 404
