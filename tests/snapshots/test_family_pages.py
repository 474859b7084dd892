"""Family pages: the rollups of the latest snapshot, one family's drill-down, the model page."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import Family, FamilyRule
from snapshots import views
from tests.factories import T0, days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db

BASE = "meta-llama/Llama-3.1-8B"


@pytest.fixture
def llama(db) -> Family:
    Family.objects.all().delete()
    family = Family.objects.create(slug="llama", name="Llama", description="Meta's models.")
    FamilyRule.objects.create(family=family, kind="author", pattern="meta-llama")
    qwen = Family.objects.create(slug="qwen", name="Qwen")
    FamilyRule.objects.create(family=qwen, kind="author", pattern="Qwen")
    return family


def quantized(hub_id: str, base: str = BASE, **fields) -> dict:
    return hub_record(hub_id, tags=["gguf", f"base_model:quantized:{base}"], **fields)


def catalog(scale: int = 1, *, quants: int = 3) -> list[dict]:
    return [
        hub_record(BASE, downloads=900_000 * scale, likes=400),
        hub_record(
            f"{BASE}-Instruct",
            downloads=800_000 * scale,
            likes=700,
            tags=[f"base_model:finetune:{BASE}"],
        ),  # fmt: skip
        *(quantized(f"q{i}/Llama-GGUF", downloads=1_000 + i, likes=i) for i in range(quants)),
        quantized("hidden/Llama-private", downloads=10**8, likes=10**4, private=True),
        hub_record("Qwen/Qwen3-8B", downloads=500_000, likes=90),
        hub_record("google/vit-base", downloads=2_000_000, likes=50),
    ]


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_family_list_shows_rollups_by_downloads_with_deltas(client, llama):
    published_snapshot(catalog(), taken_at=T0)
    published_snapshot(catalog(2), taken_at=T0 + days(1))
    html = page(client, "/families/")
    assert re.findall(r'class="family-row" data-slug="([^"]+)"', html) == ["llama", "qwen"]
    llama_row = html[html.index('data-slug="llama"') : html.index('data-slug="qwen"')]
    # 1.8M + 1.6M + the quantizations' 3,003: the private model is not there.
    assert 'title="3,403,003">3.4M<' in llama_row
    assert 'title="+1,700,000 in 24h">▲1.7M<' in llama_row
    assert '<svg class="spark spark-up"' in llama_row
    assert f'href="/models/{BASE}"' in llama_row  # the top member
    assert 'href="/families/llama/"' in llama_row
    assert "google/vit-base" not in html


def test_the_drill_down_sums_equal_the_sums_of_the_members(client, llama, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)  # members span pages: sum them all
    monkeypatch.setattr("snapshots.family_views.PAGE_SIZE", 2)
    published_snapshot(catalog(quants=4), taken_at=T0)
    html = page(client, "/families/llama/")
    rollup = re.search(
        r'id="rollup" data-members="(\d+)" data-downloads="(\d+)" data-likes="(\d+)"', html
    )
    members, downloads, likes = (int(x) for x in rollup.groups())
    rows = []
    number = 1
    while True:
        html = page(client, f"/families/llama/?page={number}")
        rows += re.findall(
            r'class="member" data-hub-id="([^"]+)" data-downloads="(\d+)" data-likes="(\d+)"', html
        )
        if 'rel="next"' not in html:
            break
        number += 1
    assert number == 3
    assert members == len(rows) == 6
    assert downloads == sum(int(d) for _, d, _ in rows) == 1_704_006
    assert likes == sum(int(n) for _, _, n in rows) == 1_106
    assert "hidden/Llama-private" not in {hub_id for hub_id, _, _ in rows}


def test_the_drill_down_shows_relations_trend_charts_and_links(client, llama):
    published_snapshot(catalog(), taken_at=T0)
    published_snapshot(catalog(2), taken_at=T0 + days(1))
    html = page(client, "/families/llama/")
    assert "Meta&#x27;s models." in html or "Meta's models." in html
    assert len(re.findall(r'<svg class="chart', html)) == 3
    instruct = html[html.index(f'data-hub-id="{BASE}-Instruct"') :]
    assert '<span class="relation">finetune</span>' in instruct[:1500]
    quant = html[html.index('data-hub-id="q0/Llama-GGUF"') :]
    assert '<span class="relation">quantized</span>' in quant[:1500]
    assert f'of <a href="/models/{BASE}">' in quant[:1500]
    assert 'href="/api/v4/families/llama"' in html


def test_a_family_page_reads_a_constant_number_of_queries(client, llama):
    published_snapshot(catalog(quants=2), taken_at=T0)
    with CaptureQueriesContext(connection) as few:
        page(client, "/families/llama/")
    published_snapshot(catalog(quants=30), taken_at=T0 + days(1))
    with CaptureQueriesContext(connection) as many:
        page(client, "/families/llama/")
    # latest snapshot, the family, its history, the members count and page, its rollup
    assert len(few) == len(many) == 6, [q["sql"][:60] for q in many.captured_queries]
    with CaptureQueriesContext(connection) as cached:
        page(client, "/families/llama/")
    assert len(cached) == 1
    with CaptureQueriesContext(connection) as listing:
        page(client, "/families/")
    # latest snapshot, the rollups with families and top members, their sparklines
    assert len(listing) == 3


def test_unknown_families_are_404(client, llama):
    published_snapshot(catalog(), taken_at=T0)
    assert client.get("/families/nope/").status_code == 404


def test_no_snapshot_yet(client, llama):
    assert "No complete snapshot yet" in page(client, "/families/")
    assert "No complete snapshot yet" in page(client, "/families/llama/")


def test_the_model_page_names_the_family_relation_and_other_members(client, llama):
    published_snapshot(catalog(), taken_at=T0)
    html = page(client, "/models/q1/Llama-GGUF")
    assert 'href="/families/llama/">Llama</a>' in html
    assert f"(quantized of {BASE})" in html
    others = html[html.index('class="family-members"') :]
    assert f'href="/models/{BASE}"' in others and 'href="/models/q0/Llama-GGUF"' in others
    assert 'href="/models/q1/Llama-GGUF"' not in others
    assert "hidden/Llama-private" not in others
    assert "Also in the" not in page(client, "/models/google/vit-base")


def test_the_model_page_asks_one_more_query_only_for_the_other_members(client, llama):
    published_snapshot(catalog(), taken_at=T0)
    with CaptureQueriesContext(connection) as member:
        page(client, "/models/q1/Llama-GGUF")
    with CaptureQueriesContext(connection) as loner:
        page(client, "/models/google/vit-base")
    # latest snapshot, the model with provider and membership, its observation,
    # its tags, its history; and for a member, the family's other members.
    # (the model's anomalies are one query of both)
    assert len(loner) == 6, [q["sql"][:60] for q in loner.captured_queries]
    assert len(member) == 7


def test_the_filter_selector_narrows_observations_to_a_family(llama):
    from snapshots import family_selectors, selectors

    snapshot = published_snapshot(catalog(), taken_at=T0)
    rows = selectors.leaderboard_rows(snapshot=snapshot)
    in_llama = family_selectors.observations_in_family(rows, "llama")
    assert [o.model.hub_id for o in in_llama] == [
        BASE,
        f"{BASE}-Instruct",
        "q2/Llama-GGUF",
        "q1/Llama-GGUF",
        "q0/Llama-GGUF",
    ]
    assert list(family_selectors.observations_in_family(rows, "nope")) == []
    assert family_selectors.family_choices() == [("llama", "Llama"), ("qwen", "Qwen")]
