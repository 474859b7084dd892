"""Constant data for the demo Hub: the curated table of official releases, the model
kinds, community quantizers and finetuners, licenses and the word lists names are
made from."""

from __future__ import annotations

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
