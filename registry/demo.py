"""A seeded, realistic stand-in for the Hub, for demos, development and tests.

`generate_demo_hub` builds a population of models (official releases of the big
providers, then community quantizations, finetunes, adapters and merges linked
to them by ``base_model`` tags, then a long tail of small models) and simulates
``days`` daily snapshots of their metrics. `DemoHub.records_at` returns the raw
records the Hub's ``/api/models`` would give on one of those days, with every
detail field expanded.

What it imitates, and why it matters downstream:

- heavy tails: daily downloads are log-normal with a very wide spread, plus
  hand-set levels for the famous models, so a few models hold most downloads;
- ``downloads`` is the rolling 30-day sum of true daily downloads and
  ``downloadsAllTime`` their running total, so deltas computed either way agree;
- daily downloads drift (a slow random walk), dip on weekends, start high after
  a release and decay; a few injected spikes multiply one model's downloads
  several-fold for a day or two (`DemoHub.spikes`);
- likes mostly grow, with the odd unlike; models get created during the window
  (quantizers follow big releases within hours); a model's ``sha`` and
  ``lastModified`` change when it is updated, now and then.

Everything comes from one ``random.Random(seed)``: the same seed and ``end``
give the same hub. All series are computed once, up front.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate

HISTORY_DAYS = 29  # simulated days before the window, so day 0 has a full 30-day sum
_LONG_AGO = datetime(2022, 3, 1, tzinfo=UTC)  # earliest creation time of the long tail

# kind: (pipeline_tag, library_name, extra tags)
_KINDS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "llm": (
        "text-generation",
        "transformers",
        ("text-generation", "conversational", "text-generation-inference"),
    ),
    "vlm": ("image-text-to-text", "transformers", ("image-text-to-text", "conversational")),
    "diffusion": ("text-to-image", "diffusers", ("text-to-image",)),
    "asr": ("automatic-speech-recognition", "transformers", ("automatic-speech-recognition",)),
    "embedding": (
        "sentence-similarity",
        "sentence-transformers",
        ("sentence-similarity", "feature-extraction", "text-embeddings-inference"),
    ),
    "reranker": ("text-classification", "sentence-transformers", ("text-classification",)),
    "encoder": ("fill-mask", "transformers", ("fill-mask",)),
    "seq2seq": ("translation", "transformers", ("translation", "summarization")),
    "vision": ("image-classification", "transformers", ("image-classification", "vision")),
    "clip": ("zero-shot-image-classification", "transformers", ("zero-shot-image-classification",)),
    "tts": ("text-to-speech", None, ("text-to-speech",)),
}

# Official releases, one per line: id, kind, architecture tag, parameters, license,
# median daily downloads, extras (gated=..., base=<relation>:<id>, library=..., new =
# released during the window). "-" is missing; "other:<name>" is `license: other`
# with a `license_name`. A base must come before the models derived from it.
_CURATED_TABLE = """
meta-llama/Llama-3.1-8B                                     llm       llama                       8030261248 llama3.1                                 150000 gated=manual
meta-llama/Llama-3.1-8B-Instruct                            llm       llama                       8030261248 llama3.1                                 400000 gated=manual base=finetune:meta-llama/Llama-3.1-8B
meta-llama/Llama-3.1-70B-Instruct                           llm       llama                      70553706496 llama3.1                                  40000 gated=manual
meta-llama/Llama-3.2-1B-Instruct                            llm       llama                       1235814400 llama3.2                                 200000 gated=manual
meta-llama/Llama-3.2-3B-Instruct                            llm       llama                       3212749824 llama3.2                                 150000 gated=manual
meta-llama/Llama-3.2-11B-Vision-Instruct                    vlm       mllama                     10670220835 llama3.2                                  30000 gated=manual
meta-llama/Llama-3.3-70B-Instruct                           llm       llama                      70553706496 llama3.3                                  60000 gated=manual
meta-llama/Llama-4-Scout-17B-16E-Instruct                   vlm       llama4                    108641793536 llama4                                    30000 gated=manual
meta-llama/Meta-Llama-3-8B-Instruct                         llm       llama                       8030261248 llama3                                   100000 gated=manual
Qwen/Qwen2.5-0.5B-Instruct                                  llm       qwen2                        494032768 apache-2.0                               150000
Qwen/Qwen2.5-1.5B-Instruct                                  llm       qwen2                       1543714304 apache-2.0                               120000
Qwen/Qwen2.5-7B-Instruct                                    llm       qwen2                       7615616512 apache-2.0                               250000
Qwen/Qwen2.5-Math-7B                                        llm       qwen2                       7615616512 apache-2.0                                20000
Qwen/Qwen2.5-72B-Instruct                                   llm       qwen2                      72706203648 other:qwen                                20000
Qwen/Qwen2.5-Coder-32B-Instruct                             llm       qwen2                      32763876352 apache-2.0                                30000
Qwen/Qwen2.5-VL-7B-Instruct                                 vlm       qwen2_5_vl                  8292166656 apache-2.0                               120000
Qwen/Qwen3-8B                                               llm       qwen3                       8190735360 apache-2.0                               200000
Qwen/Qwen3-32B                                              llm       qwen3                      32762123264 apache-2.0                                60000
Qwen/Qwen3-235B-A22B                                        llm       qwen3_moe                 235093634560 apache-2.0                                25000
Qwen/Qwen3-Embedding-0.6B                                   embedding qwen3                        595776512 apache-2.0                                80000
Qwen/Qwen3.5-9B                                             llm       qwen3_5                     9653104368 apache-2.0                               180000 new
mistralai/Mistral-7B-Instruct-v0.3                          llm       mistral                     7248023552 apache-2.0                               150000
mistralai/Mixtral-8x7B-Instruct-v0.1                        llm       mixtral                    46702792704 apache-2.0                                30000
mistralai/Mistral-Nemo-Instruct-2407                        llm       mistral                    12247782400 apache-2.0                                60000
mistralai/Mistral-Small-24B-Instruct-2501                   llm       mistral                    23572403200 apache-2.0                                40000
mistralai/Ministral-8B-Instruct-2410                        llm       mistral                     8019808256 other:mrl                                 15000 gated=auto
google/gemma-2-2b-it                                        llm       gemma2                      2614341888 gemma                                     90000 gated=auto
google/gemma-2-9b-it                                        llm       gemma2                      9241705984 gemma                                     50000 gated=auto
google/gemma-3-4b-it                                        vlm       gemma3                      4300079472 gemma                                    120000 gated=auto
google/gemma-3-27b-it                                       vlm       gemma3                     27432406640 gemma                                     70000 gated=auto
google/gemma-4-12b-it                                       vlm       gemma4                     12187325040 gemma                                    150000 gated=auto new
google/vit-base-patch16-224                                 vision    vit                           86567656 apache-2.0                               300000
google/siglip-so400m-patch14-384                            clip      siglip                       877960944 apache-2.0                               150000
google-bert/bert-base-uncased                               encoder   bert                         110106428 apache-2.0                              1500000
google-t5/t5-small                                          seq2seq   t5                            60506624 apache-2.0                               400000
microsoft/Phi-3-mini-4k-instruct                            llm       phi3                        3821079552 mit                                      100000
microsoft/phi-4                                             llm       phi3                       14659507200 mit                                       60000
microsoft/Phi-3.5-vision-instruct                           vlm       phi3_v                      4146621440 mit                                       30000
microsoft/deberta-v3-base                                   encoder   deberta-v2                   184422913 mit                                      200000
microsoft/Florence-2-large                                  vlm       florence2                    776720384 mit                                      100000
deepseek-ai/DeepSeek-V3                                     llm       deepseek_v3               684531386000 other:deepseek                            60000
deepseek-ai/DeepSeek-R1                                     llm       deepseek_v3               684531386000 mit                                      150000 base=finetune:deepseek-ai/DeepSeek-V3
deepseek-ai/DeepSeek-R1-Distill-Qwen-7B                     llm       qwen2                       7615616512 mit                                      100000 base=finetune:Qwen/Qwen2.5-Math-7B
deepseek-ai/DeepSeek-R1-Distill-Llama-8B                    llm       llama                       8030261248 mit                                       60000 base=finetune:meta-llama/Llama-3.1-8B
stabilityai/stable-diffusion-xl-base-1.0                    diffusion StableDiffusionXLPipeline            - openrail++                               300000
stabilityai/stable-diffusion-3.5-large                      diffusion StableDiffusion3Pipeline             - other:stabilityai-ai-community            60000 gated=auto
stabilityai/sdxl-turbo                                      diffusion StableDiffusionXLPipeline            - other:sai-nc-community                    50000
CompVis/stable-diffusion-v1-4                               diffusion StableDiffusionPipeline              - creativeml-openrail-m                     80000
black-forest-labs/FLUX.1-dev                                diffusion FluxPipeline               11901408320 other:flux-1-dev-non-commercial-license  200000 gated=auto
black-forest-labs/FLUX.1-schnell                            diffusion FluxPipeline               11901408320 apache-2.0                                80000
openai/whisper-large-v3                                     asr       whisper                     1543490560 apache-2.0                               500000
openai/whisper-small                                        asr       whisper                      241734912 apache-2.0                               300000
openai/clip-vit-large-patch14                               clip      clip                         427616513 -                                       1500000
openai/gpt-oss-20b                                          llm       gpt_oss                    21511953984 apache-2.0                               400000
openai/gpt-oss-120b                                         llm       gpt_oss                   120412337472 apache-2.0                               150000
sentence-transformers/all-MiniLM-L6-v2                      embedding bert                          22713216 apache-2.0                              3000000
sentence-transformers/all-mpnet-base-v2                     embedding mpnet                        109486978 apache-2.0                               800000
sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2 embedding bert                         117653760 apache-2.0                               400000
BAAI/bge-m3                                                 embedding xlm-roberta                  567754752 mit                                      500000
BAAI/bge-large-en-v1.5                                      embedding bert                         335141888 mit                                      300000
BAAI/bge-reranker-v2-m3                                     reranker  xlm-roberta                  567755777 apache-2.0                               200000
nvidia/Llama-3.1-Nemotron-70B-Instruct-HF                   llm       llama                      70553706496 llama3.1                                   5000 base=finetune:meta-llama/Llama-3.1-70B-Instruct
nvidia/parakeet-tdt-0.6b-v2                                 asr       nemo                                 - cc-by-4.0                                 50000 library=nemo
nvidia/NVIDIA-Nemotron-Nano-9B-v2                           llm       nemotron_h                  8888227328 other:nvidia-open-model-license           20000
HuggingFaceTB/SmolLM2-1.7B-Instruct                         llm       llama                       1711376384 apache-2.0                                50000
FacebookAI/roberta-base                                     encoder   roberta                      124697433 mit                                      600000
facebook/bart-large-cnn                                     seq2seq   bart                         406290432 mit                                      100000
allenai/OLMo-2-1124-7B-Instruct                             llm       olmo2                       7299683328 apache-2.0                                10000
tiiuae/falcon-7b-instruct                                   llm       falcon                      6921720704 apache-2.0                                20000
bigscience/bloom-560m                                       llm       bloom                        559214592 bigscience-bloom-rail-1.0                 30000
bigcode/starcoder2-3b                                       llm       starcoder2                  3030371328 bigcode-openrail-m                        20000
coqui/XTTS-v2                                               tts       coqui                                - other:coqui-public-model-license          30000 library=coqui
deepseek-ai/DeepSeek-V3.5-Lite                              llm       deepseek_v3                15706484224 mit                                      120000 new
"""  # noqa: E501


def _curated_rows() -> list[tuple[str, str, str, str, int | None, str | None, int, dict]]:
    rows = []
    for line in _CURATED_TABLE.strip().splitlines():
        hub_id, kind, arch, parameters, license, popularity, *extras = line.split()
        org, name = hub_id.split("/")
        options: dict = {}
        for extra in extras:
            key, _, value = extra.partition("=")
            options[key] = tuple(value.split(":", 1)) if key == "base" else (value or True)
        rows.append(
            (
                org,
                name,
                kind,
                arch,
                None if parameters == "-" else int(parameters),
                None if license == "-" else license,
                int(popularity),
                options,
            )
        )
    return rows


_CURATED = _curated_rows()

# Community quantizers: (author or None for a small author, weight, [(suffix, format)]).
_QUANTIZERS: tuple[tuple[str | None, float, tuple[tuple[str, str], ...]], ...] = (
    ("TheBloke", 0.10, (("GGUF", "gguf"), ("AWQ", "awq"), ("GPTQ", "gptq"))),
    ("bartowski", 0.20, (("GGUF", "gguf"),)),
    ("unsloth", 0.18, (("GGUF", "gguf"), ("bnb-4bit", "bnb"), ("unsloth-bnb-4bit", "bnb"))),
    ("mradermacher", 0.16, (("GGUF", "gguf"), ("i1-GGUF", "gguf"))),
    ("lmstudio-community", 0.07, (("GGUF", "gguf"),)),
    ("mlx-community", 0.09, (("4bit", "mlx"), ("8bit", "mlx"))),
    ("QuantFactory", 0.04, (("GGUF", "gguf"),)),
    (None, 0.16, (("Q4_K_M-GGUF", "gguf"), ("GGUF", "gguf"), ("AWQ", "awq"), ("4bit", "mlx"))),
)
_QUANT_TAGS = {
    "gguf": ("gguf", "llama-cpp", "imatrix"),
    "awq": ("transformers", "safetensors", "4-bit", "awq"),
    "gptq": ("transformers", "safetensors", "4-bit", "gptq"),
    "bnb": ("transformers", "safetensors", "4-bit", "bitsandbytes", "unsloth"),
    "mlx": ("mlx", "safetensors"),
}
_QUANT_LIBRARY = {
    "gguf": "gguf",
    "awq": "transformers",
    "gptq": "transformers",
    "bnb": "transformers",
    "mlx": "mlx",
}

# Community finetuners of LLMs: (author or None, weight, name pattern).
_LLM_FINETUNERS: tuple[tuple[str | None, float, str], ...] = (
    ("NousResearch", 0.05, "Hermes-3-{name}"),
    ("cognitivecomputations", 0.04, "dolphin-{name}"),
    ("huihui-ai", 0.05, "{name}-abliterated"),
    ("unsloth", 0.06, "{name}"),
    (None, 0.80, "{name}-{task}"),
)
# fmt: off
_LLM_TASKS = (
    "sft", "dpo", "orpo", "grpo", "medical", "legal", "finance", "roleplay", "code", "math",
    "chat-ko", "ja", "de", "fr-instruct", "uncensored", "reasoning", "tool-use", "alpaca",
    "v2", "distill",
)
_ENCODER_TASKS = (
    ("imdb", "text-classification"), ("sst2", "text-classification"),
    ("emotion", "text-classification"), ("ag_news", "text-classification"),
    ("squad", "question-answering"), ("conll2003", "token-classification"),
    ("ner", "token-classification"), ("xsum", "summarization"),
)
_VISION_TASKS = ("cifar10", "food101", "beans", "eurosat", "cats-vs-dogs", "oxford-pets")
_LANGS = ("hi", "ar", "de", "fr", "es", "ja", "ko", "pt", "vi", "sw", "tr", "it", "nl", "pl")
_STYLES = (
    "anime", "pixel-art", "watercolor", "realism", "lineart", "cyberpunk", "logo", "portrait",
    "ghibli", "3d-render", "sketch", "vintage-photo",
)
_DOMAINS = ("legal", "medical", "finance", "code", "scientific", "ecommerce", "multilingual")

# The license a community author picks when not simply keeping the parent's (None: no
# license at all), with its weight.
_COMMUNITY_LICENSES = (
    ("apache-2.0", 0.33), ("mit", 0.18), (None, 0.14), ("cc-by-nc-4.0", 0.09),
    ("other", 0.07), ("cc-by-4.0", 0.05), ("openrail", 0.04), ("gpl-3.0", 0.03),
    ("cc-by-sa-4.0", 0.03), ("cc-by-nc-sa-4.0", 0.02), ("agpl-3.0", 0.01), ("unknown", 0.01),
)

_NAME_WORDS = (
    "alex", "maria", "kenji", "priya", "omar", "lena", "wei", "sofia", "ivan", "nadia", "tom",
    "yuki", "amir", "chloe", "diego", "hana", "raj", "ola", "ben", "mei", "lucas", "aisha",
    "pavel", "noor", "felix", "ines", "kofi", "sara",
)
_NAME_TECH = ("ml", "ai", "nlp", "lab", "dev", "research", "hf", "data", "bot", "llm", "vision")
# fmt: on


def _weighted(rng: random.Random, items: tuple, weight_index: int = 1):
    """Pick one of `items` (tuples) by the weight at `weight_index`."""
    pick = rng.random() * sum(item[weight_index] for item in items)
    for item in items:
        pick -= item[weight_index]
        if pick <= 0:
            return item
    return items[-1]


@dataclass
class _Model:
    hub_id: str
    author: str
    kind: str
    created: datetime
    level: float  # median daily downloads before drift and noise
    pipeline_tag: str | None
    library_name: str | None
    tags: list[str]
    card: dict | None
    parameters: int | None
    parameters_field: str | None  # "safetensors" or "gguf"
    gated: str | bool
    likes_potential: float = 0.0
    hype: float = 1.5
    created_day: int = 0
    object_id: str = ""
    created_iso: str = ""
    downloads: list[int] = field(default_factory=list)
    downloads_all_time: list[int] = field(default_factory=list)
    likes: list[int] = field(default_factory=list)
    trending: list[int] = field(default_factory=list)
    # (first window day it is visible, sha, lastModified as the Hub writes it)
    versions: list[tuple[int, str, str]] = field(default_factory=list)


def _iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.000Z"


@dataclass
class DemoHub:
    """Simulated daily snapshots of a Hub; see `generate_demo_hub`."""

    days: list[datetime]
    spikes: list[tuple[str, int]]
    _models: list[_Model] = field(repr=False)

    @property
    def model_ids(self) -> list[str]:
        """Every model id, including those created during the window."""
        return [model.hub_id for model in self._models]

    def records_at(self, day_index: int) -> list[dict]:
        """Raw Hub records, fully expanded, for the models that exist on day `day_index`.

        Negative indexes count from the end, as for lists. Each call returns
        fresh dicts, so callers may change them.
        """
        if not -len(self.days) <= day_index < len(self.days):
            raise IndexError(f"day_index {day_index} out of range for {len(self.days)} days")
        day = day_index % len(self.days)
        records = []
        for model in self._models:
            if model.created_day > day:
                continue
            sha, last_modified = "", ""
            for first_day, version_sha, version_modified in model.versions:
                if first_day > day:
                    break
                sha, last_modified = version_sha, version_modified
            record = {
                "_id": model.object_id,
                "id": model.hub_id,
                "author": model.author,
                "gated": model.gated,
                "lastModified": last_modified,
                "likes": model.likes[day],
                "trendingScore": model.trending[day],
                "private": False,
                "sha": sha,
                "downloads": model.downloads[day],
                "downloadsAllTime": model.downloads_all_time[day],
                "tags": list(model.tags),
                "pipeline_tag": model.pipeline_tag,
                "library_name": model.library_name,
                "createdAt": model.created_iso,
                "modelId": model.hub_id,
            }
            if model.pipeline_tag is None:
                del record["pipeline_tag"]
            if model.library_name is None:
                del record["library_name"]
            if model.card is not None:
                record["cardData"] = _copy_card(model.card)
            if model.parameters_field is not None:
                record[model.parameters_field] = _parameters_block(model)
            records.append(record)
        return records


def _copy_card(card: dict) -> dict:
    return {key: list(value) if type(value) is list else value for key, value in card.items()}


def _parameters_block(model: _Model) -> dict:
    if model.parameters_field == "gguf":
        return {"total": model.parameters, "architecture": model.tags[0], "context_length": 32768}
    return {"parameters": {"BF16": model.parameters}, "total": model.parameters}


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


def _simulate(builder: _Builder, spikes: dict[str, dict[int, float]]) -> None:
    """Compute every model's daily series once: downloads, all-time, likes, trending."""
    rng = builder.rng
    days = builder.days
    exp = math.exp
    total = len(days) + HISTORY_DAYS
    moments = [days[0] + timedelta(days=g - HISTORY_DAYS) for g in range(total)]
    weekday = [0.8 if moment.weekday() >= 5 else 1.0 for moment in moments]
    first = moments[0]
    gauss, uniform = rng.gauss, rng.random
    # Drawing from a table of normals is several times cheaper than gauss() per draw,
    # and the series are long enough that the table's granularity never shows.
    normals = [gauss(0.0, 1.0) for _ in range(4096)]
    size = len(normals)

    for model in builder.models:
        created = model.created
        model.created_day = bisect_left(days, created)
        model.created_iso = _iso(created)
        model.object_id = f"{rng.getrandbits(96):024x}"
        boosts = spikes.get(model.hub_id, {})
        level, hype = model.level, model.hype
        drift = gauss(0.0, 0.006)
        walk = gauss(0.0, 0.3)
        potential = model.likes_potential
        age0 = (first - created).total_seconds() / 86400
        all_time = int(level * age0 * (0.5 + uniform())) if age0 > 0 else 0
        likes = round(potential * min(1.0, age0 / 60)) if age0 > 0 else 0
        daily: list[int] = []
        all_time_series: list[int] = []
        likes_series: list[int] = []
        for g in range(total):
            age = age0 + g
            if age <= 0:
                daily.append(0)
                all_time_series.append(0)
                likes_series.append(0)
                continue
            walk = max(-1.5, min(1.5, walk + drift + 0.04 * normals[int(uniform() * size)]))
            launch = 1.0 + hype * exp(-age / 7) if age < 60 else 1.0
            noise = 0.12 * normals[int(uniform() * size)]
            value = level * exp(walk + noise) * weekday[g] * launch
            if age < 1:
                value *= age
            boost = boosts.get(g - HISTORY_DAYS, 1.0)
            value *= boost
            count = int(value)
            if uniform() < value - count:
                count += 1
            daily.append(count)
            all_time += count
            all_time_series.append(all_time)
            rate = potential * (0.003 + (0.08 * exp(-age / 6) if age < 60 else 0.0))
            rate *= exp(0.5 * normals[int(uniform() * size)]) * (1.0 + 0.5 * (boost - 1.0))
            gained = int(rate)
            if uniform() < rate - gained:
                gained += 1
            if gained == 0 and likes > 3 and uniform() < 0.01:
                gained = -1  # someone took their like back
            likes += gained
            likes_series.append(likes)
        rolling = [0] * total
        running = 0
        for g in range(total):
            running += daily[g]
            if g >= 30:
                running -= daily[g - 30]
            rolling[g] = running
        model.downloads = rolling[HISTORY_DAYS:]
        model.downloads_all_time = all_time_series[HISTORY_DAYS:]
        model.likes = likes_series[HISTORY_DAYS:]
        model.trending = [
            max(0, likes_series[g] - likes_series[g - 7])
            + int(math.sqrt(daily[g] + daily[g - 1] + daily[g - 2]) / 10)
            for g in range(HISTORY_DAYS, total)
        ]
        _versions(builder, model)


