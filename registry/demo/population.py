"""Building the demo Hub's population: official releases from the catalog, then
community quantizations, finetunes, adapters and merges derived from them, then a
long tail of small independent models (`_Builder`)."""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from .catalog import (
    _COMMUNITY_LICENSES,
    _CURATED,
    _DOMAINS,
    _ENCODER_TASKS,
    _KINDS,
    _LANGS,
    _LLM_FINETUNERS,
    _LLM_TASKS,
    _NAME_TECH,
    _NAME_WORDS,
    _QUANT_LIBRARY,
    _QUANT_TAGS,
    _QUANTIZERS,
    _STYLES,
    _VISION_TASKS,
)
from .hub import _Model

_LONG_AGO = datetime(2022, 3, 1, tzinfo=UTC)  # earliest creation time of the long tail


def _weighted(rng: random.Random, items: tuple, weight_index: int = 1):
    """Pick one of `items` (tuples) by the weight at `weight_index`."""
    pick = rng.random() * sum(item[weight_index] for item in items)
    for item in items:
        pick -= item[weight_index]
        if pick <= 0:
            return item
    return items[-1]


class _Builder:
    def __init__(self, rng: random.Random, days: list[datetime]) -> None:
        self.rng = rng
        self.days = days
        self.start = days[0]
        self.end = days[-1]
        self.models: list[_Model] = []
        self.by_id: dict[str, _Model] = {}
        self.taken: set[str] = set()
        # A few prolific community authors and many occasional ones (Zipf-like).
        self.authors = self._small_authors(600)
        self.author_weights = list(accumulate(1 / (rank + 1) ** 0.75 for rank in range(600)))
        # Parents that community models derive from, with cumulative weights.
        self.official: list[_Model] = []
        self.official_cum: list[float] = []
        self.community: list[_Model] = []  # finetunes and merges, which get quantized too
        self.by_params: dict[int, list[_Model]] = {}
        self.license_of: dict[str, str | None] = {}

    # -- helpers -------------------------------------------------------------------------

    def _small_authors(self, count: int) -> list[str]:
        rng = self.rng
        names: list[str] = []
        seen: set[str] = set()
        while len(names) < count:
            word, tech = rng.choice(_NAME_WORDS), rng.choice(_NAME_TECH)
            style = rng.random()
            if style < 0.3:
                name = f"{word}{rng.randint(1, 999)}"
            elif style < 0.55:
                name = f"{word}-{tech}"
            elif style < 0.75:
                name = f"{word.capitalize()}{tech.upper() if len(tech) <= 3 else tech.capitalize()}"
            else:
                name = f"{word}_{tech}{rng.randint(1, 99)}"
            if name.lower() not in seen:
                seen.add(name.lower())
                names.append(name)
        return names

    def small_author(self) -> str:
        index = bisect_left(self.author_weights, self.rng.random() * self.author_weights[-1])
        return self.authors[min(index, len(self.authors) - 1)]

    def unique_id(self, author: str, name: str) -> str:
        name = name[:96]
        hub_id = f"{author}/{name}"
        suffix = 2
        while hub_id.lower() in self.taken:
            hub_id = f"{author}/{name[:90]}-v{suffix}"
            suffix += 1
        self.taken.add(hub_id.lower())
        return hub_id

    def lognormal(self, median: float, sigma: float) -> float:
        return median * math.exp(self.rng.gauss(0.0, sigma))

    def community_license(self, parent_license: str | None) -> str | None:
        if parent_license is not None and self.rng.random() < 0.65:
            return parent_license
        return _weighted(self.rng, _COMMUNITY_LICENSES)[0]

    def created_after(self, latest: datetime, new_share: float) -> datetime:
        """A creation time after `latest` and no later than the last day.

        Before the window, or (with chance `new_share`) during it; a model whose
        parent is itself new follows within hours or days, as quantizers do.
        """
        rng = self.rng
        if latest < self.start and rng.random() >= new_share:
            span = (self.start - latest).total_seconds()
            return latest + timedelta(seconds=int(span * (0.001 + 0.998 * rng.random() ** 0.6)))
        if latest < self.start:
            day = rng.randrange(len(self.days))
            moment = self.days[day] - timedelta(seconds=rng.randrange(3600, 23 * 3600))
            if moment > latest:
                return moment
        span = (self.end - latest).total_seconds()
        return latest + timedelta(seconds=int(span * (0.02 + 0.97 * rng.random() ** 2)))

    def add(
        self,
        model: _Model,
        license: str | None,
        parents: list[tuple[str, _Model]],
        *,
        has_card: bool = True,
    ) -> None:
        tags = model.tags
        card: dict = {}
        for _, parent in parents:
            tags.append(f"base_model:{parent.hub_id}")
        for relation, parent in parents:
            tags.append(f"base_model:{relation}:{parent.hub_id}")
        if parents:
            ids = [parent.hub_id for _, parent in parents]
            card["base_model"] = ids[0] if len(ids) == 1 else ids
        if license is not None and has_card:
            if license.startswith("other:"):
                card["license"] = "other"
                card["license_name"] = license[6:]
                card["license_link"] = "LICENSE"
                tags.append("license:other")
            else:
                card["license"] = license
                tags.append(f"license:{license}")
        if model.pipeline_tag:
            card["pipeline_tag"] = model.pipeline_tag
        if model.library_name:
            card["library_name"] = model.library_name
        tags.extend(("endpoints_compatible", "region:us"))
        # No duplicates, and the "safetensors" tag only where there are safetensors.
        model.tags = [
            tag
            for index, tag in enumerate(tags)
            if tag not in tags[:index]
            and (tag != "safetensors" or model.parameters_field == "safetensors")
        ]
        # The Hub reads license and base models from the README's front matter.
        model.card = card if has_card else None
        self.models.append(model)
        self.by_id[model.hub_id] = model

    def add_merge_candidate(self, model: _Model) -> None:
        # Merges combine full-weight models of one size: not quantizations, not adapters.
        if model.parameters and model.kind == "llm":
            self.by_params.setdefault(model.parameters, []).append(model)

    # -- the population --------------------------------------------------------------------

    def add_curated(self, limit: int) -> None:
        rng = self.rng
        new_count = sum(1 for row in _CURATED if row[7].get("new"))
        new_slot = 0
        for org, name, kind, arch, parameters, license, popularity, extras in _CURATED:
            if len(self.models) >= limit:
                break
            base = extras.get("base")
            parent = self.by_id.get(base[1]) if base else None
            if base and parent is None:
                continue
            pipeline_tag, library, kind_tags = _KINDS[kind]
            library = extras.get("library", library)
            if extras.get("new") and len(self.days) > 2:
                # Releases spread over the window's middle third to two-thirds.
                new_slot += 1
                day = max(1, len(self.days) * new_slot // (new_count + 2))
                created = self.days[day] - timedelta(hours=rng.randrange(2, 20))
            else:
                created = self.start - timedelta(seconds=rng.randrange(20 * 86400, 900 * 86400))
                if parent is not None and created <= parent.created:
                    created = parent.created + timedelta(days=rng.randrange(1, 60))
                    created = min(created, self.start - timedelta(days=1))
            if kind == "diffusion":
                arch = f"diffusers:{arch}"
            tags = [arch, *filter(None, (library,)), "safetensors", *kind_tags, "en"]
            if rng.random() < 0.6:
                tags.append(f"arxiv:{rng.randrange(2301, 2512)}.{rng.randrange(1, 20000):05d}")
            model = _Model(
                hub_id=self.unique_id(org, name),
                author=org,
                kind=kind,
                created=created,
                level=self.lognormal(popularity, 0.25),
                pipeline_tag=pipeline_tag,
                library_name=library,
                tags=tags,
                card=None,
                parameters=parameters,
                parameters_field="safetensors" if parameters else None,
                gated=extras.get("gated", False),
                hype=4.0,
            )
            model.likes_potential = 2.5 * model.level**0.55 * math.exp(rng.gauss(0, 0.4))
            self.add(model, license, [(base[0], parent)] if parent else [])
            self.official.append(model)
            self.add_merge_candidate(model)
            cumulative = (self.official_cum[-1] if self.official_cum else 0.0) + model.level**0.5
            self.official_cum.append(cumulative)
            self.license_of[model.hub_id] = license

    def pick_parent(self) -> _Model:
        rng = self.rng
        if self.community and rng.random() < 0.25:
            return rng.choice(self.community)
        index = bisect_left(self.official_cum, rng.random() * self.official_cum[-1])
        return self.official[min(index, len(self.official) - 1)]

    def add_community(self) -> None:
        rng = self.rng
        pick = rng.random()
        if pick < 0.08:
            self.add_independent()
            return
        parent = self.pick_parent()
        if pick < 0.42:
            relation = "quantized"
        elif pick < 0.80:
            relation = "finetune"
        elif pick < 0.94:
            relation = "adapter"
        else:
            relation = "merge"
        if parent.kind not in ("llm", "vlm"):
            relation = "adapter" if parent.kind == "diffusion" and pick < 0.8 else "finetune"
        if relation == "merge" and parent.kind != "llm":
            relation = "finetune"
        if relation == "quantized":
            self.add_quantized(parent)
        elif relation == "adapter":
            self.add_adapter(parent)
        elif relation == "merge":
            self.add_merge(parent)
        else:
            self.add_finetune(parent)

    def _derived(
        self,
        *,
        author: str,
        name: str,
        parents: list[_Model],
        kind: str,
        level: float,
        pipeline_tag: str | None,
        library: str | None,
        tags: list[str],
        parameters: int | None,
        parameters_field: str | None,
        license: str | None,
        relation: str,
    ) -> _Model:
        rng = self.rng
        model = _Model(
            hub_id=self.unique_id(author, name),
            author=author,
            kind=kind,
            created=self.created_after(max(parent.created for parent in parents), 0.12),
            level=level,
            pipeline_tag=pipeline_tag,
            library_name=library,
            tags=tags,
            card=None,
            parameters=parameters if parameters_field else None,
            parameters_field=parameters_field if parameters else None,
            gated="auto" if rng.random() < 0.012 else False,
        )
        model.likes_potential = 1.2 * level**0.55 * math.exp(rng.gauss(0, 0.8))
        self.add(model, license, [(relation, parent) for parent in parents])
        self.license_of[model.hub_id] = license
        return model

    def add_quantized(self, parent: _Model) -> None:
        rng = self.rng
        author, _, forms = _weighted(rng, _QUANTIZERS)
        suffix, form = rng.choice(forms)
        short = parent.hub_id.split("/", 1)[1]
        name = f"{short}-{suffix}"
        if author is not None and f"{author}/{name}".lower() in self.taken:
            author = None  # that quantizer has done this one already; someone else does
        if author is None:
            author = self.small_author()
            if suffix == "Q4_K_M-GGUF":
                name = name.lower()
            share = min(0.02, self.lognormal(0.002, 1.5))
        else:
            share = min(0.3, self.lognormal(0.04, 1.0))
        self._derived(
            author=author,
            name=name,
            parents=[parent],
            kind=parent.kind,
            level=parent.level * share,
            pipeline_tag=parent.pipeline_tag,
            library=_QUANT_LIBRARY[form],
            tags=[parent.tags[0], *_QUANT_TAGS[form], *filter(None, (parent.pipeline_tag,))],
            parameters=parent.parameters,
            parameters_field="gguf" if form == "gguf" else "safetensors",
            license=self.license_of.get(parent.hub_id),
            relation="quantized",
        )

    def add_finetune(self, parent: _Model) -> None:
        rng = self.rng
        short = parent.hub_id.split("/", 1)[1]
        pipeline_tag, library = parent.pipeline_tag, parent.library_name
        kind = parent.kind
        share = min(0.03, self.lognormal(0.001, 1.6))
        extra_tags: list[str] = ["generated_from_trainer"]
        if kind in ("llm", "vlm"):
            author, _, pattern = _weighted(rng, _LLM_FINETUNERS)
            if author is not None and (
                kind == "vlm" or f"{author}/{pattern.format(name=short)}".lower() in self.taken
            ):
                author, pattern = None, "{name}-{task}"
            if author is None:
                author = self.small_author()
                stem = short if rng.random() < 0.7 else short.lower()
                name = pattern.format(name=stem, task=rng.choice(_LLM_TASKS))
            else:
                name = pattern.format(name=short)
                share = min(0.3, self.lognormal(0.03, 1.0))
            extra_tags = ["trl", rng.choice(("sft", "dpo", "grpo", "unsloth"))]
        elif kind in ("encoder", "seq2seq"):
            author = self.small_author()
            task, pipeline_tag = rng.choice(_ENCODER_TASKS)
            name = f"{short}-finetuned-{task}"
            share = min(0.03, self.lognormal(0.0004, 1.8))
        elif kind in ("vision", "clip"):
            author = self.small_author()
            name = f"{short}-finetuned-{rng.choice(_VISION_TASKS)}"
            pipeline_tag = "image-classification"
        elif kind in ("asr", "tts"):
            author = self.small_author()
            name = f"{short}-{rng.choice(_LANGS)}"
        elif kind == "diffusion":
            author = self.small_author()
            name = f"{rng.choice(_STYLES)}-diffusion-{rng.randint(1, 9)}"
            extra_tags = ["diffusers"]
        else:
            author = self.small_author()
            name = f"{short}-{rng.choice(_DOMAINS)}"
        model = self._derived(
            author=author,
            name=name,
            parents=[parent],
            kind=kind,
            level=parent.level * share,
            pipeline_tag=pipeline_tag,
            library=library,
            tags=[
                parent.tags[0],
                *filter(None, (library, "safetensors", pipeline_tag)),
                *extra_tags,
            ],
            parameters=parent.parameters,
            parameters_field="safetensors",
            license=self.community_license(self.license_of.get(parent.hub_id)),
            relation="finetune",
        )
        if kind in ("llm", "vlm"):
            self.community.append(model)
            self.add_merge_candidate(model)

    def add_adapter(self, parent: _Model) -> None:
        rng = self.rng
        short = parent.hub_id.split("/", 1)[1]
        author = self.small_author()
        if parent.kind == "diffusion":
            family = "flux" if "FLUX" in parent.hub_id else "sdxl"
            name = f"{family}-{rng.choice(_STYLES)}-lora"
            library, tags = "diffusers", ["diffusers", "lora", "template:sd-lora", "text-to-image"]
            parameters = None
        else:
            name = f"{short}-lora-{rng.choice(_LLM_TASKS)}"
            library, tags = "peft", ["peft", "safetensors", "lora", "trl", "sft"]
            if parent.pipeline_tag:
                tags.append(parent.pipeline_tag)
            base = parent.parameters or 1_000_000_000
            parameters = int(base * rng.uniform(0.002, 0.02))
        self._derived(
            author=author,
            name=name,
            parents=[parent],
            kind=parent.kind,
            level=parent.level * min(0.02, self.lognormal(0.0008, 1.6)),
            pipeline_tag=parent.pipeline_tag,
            library=library,
            tags=[parent.tags[0], *tags],
            parameters=parameters,
            parameters_field="safetensors",
            license=self.community_license(self.license_of.get(parent.hub_id)),
            relation="adapter",
        )

    def add_merge(self, parent: _Model) -> None:
        rng = self.rng
        partners = [m for m in self.by_params.get(parent.parameters or 0, ()) if m is not parent]
        if not partners or (parent.parameters or 0) > 80_000_000_000:
            self.add_finetune(parent)
            return
        other = rng.choice(partners)
        first = parent.hub_id.split("/", 1)[1]
        second = other.hub_id.split("/", 1)[1]
        method = rng.choice(("slerp", "ties", "dare-ties", "linear", "della"))
        if rng.random() < 0.5:
            name = f"{first}-{second.split('-')[0]}-{method}"
        else:
            word = rng.choice(("Nova", "Aurora", "Lumina", "Chimera", "Orion", "Zephyr"))
            billions = (parent.parameters or 0) / 1e9
            size = f"{billions:.1f}".removesuffix(".0") if billions < 3 else f"{billions:.0f}"
            name = f"{word}-{size}B-{method}-merge"
        model = self._derived(
            author=self.small_author(),
            name=name,
            parents=[parent, other],
            kind="llm",
            level=parent.level * self.lognormal(0.001, 2.0),
            pipeline_tag=parent.pipeline_tag,
            library="transformers",
            tags=[
                parent.tags[0],
                "transformers",
                "safetensors",
                "mergekit",
                "merge",
                "text-generation",
            ],
            parameters=parent.parameters,
            parameters_field="safetensors",
            license=self.community_license(self.license_of.get(parent.hub_id)),
            relation="merge",
        )
        self.community.append(model)
        self.add_merge_candidate(model)

    def add_independent(self) -> None:
        """The Hub's long tail: course exercises, RL agents, tiny experiments."""
        rng = self.rng
        author = self.small_author()
        choice = rng.randrange(6)
        if choice == 0:
            env = rng.choice(
                (
                    "LunarLander-v2",
                    "CartPole-v1",
                    "SpaceInvadersNoFrameskip-v4",
                    "Huggy",
                    "SnowballTarget",
                    "Pyramids",
                )
            )
            name, pipeline_tag, library = (
                f"ppo-{env}",
                "reinforcement-learning",
                ("stable-baselines3"),
            )
            tags, parameters = ["stable-baselines3", "deep-reinforcement-learning"], None
        elif choice == 1:
            name = f"q-FrozenLake-v1-4x4-{rng.choice(('noSlippery', 'Slippery'))}"
            pipeline_tag, library, tags, parameters = (
                "reinforcement-learning",
                None,
                ["q-learning", "custom-implementation"],
                None,
            )
        elif choice == 2:
            name = f"sd-class-butterflies-{rng.choice((32, 64, 128))}"
            pipeline_tag, library = "unconditional-image-generation", "diffusers"
            tags, parameters = ["diffusers", "pytorch", "diffusion-models-class"], None
        elif choice == 3:
            name = rng.choice(
                (
                    "my_awesome_model",
                    "my_awesome_qa_model",
                    "test-model",
                    "bert-finetuned-ner",
                    "results",
                    "output",
                )
            )
            pipeline_tag = rng.choice(("text-classification", "question-answering", None))
            library, tags = "transformers", ["transformers", "tensorboard", "safetensors"]
            parameters = rng.choice((66955010, 109483778, 124647170))
        elif choice == 4:
            size = rng.choice((18, 50, 101))
            name = f"resnet{size}-{rng.choice(_VISION_TASKS)}"
            pipeline_tag, library, tags = "image-classification", "timm", ["timm", "pytorch"]
            parameters = {18: 11689512, 50: 25557032, 101: 44549160}[size]
        else:
            size = rng.choice((15, 42, 110, 350))
            name = f"tiny-gpt-{rng.choice(('shakespeare', 'stories', 'code', 'poems'))}-{size}m"
            pipeline_tag, library = "text-generation", "transformers"
            tags, parameters = (
                ["transformers", "safetensors", "gpt2", "text-generation"],
                (size * 1_000_000 + rng.randrange(1_000_000)),
            )
        model = _Model(
            hub_id=self.unique_id(author, name),
            author=author,
            kind="other",
            created=self.created_after(_LONG_AGO, 0.10),
            level=self.lognormal(1.5, 2.0),
            pipeline_tag=pipeline_tag,
            library_name=library,
            tags=tags,
            card=None,
            parameters=parameters,
            parameters_field="safetensors" if parameters else None,
            gated=False,
        )
        model.likes_potential = 0.8 * model.level**0.5 * math.exp(rng.gauss(0, 1.0))
        license = self.community_license(None)
        self.add(model, license, [], has_card=rng.random() >= 0.15)
        self.license_of[model.hub_id] = license
