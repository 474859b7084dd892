"""/api/v4/models and /api/v4/models/{id}: DESIGN.md's v4 shape, deltas, history, errors."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import HubModel
from snapshots.models import Snapshot
from tagging.models import ModelTag, Tag
from tests.api.callers import on_plan
from tests.factories import T0, days, hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db

MODEL_KEYS = [
    "id",
    "key",
    "author",
    "provider",
    "pipeline_tag",
    "library_name",
    "license",
    "license_class",
    "parameters",
    "param_class",
    "family",
    "tags",
    "badges",
    "downloads",
    "downloads_all_time",
    "daily_downloads",
    "weekly_downloads",
    "likes",
    "trending_score",
    "created_at",
    "last_modified",
    "rank",
    "rank_change_24h",
    "score",
    "profile",
    "score_breakdown",
    "delta_24h",
    "delta_7d",
    "anomaly",
    "snapshot",
    "tier",
    "access",
]


def get_json(client, url: str, status: int = 200, **kwargs) -> dict:
    response = client.get(url, **kwargs)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


def tag(model_id: str, slug: str) -> None:
    """Give a model a tag directly (publishing applies the rules; this adds to them)."""
    ModelTag.objects.get_or_create(
        model=HubModel.objects.get(hub_id=model_id),
        tag=Tag.objects.get_or_create(slug=slug, defaults={"name": slug.title()})[0],
        defaults={"source": ModelTag.Source.OVERRIDE},
    )


@pytest.fixture
def history():
    """Three snapshots: a week ago, a day ago and now, with known figures.

    meta-llama/Llama-3.1-8B is in all three; acme/rising only in the last two
    (new over 7 days, not over 24h); fresh/arrival only in the last (new).
    """
    llama = {
        "cardData": {"license": "llama3.1"},
        "safetensors": {"total": 8_030_261_248},
        "createdAt": "2024-07-18T08:56:00.000Z",
    }
    published_snapshot(
        [hub_record("meta-llama/Llama-3.1-8B", downloads=100_000, likes=700, **llama)],
        taken_at=T0,
    )
    published_snapshot(
        [
            hub_record(
                "meta-llama/Llama-3.1-8B",
                downloads=110_000,
                downloadsAllTime=9_000_000,
                likes=780,
                **llama,
            ),
            hub_record("acme/rising", downloads=200_000, likes=5),
        ],
        taken_at=T0 + days(6),
    )
    latest = published_snapshot(
        [
            hub_record(
                "meta-llama/Llama-3.1-8B",
                downloads=123_456,
                downloadsAllTime=9_001_500,
                likes=789,
                trendingScore=12,
                lastModified="2026-02-20T10:00:00.000Z",
                **llama,
            ),
            hub_record("acme/rising", downloads=100_000, likes=9, downloadsAllTime=None),
            hub_record("fresh/arrival", downloads=5, likes=0, pipeline_tag="fill-mask"),
        ],
        taken_at=T0 + days(7),
    )
    tag("meta-llama/Llama-3.1-8B", "chat")
    tag("meta-llama/Llama-3.1-8B", "code")
    return latest


# Llama under the default profile (community): top downloads, likes, recency and
# trending of its snapshot; the only growth figure (a percentile of 0); open weights.
BREAKDOWN = [
    {"component": "downloads", "weight": 15, "value": 1.0, "points": 15.0},
    {"component": "likes", "weight": 20, "value": 1.0, "points": 20.0},
    {"component": "downloads_growth", "weight": 15, "value": 0.0, "points": 0.0},
    {"component": "likes_growth", "weight": 15, "value": 0.0, "points": 0.0},
    {"component": "recency", "weight": 5, "value": 1.0, "points": 5.0},
    {"component": "trending", "weight": 30, "value": 1.0, "points": 30.0},
    {"component": "license", "weight": 0, "value": 0.5, "points": 0.0},
]


def test_it_gives_every_model_in_the_v4_shape(client, history):
    body = get_json(client, "/api/v4/models")
    snapshot_ref = {"id": history.pk, "taken_at": "2026-03-08T12:00:00Z"}
    assert body["snapshot"] == snapshot_ref
    assert (body["count"], body["limit"], body["sort"]) == (3, 100, "rank")
    assert body["next"] is None and body["previous"] is None
    assert [m["id"] for m in body["results"]] == [
        "meta-llama/Llama-3.1-8B",
        "acme/rising",
        "fresh/arrival",
    ]
    llama = body["results"][0]
    assert list(llama) == MODEL_KEYS
    assert llama == {
        "id": "meta-llama/Llama-3.1-8B",
        "key": HubModel.objects.get(hub_id="meta-llama/Llama-3.1-8B").pk,
        "author": "meta-llama",
        "provider": "Meta",
        "pipeline_tag": "text-generation",
        "library_name": "transformers",
        "license": "llama3.1",
        "license_class": "open-weights",
        "parameters": 8_030_261_248,
        "param_class": "8-15B",
        "family": "llama",  # the seeded family rule on the author
        "tags": ["chat", "code"],
        "badges": [],
        "downloads": 123_456,
        "downloads_all_time": 9_001_500,
        # From the daily history: all-time downloads minus a day (9_000_000)
        # and a week (the factory's 50_000) before.
        "daily_downloads": 1_500,
        "weekly_downloads": 8_951_500,
        "likes": 789,
        "trending_score": 12.0,
        "created_at": "2024-07-18T08:56:00Z",
        "last_modified": "2026-02-20T10:00:00Z",
        "rank": 1,
        "rank_change_24h": 1,
        "score": 70.0,
        "profile": "community",
        "score_breakdown": BREAKDOWN,
        "delta_24h": {"downloads": 13_456, "likes": 9, "new": False},
        "delta_7d": {"downloads": 23_456, "likes": 89, "new": False},
        "anomaly": None,
        "snapshot": snapshot_ref,
        "tier": "free",
        "access": "public",
    }


def test_it_says_which_models_are_new_and_leaves_their_deltas_null(client, history):
    results = {m["id"]: m for m in get_json(client, "/api/v4/models")["results"]}
    rising, fresh = results["acme/rising"], results["fresh/arrival"]
    assert rising["delta_24h"] == {"downloads": -100_000, "likes": 4, "new": False}
    assert rising["delta_7d"] == {"downloads": None, "likes": None, "new": True}
    assert rising["rank_change_24h"] == -1
    assert fresh["delta_24h"] == {"downloads": None, "likes": None, "new": True}
    assert fresh["delta_7d"] == {"downloads": None, "likes": None, "new": True}
    assert fresh["rank_change_24h"] is None
    assert fresh["tags"] == [] and fresh["downloads_all_time"] == 50_000


def test_it_gives_null_deltas_and_unknown_newness_without_a_baseline(client):
    published_snapshot([hub_record("solo/model")], taken_at=T0)
    (model,) = get_json(client, "/api/v4/models")["results"]
    assert model["delta_24h"] == {"downloads": None, "likes": None, "new": None}
    assert model["delta_7d"] == {"downloads": None, "likes": None, "new": None}
    assert model["rank"] == 1 and model["rank_change_24h"] is None


def test_it_pages_with_cursor_links_to_the_next_and_previous_pages(client):
    published_snapshot(hub_records(7), taken_at=T0)
    first = get_json(client, "/api/v4/models?limit=3")
    assert [m["rank"] for m in first["results"]] == [1, 2, 3]
    assert first["count"] == 7 and first["previous"] is None
    assert first["next"].startswith("http://testserver/api/v4/models?cursor=")
    assert first["next"].endswith("&limit=3")
    second = get_json(client, first["next"])
    assert [m["rank"] for m in second["results"]] == [4, 5, 6]
    back = get_json(client, second["previous"])
    assert [m["rank"] for m in back["results"]] == [1, 2, 3] and back["previous"] is None
    last = get_json(client, second["next"])
    assert [m["rank"] for m in last["results"]] == [7]
    assert last["next"] is None
    assert [m["rank"] for m in get_json(client, last["previous"])["results"]] == [4, 5, 6]


def test_it_never_lists_private_models(client):
    published_snapshot(
        [hub_record("acme/public"), hub_record("acme/secret", private=True, downloads=10**9)]
    )
    body = get_json(client, "/api/v4/models")
    assert [m["id"] for m in body["results"]] == ["acme/public"] and body["count"] == 1
    get_json(client, "/api/v4/models/acme/secret", status=404)


@pytest.mark.parametrize(
    ("query", "name", "problem"),
    [
        ("limit=0", "limit", "must be an integer from 1 to 1000"),
        ("limit=1001", "limit", "must be an integer from 1 to 1000"),
        ("limit=ten", "limit", "must be an integer from 1 to 1000"),
        ("limit=1&limit=2", "limit", "must be given once"),
    ],
)
def test_it_rejects_bad_paging_with_a_named_parameter(client, history, query, name, problem):
    error = get_json(client, f"/api/v4/models?{query}", status=400)["error"]
    assert error == {
        "code": "invalid_parameter",
        "message": f"Invalid value for '{name}': {problem}",
        "fields": {name: [problem]},
    }


def test_it_refuses_parameters_it_does_not_take(client, history):
    # A filter that is silently ignored would answer another question.
    error = get_json(client, "/api/v4/models?tags=chat&offset=10", status=400)["error"]
    assert error["code"] == "unknown_parameter"
    assert error["fields"] == {"offset": ["unknown parameter"], "tags": ["unknown parameter"]}
    assert "'offset', 'tags'" in error["message"] and "cursor, family, library" in error["message"]


def test_it_answers_503_before_the_first_snapshot(client):
    error = get_json(client, "/api/v4/models", status=503)["error"]
    assert error["code"] == "no_snapshot"


def test_it_answers_json_404_for_unknown_endpoints(client):
    error = get_json(client, "/api/v4/nothing/here", status=404)["error"]
    assert error == {"code": "not_found", "message": "No endpoint at /api/v4/nothing/here."}


def test_it_lists_with_a_constant_number_of_queries(client):
    def queries_for(n: int, prefix: str) -> int:
        published_snapshot(hub_records(n, prefix=prefix), taken_at=T0 + days(n))
        for model in HubModel.objects.filter(hub_id__startswith=prefix)[:5]:
            tag(model.hub_id, "chat")
        caller = on_plan("pro")
        client.get("/api/v4/tags", **caller)  # the gate reads the key once, then remembers it
        cache.clear()  # measure a miss: publish's hook runs only on commit
        with CaptureQueriesContext(connection) as captured:
            body = get_json(client, "/api/v4/models?limit=500", **caller)
        assert len(body["results"]) == n
        return len(captured)

    few = queries_for(3, "few")
    many = queries_for(60, "many")
    # The version memo, the profile, the snapshot, the count, the page, its
    # tags and its anomalies (the gate has identified the caller already).
    assert few == many == 7


# --- One model, with its history -------------------------------------------------


def test_it_gives_a_model_with_its_history(client, history):
    body = get_json(client, "/api/v4/models/meta-llama/Llama-3.1-8B")
    assert body["snapshot"]["id"] == history.pk
    assert list(body["model"]) == MODEL_KEYS
    listed = get_json(client, "/api/v4/models")["results"][0]
    assert body["model"] == listed
    ids = list(
        Snapshot.objects.order_by("taken_at").values_list("pk", flat=True)
    )  # T0, T0+6d, T0+7d
    assert body["history"] == [
        {
            "snapshot_id": ids[0],
            "taken_at": "2026-03-01T12:00:00Z",
            "rank": 1,
            "downloads": 100_000,
            "likes": 700,
            "downloads_all_time": 50_000,
            "delta_downloads_24h": None,
            "daily_downloads": None,
        },
        {
            "snapshot_id": ids[1],
            "taken_at": "2026-03-07T12:00:00Z",
            "rank": 2,
            "downloads": 110_000,
            "likes": 780,
            "downloads_all_time": 9_000_000,
            "delta_downloads_24h": None,
            "daily_downloads": None,
        },
        {
            "snapshot_id": ids[2],
            "taken_at": "2026-03-08T12:00:00Z",
            "rank": 1,
            "downloads": 123_456,
            "likes": 789,
            "downloads_all_time": 9_001_500,
            "delta_downloads_24h": 13_456,
            "daily_downloads": 1_500,
        },
    ]


def test_it_keeps_thirty_days_of_history(client):
    for day in (0, 20, 31, 40):
        published_snapshot([hub_record("acme/long", downloads=1000 + day)], taken_at=T0 + days(day))
    history = get_json(client, "/api/v4/models/acme/long")["history"]
    assert [point["downloads"] for point in history] == [1020, 1031, 1040]


def test_it_finds_a_legacy_id_without_organization(client):
    published_snapshot([{"id": "gpt2", "downloads": 12_345, "likes": 30}])
    model = get_json(client, "/api/v4/models/gpt2")["model"]
    assert model["id"] == "gpt2" and model["author"] is None and model["downloads"] == 12_345


def test_it_answers_404_for_a_model_not_in_the_latest_snapshot(client, history):
    published_snapshot([hub_record("other/model")], taken_at=T0 + days(8))
    error = get_json(client, "/api/v4/models/meta-llama/Llama-3.1-8B", status=404)["error"]
    assert error == {
        "code": "not_found",
        "message": "No model 'meta-llama/Llama-3.1-8B' in the latest snapshot.",
    }
    get_json(client, "/api/v4/models/nobody/nothing", status=404)


def test_it_reads_a_model_with_a_constant_number_of_queries(client, history):
    with CaptureQueriesContext(connection) as captured:
        get_json(client, "/api/v4/models/meta-llama/Llama-3.1-8B")
    # Version memo, profile, snapshot, model, observation, tags, anomalies,
    # history, the daily figures and the daily series.
    assert len(captured) == 10
