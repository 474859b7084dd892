"""Tagging reads: tags per model, the tag list, a tag's models, untagged popular models."""

from __future__ import annotations

import pytest

from registry.models import HubModel
from tagging.models import ModelTag, TagOverride, TagRule
from tagging.selectors import (
    models_with_tag,
    tag_by_slug,
    tag_list,
    tags_for_models,
    untagged_top_models,
)
from tagging.services import tags_apply

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_seeded_tags")]


@pytest.fixture
def catalog(make_tag, make_models):
    """chat (position 10) on text-generation, code (position 20) on *coder*, nothing on bert."""
    chat, code = make_tag("chat", position=10), make_tag("code", position=20)
    vision = make_tag("vision", position=30)
    TagRule.objects.create(tag=chat, kind="pipeline_tag", value="text-generation")
    TagRule.objects.create(tag=code, kind="id_pattern", value="coder")
    models = make_models(
        {
            "acme/coder-7b": {"downloads": 900},
            "acme/llm-7b": {"downloads": 800},
            "acme/bert": {"pipeline_tag": "fill-mask", "downloads": 700},
            "acme/secret-llm": {"private": True, "downloads": 600},
            "acme/vit": {"pipeline_tag": "image-classification", "downloads": 500},
        }
    )
    TagOverride.objects.create(tag=vision, model=models["acme/vit"], action="include")
    tags_apply()
    return {"chat": chat, "code": code, "vision": vision, **models}


def test_tags_for_models_gives_each_models_tags_in_curated_order_in_one_query(
    catalog, django_assert_num_queries
):
    ids = [catalog[h].pk for h in ("acme/coder-7b", "acme/llm-7b", "acme/bert")]
    with django_assert_num_queries(1):
        found = tags_for_models(model_ids=ids)
    assert {pk: [t.slug for t in tags] for pk, tags in found.items()} == {
        ids[0]: ["chat", "code"],
        ids[1]: ["chat"],
        ids[2]: [],
    }
    # One Tag instance per tag, shared by the models that carry it.
    assert found[ids[0]][0] is found[ids[1]][0]


def test_tags_for_models_follows_a_changed_position(catalog):
    catalog["code"].position = 1
    catalog["code"].save()
    found = tags_for_models(model_ids=[catalog["acme/coder-7b"].pk])
    assert [t.slug for t in found[catalog["acme/coder-7b"].pk]] == ["code", "chat"]


def test_tags_for_no_models_asks_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert tags_for_models(model_ids=[]) == {}


def test_tag_list_counts_public_models_only_in_order(catalog, django_assert_num_queries):
    with django_assert_num_queries(1):
        counts = [(t.slug, t.model_count) for t in tag_list()]
    # chat: coder-7b and llm-7b; secret-llm is private and not counted.
    assert counts == [("chat", 2), ("code", 1), ("vision", 1)]
    catalog["vision"].model_tags.all().delete()
    assert [t.slug for t in tag_list(include_empty=False)] == ["chat", "code"]


def test_models_with_tag_leaves_private_models_out_unless_asked(catalog):
    assert list(models_with_tag(tag="chat").values_list("hub_id", flat=True)) == [
        "acme/coder-7b",
        "acme/llm-7b",
    ]
    everyone = models_with_tag(tag=catalog["chat"], include_private=True)
    assert list(everyone.values_list("hub_id", flat=True)) == [
        "acme/coder-7b",
        "acme/llm-7b",
        "acme/secret-llm",
    ]
    assert list(models_with_tag(tag="no-such-tag")) == []


def test_tag_by_slug(catalog):
    assert tag_by_slug(slug="code") == catalog["code"]
    assert tag_by_slug(slug="nope") is None


def test_untagged_top_models_keeps_rank_order_and_stops_at_the_limit(catalog):
    ModelTag.objects.filter(model=catalog["acme/llm-7b"]).delete()
    ranked = [
        catalog[h].pk
        for h in ("acme/coder-7b", "acme/bert", "acme/vit", "acme/llm-7b", "acme/secret-llm")
    ]
    found = untagged_top_models(ranked_model_ids=ranked, limit=200)
    assert [m.hub_id for m in found] == ["acme/bert", "acme/llm-7b"]
    # llm-7b ranks 4th: outside the top 3.
    assert [m.hub_id for m in untagged_top_models(ranked_model_ids=ranked, limit=3)] == [
        "acme/bert"
    ]


def test_untagged_top_models_slices_a_queryset_in_the_database(catalog, django_assert_num_queries):
    ranked = HubModel.objects.order_by("-hub_id").values_list("pk", flat=True)
    with django_assert_num_queries(2):
        found = untagged_top_models(ranked_model_ids=ranked, limit=3)
    # vit, secret-llm and llm-7b come first by -hub_id, and all three carry a tag.
    assert found == []
    assert [m.hub_id for m in untagged_top_models(ranked_model_ids=ranked, limit=5)] == [
        "acme/bert"
    ]
