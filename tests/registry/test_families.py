"""Families: rules, their precedence, inheritance through base_model links, cycles."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from registry.families import MAX_DEPTH, families_assign
from registry.models import Family, FamilyMember, FamilyRule, HubModel
from tests.factories import hub_record, published_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_seeded_families(db):
    """Mechanics start from no families (the seed is tested apart)."""
    Family.objects.all().delete()


def family(slug: str, *rules: tuple[str, str], priority: int = 100) -> Family:
    made = Family.objects.create(slug=slug, name=slug.title())
    for kind, pattern in rules:
        FamilyRule.objects.create(family=made, kind=kind, pattern=pattern, priority=priority)
    return made


def based_on(*pairs: tuple[str, str]) -> dict:
    """Hub tags naming base models: ("finetune", id) or ("", id) for a bare base_model tag."""
    tags = ["transformers"]
    for relation, base in pairs:
        tags.append(f"base_model:{relation}:{base}" if relation else f"base_model:{base}")
    return {"tags": tags}


def catalog(spec: dict[str, dict]) -> None:
    published_snapshot([hub_record(hub_id, **fields) for hub_id, fields in spec.items()])


def membership(hub_id: str) -> tuple[str, str, str, str | None] | None:
    """(family slug, relation, via, source hub id) of a model, or None."""
    row = (
        FamilyMember.objects.filter(model__hub_id=hub_id)
        .values_list("family__slug", "relation", "via", "source__hub_id")
        .first()
    )
    return row


def test_rules_on_the_id_prefix_author_and_regex_match_case_insensitively(no_seeded_families):
    family("llama", ("author", "Meta-Llama"))
    family("gemma", ("id_prefix", "GOOGLE/gemma"))
    family("nemotron", ("id_regex", r"(?:^|[-/])nemotron"))
    catalog(
        {
            "meta-llama/Llama-3.1-8B": {},
            "google/gemma-3-4b-it": {},
            "google/vit-base": {},
            "acme/Super-Nemotron-9B": {},
        }
    )
    families_assign()
    assert membership("meta-llama/Llama-3.1-8B") == ("llama", "base", "rule", None)
    assert membership("google/gemma-3-4b-it") == ("gemma", "base", "rule", None)
    assert membership("acme/Super-Nemotron-9B") == ("nemotron", "base", "rule", None)
    assert membership("google/vit-base") is None


def test_finetunes_quantizations_adapters_and_merges_inherit_with_their_relation(
    no_seeded_families,
):
    family("llama", ("author", "meta-llama"))
    base = "meta-llama/Llama-3.1-8B"
    catalog(
        {
            base: {},
            "nous/Hermes-8B": based_on(("finetune", base)),
            "bartowski/Hermes-8B-GGUF": based_on(("quantized", "nous/Hermes-8B")),
            "someone/style-lora": based_on(("adapter", base)),
            "merger/frankenmerge": based_on(("merge", "elsewhere/unknown"), ("merge", base)),
            "plain/bare-tag": based_on(("", base)),
        }
    )
    families_assign()
    assert membership("nous/Hermes-8B") == ("llama", "finetune", "base_model", base)
    # Two links away: the relation is the model's own link, the source its own base.
    assert membership("bartowski/Hermes-8B-GGUF") == (
        "llama",
        "quantized",
        "base_model",
        "nous/Hermes-8B",
    )
    assert membership("someone/style-lora") == ("llama", "adapter", "base_model", base)
    assert membership("merger/frankenmerge") == ("llama", "merge", "base_model", base)
    # A base named without a relation counts as a finetune.
    assert membership("plain/bare-tag") == ("llama", "finetune", "base_model", base)


def test_card_data_base_model_links_too(no_seeded_families):
    family("qwen", ("author", "Qwen"))
    catalog({"Qwen/Qwen3-8B": {}, "x/tuned": {"cardData": {"base_model": "Qwen/Qwen3-8B"}}})
    families_assign()
    assert membership("x/tuned") == ("qwen", "finetune", "base_model", "Qwen/Qwen3-8B")


def test_a_rule_on_the_model_itself_beats_inheritance(no_seeded_families):
    family("qwen", ("author", "Qwen"))
    family("deepseek", ("author", "deepseek-ai"))
    catalog(
        {
            "Qwen/Qwen2.5-Math-7B": {},
            "deepseek-ai/R1-Distill-Qwen-7B": based_on(("finetune", "Qwen/Qwen2.5-Math-7B")),
        }
    )
    families_assign()
    # Its own author rule wins; its relation to that family is still its link.
    assert membership("deepseek-ai/R1-Distill-Qwen-7B") == ("deepseek", "finetune", "rule", None)


def test_a_base_model_rule_reaches_models_whose_base_is_not_in_the_catalog(no_seeded_families):
    family("llama", ("base_model", "meta-llama/"))
    catalog({"bartowski/Llama-9-GGUF": based_on(("quantized", "meta-llama/Llama-9"))})
    families_assign()
    assert membership("bartowski/Llama-9-GGUF") == ("llama", "quantized", "rule", None)


def test_the_lowest_priority_then_the_longest_pattern_wins(no_seeded_families):
    broad = family("broad", ("id_prefix", "acme/"))
    narrow = family("narrow", ("id_prefix", "acme/widget"))
    catalog({"acme/widget-7b": {}, "acme/gadget": {}})
    families_assign()
    assert membership("acme/widget-7b")[0] == "narrow"
    assert membership("acme/gadget")[0] == "broad"
    FamilyRule.objects.filter(family=broad).update(priority=10)
    families_assign()
    assert membership("acme/widget-7b")[0] == "broad"
    FamilyRule.objects.filter(family=narrow).update(is_active=False)
    FamilyRule.objects.filter(family=broad).update(is_active=False)
    result = families_assign()
    assert membership("acme/widget-7b") is None
    assert result.removed == 2 and result.members == 0


def test_cycles_in_base_links_end_and_still_reach_a_family(no_seeded_families):
    family("llama", ("author", "meta-llama"))
    catalog(
        {
            "meta-llama/Llama-3.1-8B": {},
            "a/one": based_on(("finetune", "b/two")),
            "b/two": based_on(("merge", "a/one"), ("merge", "meta-llama/Llama-3.1-8B")),
            "c/loop": based_on(("finetune", "d/loop")),
            "d/loop": based_on(("finetune", "c/loop")),
            "e/self": based_on(("finetune", "e/self")),
        }
    )
    families_assign()
    assert membership("b/two") == ("llama", "merge", "base_model", "meta-llama/Llama-3.1-8B")
    assert membership("a/one") == ("llama", "finetune", "base_model", "b/two")
    assert membership("c/loop") is None
    assert membership("d/loop") is None
    assert membership("e/self") is None


def test_chains_are_followed_up_to_the_depth_bound(no_seeded_families):
    family("root", ("id_prefix", "root/"))
    spec = {"root/base": {}}
    parent = "root/base"
    for depth in range(1, MAX_DEPTH + 3):
        hub_id = f"chain/level-{depth:02d}"
        spec[hub_id] = based_on(("finetune", parent))
        parent = hub_id
    catalog(spec)
    families_assign()
    assert membership(f"chain/level-{MAX_DEPTH:02d}")[0] == "root"
    assert membership(f"chain/level-{MAX_DEPTH + 1:02d}") is None


def test_a_publish_assigns_new_models_and_carries_descendants_along(no_seeded_families):
    family("llama", ("author", "meta-llama"))
    catalog({"meta-llama/Llama-3.1-8B": {}, "x/tune": based_on(("finetune", "x/base"))})
    # Published through the real service: the families are already there.
    assert membership("meta-llama/Llama-3.1-8B") == ("llama", "base", "rule", None)
    assert membership("x/tune") is None
    # Its base arrives later, itself a finetune of Llama: the untouched finetune follows.
    catalog({"x/base": based_on(("finetune", "meta-llama/Llama-3.1-8B"))})
    assert membership("x/base") == ("llama", "finetune", "base_model", "meta-llama/Llama-3.1-8B")
    assert membership("x/tune") == ("llama", "finetune", "base_model", "x/base")


def test_an_unchanged_assignment_writes_nothing(no_seeded_families):
    family("llama", ("author", "meta-llama"))
    catalog({"meta-llama/Llama-3.1-8B": {}})
    again = families_assign()
    assert (again.added, again.removed, again.changed, again.members) == (0, 0, 0, 1)


@pytest.mark.parametrize(
    ("kind", "pattern", "problem"),
    [
        ("id_regex", "llama(", "Not a valid regular expression"),
        ("id_regex", "x*", "matches every model id"),
        ("author", "meta-llama/x", "has no '/'"),
        ("id_prefix", "   ", "needs a pattern"),
    ],
)
def test_bad_rules_are_refused(no_seeded_families, kind, pattern, problem):
    rule = FamilyRule(family=family("f"), kind=kind, pattern=pattern)
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert problem in str(caught.value)


def test_the_seeded_families_match_the_demo_catalog_ids():
    assert (
        Family.objects.filter(
            slug__in=["llama", "qwen", "mistral", "gemma", "phi", "deepseek"]
        ).count()
        == 6
    )
    catalog(
        {
            "meta-llama/Llama-3.1-8B-Instruct": {},
            "Qwen/Qwen3-8B": {},
            "google/gemma-3-4b-it": {},
            "microsoft/Phi-3-mini-4k-instruct": {},
            "microsoft/deberta-v3-base": {},
            "unsloth/gemma-3-4b-it-GGUF": based_on(("quantized", "google/gemma-3-4b-it")),
        }
    )
    assert membership("meta-llama/Llama-3.1-8B-Instruct")[0] == "llama"
    assert membership("Qwen/Qwen3-8B")[0] == "qwen"
    assert membership("microsoft/Phi-3-mini-4k-instruct")[0] == "phi"
    assert membership("microsoft/deberta-v3-base") is None
    assert membership("unsloth/gemma-3-4b-it-GGUF")[:2] == ("gemma", "quantized")
    assert HubModel.objects.count() == 6
