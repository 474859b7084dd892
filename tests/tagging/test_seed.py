"""The curated tags and rules the migrations seed, applied to realistic records."""

from __future__ import annotations

import re

import pytest

from tagging.models import Tag, TagRule
from tagging.services import tags_apply

from .support import tag_slugs

pytestmark = pytest.mark.django_db

SEEDED = [
    "chat",
    "reasoning",
    "code",
    "tool-use",
    "vision",
    "multimodal",
    "ocr",
    "embeddings",
    "reranking",
    "speech",
    "audio-generation",
    "image-generation",
    "video",
    "translation",
    "on-device",
]


def test_the_curated_tags_are_seeded_in_order_each_with_active_rules():
    assert list(Tag.objects.values_list("slug", flat=True)) == SEEDED
    for tag in Tag.objects.all():
        assert tag.name and tag.description
        assert tag.rules.filter(is_active=True).exists(), tag.slug


def test_every_seeded_rule_passes_the_admins_validation():
    for rule in TagRule.objects.all():
        rule.full_clean()  # raises on a bad or match-everything pattern
        if rule.kind == TagRule.Kind.ID_PATTERN:
            re.compile(rule.value)


# hub id -> (record fields, the seeded tags it should get)
REALISTIC = {
    "meta-llama/Llama-3.1-8B-Instruct": (
        {"tags": ["llama", "text-generation", "conversational"]},
        {"chat"},
    ),
    "Qwen/Qwen2.5-Coder-32B-Instruct": ({"tags": ["qwen2", "conversational"]}, {"chat", "code"}),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": ({}, {"chat", "reasoning"}),
    "Qwen/Qwen2.5-VL-7B-Instruct": (
        {"pipeline_tag": "image-text-to-text", "tags": ["conversational"]},
        {"chat", "vision"},
    ),
    "BAAI/bge-m3": (
        {"pipeline_tag": "sentence-similarity", "library_name": "sentence-transformers"},
        {"embeddings"},
    ),
    "BAAI/bge-reranker-v2-m3": (
        {"pipeline_tag": "text-classification", "library_name": "transformers"},
        {"reranking"},
    ),
    "openai/whisper-large-v3": (
        {"pipeline_tag": "automatic-speech-recognition"},
        {"speech"},
    ),
    "black-forest-labs/FLUX.1-dev": (
        {"pipeline_tag": "text-to-image", "library_name": "diffusers"},
        {"image-generation"},
    ),
    "Wan-AI/Wan2.1-T2V-14B": ({"pipeline_tag": "text-to-video", "library_name": ""}, {"video"}),
    "Helsinki-NLP/opus-mt-en-de": ({"pipeline_tag": "translation"}, {"translation"}),
    "Qwen/Qwen2.5-Omni-7B": ({"pipeline_tag": "any-to-any"}, {"multimodal"}),
    "bartowski/Llama-3.2-3B-Instruct-GGUF": (
        {"library_name": "gguf", "tags": ["gguf", "llama-cpp", "imatrix"]},
        {"chat", "on-device"},
    ),
    "google-bert/bert-base-uncased": ({"pipeline_tag": "fill-mask"}, set()),
    "acme/bert-encoder": ({"pipeline_tag": "fill-mask"}, set()),  # not "coder"
}


def test_the_seeded_rules_tag_well_known_models_as_people_expect(make_models):
    models = make_models({hub_id: fields for hub_id, (fields, _) in REALISTIC.items()})
    tags_apply()
    got = {hub_id: tag_slugs(models[hub_id]) for hub_id in REALISTIC}
    assert got == {hub_id: expected for hub_id, (_, expected) in REALISTIC.items()}
