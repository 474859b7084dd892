"""Leaderboards with known dimensions, for the filter, paging and export tests."""

from __future__ import annotations

from registry.models import HubModel
from snapshots.models import Observation, Snapshot
from tagging.models import ModelTag, Tag
from tests.factories import T0, days, hub_record, published_snapshot


def give_tags(hub_id: str, *slugs: str) -> None:
    model = HubModel.objects.get(hub_id=hub_id)
    for slug in slugs:
        tag, _ = Tag.objects.get_or_create(slug=slug, defaults={"name": slug.title()})
        ModelTag.objects.get_or_create(
            model=model, tag=tag, defaults={"source": ModelTag.Source.OVERRIDE}
        )


def set_figures(snapshot: Snapshot, hub_id: str, **fields) -> None:
    Observation.objects.filter(snapshot=snapshot, model__hub_id=hub_id).update(**fields)


def catalog_board() -> Snapshot:
    """Five models a day apart, with distinct providers, licenses, tasks and tags.

    Deltas: llama and mistral have a 24h baseline; bert gained most; qwen is new.
    """
    llama = hub_record(
        "meta-llama/Llama-3.1-8B",
        downloads=500_000,
        likes=900,
        cardData={"license": "llama3.1"},
        safetensors={"total": 8_030_261_248},
        trendingScore=40,
    )
    mistral = hub_record(
        "mistralai/Mistral-7B-v0.1",
        downloads=400_000,
        likes=800,
        safetensors={"total": 7_241_732_096},
        trendingScore=10,
    )
    bert = hub_record(
        "google-bert/bert-base-uncased",
        downloads=300_000,
        likes=100,
        pipeline_tag="fill-mask",
        safetensors={"total": 110_000_000},
        cardData={"license": "apache-2.0"},
        trendingScore=5,
    )
    gemma = hub_record(
        "google/gemma-2-2b-it",
        downloads=200_000,
        likes=50,
        cardData={"license": "gemma"},
        safetensors={"total": 2_600_000_000},
        library_name="keras",
        trendingScore=None,
    )
    qwen = hub_record(
        "Qwen/Qwen2.5-Coder-7B",
        downloads=100_000,
        likes=10,
        cardData={"license": "cc-by-nc-4.0"},
        trendingScore=60,
    )
    published_snapshot(
        [
            {**llama, "downloads": 480_000},
            {**mistral, "downloads": 395_000},
            {**bert, "downloads": 100_000},
            gemma,
        ],
        taken_at=T0,
    )
    latest = published_snapshot([llama, mistral, bert, gemma, qwen], taken_at=T0 + days(1))
    give_tags("meta-llama/Llama-3.1-8B", "chat", "code")
    give_tags("mistralai/Mistral-7B-v0.1", "chat")
    give_tags("Qwen/Qwen2.5-Coder-7B", "code")
    give_tags("google/gemma-2-2b-it", "chat")
    return latest