def _versions(builder: _Builder, model: _Model) -> None:
    rng = builder.rng
    days = builder.days
    created = model.created
    if created < builder.start:
        span = (builder.start - created).total_seconds()
        modified = created + timedelta(seconds=int(span * rng.random() ** 2))
    else:
        room = (days[model.created_day] - created).total_seconds()
        modified = created + timedelta(seconds=int(min(1800, room) * rng.random()))
    versions = [(model.created_day, f"{rng.getrandbits(160):040x}", _iso(modified))]
    for day in range(model.created_day + 1, len(days)):
        young = (days[day] - created).days < 14
        if rng.random() < (0.06 if young else 0.012):
            earliest = max(days[day - 1], modified)
            seconds = int((days[day] - earliest).total_seconds() * rng.random())
            modified = earliest + timedelta(seconds=max(1, seconds))
            versions.append((day, f"{rng.getrandbits(160):040x}", _iso(modified)))
    model.versions = versions


def _choose_spikes(builder: _Builder, count: int) -> dict[str, dict[int, float]]:
    rng = builder.rng
    window = len(builder.days)
    if window < 5 or count <= 0:
        return {}
    candidates = [
        model
        for model in builder.models
        if model.level >= 30 and model.created < builder.start - timedelta(days=90)
    ]
    chosen = rng.sample(candidates, min(count, len(candidates)))
    plan: dict[str, dict[int, float]] = {}
    for model in chosen:
        day = rng.randrange(3, window - 1)
        factor = rng.uniform(4.0, 9.0)
        boosts = {day: factor}
        if rng.random() < 0.5:
            boosts[day + 1] = rng.uniform(2.0, factor / 1.5)
        plan[model.hub_id] = boosts
    return plan


def generate_demo_hub(
    *, seed: int = 42, models: int = 3000, days: int = 35, end: datetime | None = None
) -> DemoHub:
    """Build a seeded demo Hub of about `models` models over `days` daily snapshots.

    `end` is the last snapshot's time (default: now, UTC, floored to the hour);
    the others are one day apart before it. The same seed and end give the same
    hub, record for record.
    """
    if models < 1:
        raise ValueError("models must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    if end is None:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    else:
        end = end.astimezone(UTC)
    day_list = [end - timedelta(days=days - 1 - index) for index in range(days)]
    builder = _Builder(random.Random(seed), day_list)
    builder.add_curated(models)
    while len(builder.models) < models:
        builder.add_community()
    spike_plan = _choose_spikes(builder, max(1, round(models / 600)))
    _simulate(builder, spike_plan)
    spikes = sorted(
        ((hub_id, min(boosts)) for hub_id, boosts in spike_plan.items()),
        key=lambda item: (item[1], item[0]),
    )
    return DemoHub(days=day_list, spikes=spikes, _models=builder.models)
