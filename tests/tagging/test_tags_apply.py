"""tags_apply: rules of every kind, overrides that always win, bulk behaviour."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.caching import content_generation
from registry.models import HubModel
from tagging import services
from tagging.models import ModelTag, TagOverride, TagRule
from tagging.services import tags_apply

from .support import tag_slugs, tag_sources

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_seeded_tags")]


def rule(tag, kind, value, **fields) -> TagRule:
    return TagRule.objects.create(tag=tag, kind=kind, value=value, **fields)


def test_it_tags_by_pipeline_tag(make_tag, make_models):
    speech = make_tag("speech")
    rule(speech, "pipeline_tag", "automatic-speech-recognition")
    models = make_models(
        {
            "openai/whisper-small": {"pipeline_tag": "automatic-speech-recognition"},
            "acme/llm-7b": {"pipeline_tag": "text-generation"},
        }
    )
    result = tags_apply()
    assert (result.models, result.added, result.removed) == (2, 1, 0)
    assert tag_sources(models["openai/whisper-small"]) == {"speech": "rule"}
    assert tag_slugs(models["acme/llm-7b"]) == set()


def test_it_tags_by_hub_tag(make_tag, make_models):
    tools = make_tag("tool-use")
    rule(tools, "hub_tag", "function-calling")
    models = make_models(
        {
            "acme/agent-8b": {"tags": ["transformers", "function-calling", "license:mit"]},
            "acme/plain-8b": {"tags": ["transformers", "license:mit"]},
        }
    )
    tags_apply()
    assert tag_slugs(models["acme/agent-8b"]) == {"tool-use"}
    assert tag_slugs(models["acme/plain-8b"]) == set()


def test_it_tags_by_library(make_tag, make_models):
    images = make_tag("image-generation")
    rule(images, "library", "diffusers")
    models = make_models(
        {
            "acme/sdxl": {"library_name": "diffusers", "pipeline_tag": "text-to-image"},
            "acme/bert": {"library_name": "transformers", "pipeline_tag": "fill-mask"},
        }
    )
    tags_apply()
    assert tag_slugs(models["acme/sdxl"]) == {"image-generation"}
    assert tag_slugs(models["acme/bert"]) == set()


def test_it_tags_by_id_pattern_searched_anywhere_in_the_id(make_tag, make_models):
    code = make_tag("code")
    rule(code, "id_pattern", r"(?<!en)coder|starcoder")
    models = make_models(
        {
            "Qwen/Qwen2.5-Coder-7B-Instruct": {},
            "bigcode/starcoder2-15b": {},
            "google/bert-encoder": {},  # "coder" inside "encoder" is not code
        }
    )
    tags_apply()
    assert tag_slugs(models["Qwen/Qwen2.5-Coder-7B-Instruct"]) == {"code"}
    assert tag_slugs(models["bigcode/starcoder2-15b"]) == {"code"}
    assert tag_slugs(models["google/bert-encoder"]) == set()


def test_it_compares_every_kind_case_insensitively(make_tag, make_models):
    tag = make_tag("x")
    rule(tag, "pipeline_tag", "Text-To-Speech")
    rule(tag, "hub_tag", "REASONING")
    rule(tag, "library", "Sentence-Transformers")
    rule(tag, "id_pattern", "QWQ")
    models = make_models(
        {
            "a/tts": {"pipeline_tag": "text-to-speech"},
            "a/thinks": {"tags": ["Reasoning"], "pipeline_tag": ""},
            "a/embeds": {"library_name": "sentence-transformers", "pipeline_tag": ""},
            "Qwen/qwq-32b": {"pipeline_tag": ""},
            "a/none": {"pipeline_tag": ""},
        }
    )
    tags_apply()
    tagged = set(ModelTag.objects.values_list("model__hub_id", flat=True))
    assert tagged == {"a/tts", "a/thinks", "a/embeds", "Qwen/qwq-32b"}
    assert tag_slugs(models["a/none"]) == set()


def test_one_model_gets_every_tag_its_rules_give_once_each(make_tag, make_models):
    chat, code = make_tag("chat"), make_tag("code")
    rule(chat, "pipeline_tag", "text-generation")
    rule(chat, "hub_tag", "conversational")  # a second way to the same tag
    rule(code, "id_pattern", "coder")
    models = make_models({"acme/coder-7b": {"tags": ["conversational"]}})
    result = tags_apply()
    assert result.added == 2
    assert tag_slugs(models["acme/coder-7b"]) == {"chat", "code"}


def test_it_ignores_inactive_rules_and_removes_what_they_gave(make_tag, make_models):
    chat = make_tag("chat")
    gives_chat = rule(chat, "pipeline_tag", "text-generation")
    models = make_models({"acme/llm": {}})
    tags_apply()
    assert tag_slugs(models["acme/llm"]) == {"chat"}

    TagRule.objects.filter(pk=gives_chat.pk).update(is_active=False)
    result = tags_apply()
    assert (result.added, result.removed) == (0, 1)
    assert tag_slugs(models["acme/llm"]) == set()


def test_an_include_override_tags_a_model_no_rule_matches(make_tag, make_models):
    vision = make_tag("vision")
    models = make_models({"acme/odd-one": {}})
    TagOverride.objects.create(tag=vision, model=models["acme/odd-one"], action="include")
    result = tags_apply()
    assert result.added == 1
    assert tag_sources(models["acme/odd-one"]) == {"vision": "override"}


def test_an_include_override_on_a_matching_rule_is_recorded_as_the_override(make_tag, make_models):
    chat = make_tag("chat")
    rule(chat, "pipeline_tag", "text-generation")
    models = make_models({"acme/llm": {}})
    tags_apply()
    assert tag_sources(models["acme/llm"]) == {"chat": "rule"}

    override = TagOverride.objects.create(tag=chat, model=models["acme/llm"], action="include")
    result = tags_apply()
    assert (result.added, result.removed, result.source_changed) == (0, 0, 1)
    assert tag_sources(models["acme/llm"]) == {"chat": "override"}

    override.delete()
    tags_apply()
    assert tag_sources(models["acme/llm"]) == {"chat": "rule"}


def test_an_exclude_override_beats_every_matching_rule(make_tag, make_models):
    chat, code = make_tag("chat"), make_tag("code")
    rule(chat, "pipeline_tag", "text-generation")
    rule(chat, "hub_tag", "conversational")
    rule(code, "id_pattern", "coder")
    models = make_models({"acme/coder-base": {"tags": ["conversational"]}, "acme/chatty": {}})
    TagOverride.objects.create(tag=chat, model=models["acme/coder-base"], action="exclude")
    tags_apply()
    assert tag_slugs(models["acme/coder-base"]) == {"code"}
    assert tag_slugs(models["acme/chatty"]) == {"chat"}  # the override is per model


def test_an_exclude_override_removes_a_tag_already_applied(make_tag, make_models):
    chat = make_tag("chat")
    rule(chat, "pipeline_tag", "text-generation")
    models = make_models({"acme/base-7b": {}})
    tags_apply()
    TagOverride.objects.create(tag=chat, model=models["acme/base-7b"], action="exclude")
    result = tags_apply()
    assert (result.added, result.removed) == (0, 1)
    assert tag_slugs(models["acme/base-7b"]) == set()


def test_it_skips_a_bad_pattern_saved_outside_the_admin_and_applies_the_rest(
    make_tag, make_models, caplog
):
    code = make_tag("code")
    rule(code, "id_pattern", "coder(")  # the admin refuses this; a shell may not
    rule(code, "id_pattern", "starcoder")
    models = make_models({"bigcode/starcoder2": {}})
    tags_apply()
    assert tag_slugs(models["bigcode/starcoder2"]) == {"code"}
    assert "bad pattern" in caplog.text


def test_it_decides_only_the_models_it_is_given(make_tag, make_models):
    chat = make_tag("chat")
    rule(chat, "pipeline_tag", "text-generation")
    models = make_models({"acme/a": {}, "acme/b": {}, "acme/c": {}})
    result = tags_apply(model_ids=[models["acme/a"].pk, models["acme/b"].pk])
    assert (result.models, result.added) == (2, 2)
    assert set(ModelTag.objects.values_list("model__hub_id", flat=True)) == {"acme/a", "acme/b"}

    # A model outside the scope keeps its (now stale) tags until it is in scope.
    TagRule.objects.update(is_active=False)
    tags_apply(model_ids=[models["acme/a"].pk])
    assert set(ModelTag.objects.values_list("model__hub_id", flat=True)) == {"acme/b"}


def test_it_takes_a_queryset_of_ids_as_its_scope(make_tag, make_models):
    chat = make_tag("chat")
    rule(chat, "pipeline_tag", "text-generation")
    make_models({"acme/a": {}, "other/b": {}})
    scope = HubModel.objects.filter(author="acme").values("pk")
    result = tags_apply(model_ids=scope)
    assert result.models == 1
    assert list(ModelTag.objects.values_list("model__hub_id", flat=True)) == ["acme/a"]


def test_applying_twice_changes_nothing_the_second_time(make_tag, make_models):
    chat = make_tag("chat")
    rule(chat, "pipeline_tag", "text-generation")
    make_models({"acme/a": {}, "acme/b": {}})
    assert tags_apply().changed
    again = tags_apply()
    assert (again.models, again.added, again.removed, again.changed) == (2, 0, 0, False)
    assert ModelTag.objects.count() == 2


def test_it_invalidates_caches_after_commit_and_only_when_tags_changed(
    make_tag, make_models, django_capture_on_commit_callbacks
):
    chat = make_tag("chat")
    rule(chat, "pipeline_tag", "text-generation")
    make_models({"acme/a": {}})
    before = content_generation()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        tags_apply()
    assert len(callbacks) == 1
    assert content_generation() == before + 1
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        tags_apply()
    assert callbacks == []
    assert content_generation() == before + 1


def test_it_works_across_chunks(make_tag, make_models, monkeypatch):
    monkeypatch.setattr(services, "CHUNK", 4)
    chat = make_tag("chat")
    rule(chat, "id_pattern", "-(0|2|4|6|8)$")
    models = make_models({f"acme/m-{i}": {} for i in range(11)})
    result = tags_apply()
    assert (result.models, result.added) == (11, 5)  # m-0 … m-8, not m-10
    result = tags_apply(model_ids=[m.pk for m in models.values()])
    assert (result.models, result.added, result.removed) == (11, 0, 0)
    TagRule.objects.update(value="-(1|3)$")
    result = tags_apply()
    assert (result.added, result.removed) == (2, 5)
    assert set(ModelTag.objects.values_list("model__hub_id", flat=True)) == {"acme/m-1", "acme/m-3"}


@pytest.mark.parametrize("scoped", [False, True])
def test_its_query_count_does_not_grow_with_the_number_of_models(make_tag, scoped):
    from tests.factories import hub_records, published_snapshot

    chat, code = make_tag("chat"), make_tag("code")
    rule(chat, "pipeline_tag", "text-generation")
    rule(code, "id_pattern", "model-0000")  # model-00000 … model-00009

    def queries_for(prefix: str, n: int) -> int:
        published_snapshot(hub_records(n, prefix=prefix))
        ids = list(HubModel.objects.filter(hub_id__startswith=prefix).values_list("pk", flat=True))
        ModelTag.objects.filter(model_id__in=ids).delete()
        with CaptureQueriesContext(connection) as queries:
            result = tags_apply(model_ids=ids if scoped else None)
        assert result.added == n + 10  # every model is chat, ten are code too
        return len(queries)

    # Below one insert batch on SQLite (Django sends 333 rows per INSERT there).
    assert queries_for("few", 12) == queries_for("many", 250)
