"""/api/v4/families and /api/v4/families/{slug}: rollups, members, history."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import Family, FamilyRule
from tests.factories import T0, days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db

BASE = "meta-llama/Llama-3.1-8B"


@pytest.fixture
def families(db) -> dict[str, Family]:
    Family.objects.all().delete()
    made = {}
    for slug, author in (("llama", "meta-llama"), ("qwen", "Qwen"), ("empty", "nobody-here")):
        made[slug] = Family.objects.create(slug=slug, name=slug.title())
        FamilyRule.objects.create(family=made[slug], kind="author", pattern=author)
    return made


def catalog(scale: int = 1, *, quants: int = 3) -> list[dict]:
    return [
        hub_record(BASE, downloads=900_000 * scale, likes=400),
        *(
            hub_record(
                f"q{i}/Llama-GGUF",
                downloads=1_000 + i,
                likes=i,
                tags=["gguf", f"base_model:quantized:{BASE}"],
            )  # fmt: skip
            for i in range(quants)
        ),
        hub_record(
            "hidden/Llama-private",
            downloads=10**8,
            likes=10**4,
            private=True,
            tags=[f"base_model:finetune:{BASE}"],
        ),  # fmt: skip
        hub_record("Qwen/Qwen3-8B", downloads=500_000, likes=90),
        hub_record("google/vit-base", downloads=2_000_000, likes=50),
    ]


def get_json(client, url: str, status: int = 200) -> dict:
    response = client.get(url)
    assert response.status_code == status, response.content[:300]
    return json.loads(response.content)


def test_it_lists_families_by_downloads_with_their_rollups(client, families):
    published_snapshot(catalog(), taken_at=T0)
    latest = published_snapshot(catalog(2), taken_at=T0 + days(1))
    body = get_json(client, "/api/v4/families")
    assert body["snapshot"]["id"] == latest.pk
    assert body["count"] == 2  # a family with no member in the snapshot is not listed
    assert [row["slug"] for row in body["results"]] == ["llama", "qwen"]
    assert body["results"][0] == {
        "slug": "llama",
        "name": "Llama",
        "description": None,
        "provider": None,
        "members": 4,
        "downloads": 1_803_003,
        "likes": 403,
        "delta_24h": {"downloads": 900_000, "likes": 0},
        "delta_7d": {"downloads": None, "likes": None},
        "top_member": BASE,
    }
    first = get_json(client, "/api/v4/families?limit=1")
    assert [row["slug"] for row in first["results"]] == ["llama"] and first["previous"] is None
    page = get_json(client, first["next"])
    assert [row["slug"] for row in page["results"]] == ["qwen"]
    assert page["next"] is None
    back = get_json(client, page["previous"])
    assert [row["slug"] for row in back["results"]] == ["llama"]


def test_a_family_sums_equal_the_sums_of_its_members(client, families):
    published_snapshot(catalog(quants=5), taken_at=T0)
    body = get_json(client, "/api/v4/families/llama?limit=2")
    members = body["members"]
    while body["next"]:
        body = get_json(client, body["next"])
        members += body["members"]
    family = body["family"]
    assert family["members"] == len(members) == body["count"] == 6
    assert family["downloads"] == sum(m["downloads"] for m in members) == 905_010
    assert family["likes"] == sum(m["likes"] for m in members) == 410
    assert "hidden/Llama-private" not in {m["id"] for m in members}


def test_members_carry_the_v4_model_row_and_their_relation(client, families):
    published_snapshot(catalog(), taken_at=T0)
    published_snapshot(catalog(2), taken_at=T0 + days(1))
    body = get_json(client, "/api/v4/families/llama")
    base, quant = body["members"][0], body["members"][1]
    assert (base["id"], base["relation"], base["via"], base["source"]) == (
        BASE,
        "base",
        "rule",
        None,
    )
    assert (quant["relation"], quant["via"], quant["source"]) == ("quantized", "base_model", BASE)
    assert quant["family"] == "llama" and quant["delta_24h"]["downloads"] == 0
    assert [(p["members"], p["downloads"]) for p in body["history"]] == [
        (4, 903_003),
        (4, 1_803_003),
    ]
    # The model list and model detail name the family too.
    rows = {m["id"]: m["family"] for m in get_json(client, "/api/v4/models")["results"]}
    assert rows[BASE] == "llama" and rows["google/vit-base"] is None
    assert get_json(client, f"/api/v4/models/{BASE}")["model"]["family"] == "llama"


def test_a_family_without_members_has_zero_sums_and_unknown_deltas(client, families):
    published_snapshot(catalog(), taken_at=T0)
    body = get_json(client, "/api/v4/families/empty")
    assert body["family"]["members"] == body["family"]["downloads"] == 0
    assert body["family"]["delta_24h"] == {"downloads": None, "likes": None}
    assert body["members"] == [] and body["history"] == []


def test_errors(client, families):
    assert get_json(client, "/api/v4/families", status=503)["error"]["code"] == "no_snapshot"
    published_snapshot(catalog(), taken_at=T0)
    error = get_json(client, "/api/v4/families/nope", status=404)["error"]
    assert error == {"code": "not_found", "message": "No family 'nope'."}
    error = get_json(client, "/api/v4/families?family=llama", status=400)["error"]
    assert error["code"] == "unknown_parameter"
    error = get_json(client, "/api/v4/families/llama?limit=0", status=400)["error"]
    assert error["code"] == "invalid_parameter" and "limit" in error["fields"]


def test_it_reads_in_a_constant_number_of_queries(client, families):
    def queries(url: str, quants: int, at) -> int:
        published_snapshot(catalog(quants=quants), taken_at=at)
        cache.clear()  # measure a miss
        with CaptureQueriesContext(connection) as captured:
            get_json(client, url)
        return len(captured)

    # The version memo, the snapshot, the count and the page.
    assert queries("/api/v4/families", 2, T0) == queries("/api/v4/families", 40, T0 + days(1)) == 4
    # The memo, the snapshot, the family, its rollup, its history, the count,
    # the page of members (model, provider, membership and source joined), their tags.
    few = queries("/api/v4/families/llama", 2, T0 + days(2))
    many = queries("/api/v4/families/llama", 40, T0 + days(3))
    assert few == many == 8


def test_responses_are_cached_until_the_next_publish(
    client, families, django_capture_on_commit_callbacks
):
    published_snapshot(catalog(), taken_at=T0)
    first = client.get("/api/v4/families/llama")
    assert first["X-Cache"] == "MISS"
    again = client.get("/api/v4/families/llama")
    assert again["X-Cache"] == "HIT" and again.content == first.content
    with django_capture_on_commit_callbacks(execute=True):
        published_snapshot(catalog(3), taken_at=T0 + days(1))
    after = client.get("/api/v4/families/llama")
    assert after["X-Cache"] == "MISS"
    assert json.loads(after.content)["family"]["downloads"] == 2_703_003
