"""The curated capability tags and their starting rules.

Curators own both from here on (admin: Tagging). Values compare
case-insensitively; id patterns are searched case-insensitively in the Hub id.
Patterns anchor on separators (start, `-`, `_`, `/`, `.`) where a bare word
would hit inside other words ("r1" in "lr1e-5").

Reversing removes only the tags seeded here (their rules go with them).
"""

from django.db import migrations

# Separator-bounded word: matches "-R1-", "/r1", "_r1" and the end of the id.
SEP_L = r"(?:^|[-_/.])"
SEP_R = r"(?:$|[-_/.])"

TAGS = [
    # slug, name, description, rules [(kind, value)]
    (
        "chat",
        "Chat",
        "Talks: instruction-tuned text generation and conversational models.",
        [
            ("pipeline_tag", "text-generation"),
            ("pipeline_tag", "conversational"),
            ("hub_tag", "conversational"),
        ],
    ),
    (
        "reasoning",
        "Reasoning",
        "Thinks step by step before answering (R1-style, QwQ, thinking and math models).",
        [
            ("hub_tag", "reasoning"),
            ("hub_tag", "chain-of-thought"),
            ("id_pattern", SEP_L + r"r1" + SEP_R + r"|reason|think|qwq|" + SEP_L + r"math"),
        ],
    ),
    (
        "code",
        "Code",
        "Writes, completes or explains source code.",
        [
            ("hub_tag", "code"),
            # "coder", but not inside encoder, decoder or vocoder.
            (
                "id_pattern",
                r"opencoder|(?<!en)(?<!de)(?<!vo)coder|code-?llama|codestral|codegemma|codegen",
            ),
        ],
    ),
    (
        "tool-use",
        "Tool use",
        "Calls functions and tools; suited to agents.",
        [
            ("hub_tag", "tool-use"),
            ("hub_tag", "function-calling"),
            ("hub_tag", "tool-calling"),
            ("hub_tag", "agent"),
            ("id_pattern", r"function[-_]?call|tool[-_]?(?:use|call)"),
        ],
    ),
    (
        "vision",
        "Vision",
        "Understands images: vision-language models, classification, detection, segmentation.",
        [
            ("pipeline_tag", "image-text-to-text"),
            ("pipeline_tag", "image-to-text"),
            ("pipeline_tag", "visual-question-answering"),
            ("pipeline_tag", "image-classification"),
            ("pipeline_tag", "zero-shot-image-classification"),
            ("pipeline_tag", "object-detection"),
            ("pipeline_tag", "zero-shot-object-detection"),
            ("pipeline_tag", "image-segmentation"),
            ("pipeline_tag", "mask-generation"),
            ("pipeline_tag", "depth-estimation"),
            ("pipeline_tag", "image-feature-extraction"),
            ("hub_tag", "vision"),
        ],
    ),
    (
        "multimodal",
        "Multimodal",
        "Takes or gives several modalities at once: omni and any-to-any models.",
        [
            ("pipeline_tag", "any-to-any"),
            ("pipeline_tag", "audio-text-to-text"),
            ("pipeline_tag", "video-text-to-text"),
            ("pipeline_tag", "image-text-to-image"),
            ("pipeline_tag", "image-text-to-video"),
            ("hub_tag", "multimodal"),
            ("id_pattern", r"omni"),
        ],
    ),
    (
        "ocr",
        "OCR & documents",
        "Reads text, tables and layout from scanned pages and documents.",
        [
            ("pipeline_tag", "document-question-answering"),
            ("hub_tag", "ocr"),
            ("id_pattern", r"ocr|docling|nougat"),
        ],
    ),
    (
        "embeddings",
        "Embeddings",
        "Turns text into vectors for search, retrieval and clustering.",
        [
            ("pipeline_tag", "sentence-similarity"),
            ("pipeline_tag", "feature-extraction"),
            ("library", "sentence-transformers"),
            ("hub_tag", "text-embeddings-inference"),
            ("id_pattern", r"embed|" + SEP_L + r"(?:bge|e5|gte)-(?!rerank)"),
        ],
    ),
    (
        "reranking",
        "Reranking",
        "Scores query–document pairs to reorder search results.",
        [
            ("pipeline_tag", "text-ranking"),
            ("hub_tag", "reranker"),
            ("id_pattern", r"rerank"),
        ],
    ),
    (
        "speech",
        "Speech",
        "Speech recognition and synthesis (speech-to-text, text-to-speech).",
        [
            ("pipeline_tag", "automatic-speech-recognition"),
            ("pipeline_tag", "text-to-speech"),
            ("hub_tag", "speech"),
            ("library", "nemo"),
            ("id_pattern", r"whisper|" + SEP_L + r"(?:tts|asr|stt)" + SEP_R),
        ],
    ),
    (
        "audio-generation",
        "Audio generation",
        "Makes music and sound from text or audio.",
        [
            ("pipeline_tag", "text-to-audio"),
            ("pipeline_tag", "audio-to-audio"),
            ("id_pattern", r"musicgen|audioldm|stable-audio"),
        ],
    ),
    (
        "image-generation",
        "Image generation",
        "Makes or edits images from text or images (diffusion and friends).",
        [
            ("pipeline_tag", "text-to-image"),
            ("pipeline_tag", "image-to-image"),
            ("pipeline_tag", "unconditional-image-generation"),
            ("library", "diffusers"),
            ("hub_tag", "text-to-image"),
            ("hub_tag", "stable-diffusion"),
        ],
    ),
    (
        "video",
        "Video",
        "Makes or understands video.",
        [
            ("pipeline_tag", "text-to-video"),
            ("pipeline_tag", "image-to-video"),
            ("pipeline_tag", "video-to-video"),
            ("pipeline_tag", "image-text-to-video"),
            ("pipeline_tag", "video-text-to-text"),
            ("pipeline_tag", "video-classification"),
        ],
    ),
    (
        "translation",
        "Translation",
        "Translates between languages.",
        [
            ("pipeline_tag", "translation"),
            ("hub_tag", "translation"),
            ("id_pattern", r"opus-mt|nllb|m2m100|madlad|seamless"),
        ],
    ),
    (
        "on-device",
        "On-device",
        "Ships in a format for local or on-device inference (GGUF, MLX, ONNX, Core ML, LiteRT).",
        [
            ("library", "gguf"),
            ("library", "mlx"),
            ("library", "onnx"),
            ("library", "transformers.js"),
            ("library", "executorch"),
            ("hub_tag", "gguf"),
            ("hub_tag", "mlx"),
            ("hub_tag", "onnx"),
            ("hub_tag", "coreml"),
            ("hub_tag", "tflite"),
            ("hub_tag", "litert"),
            ("hub_tag", "transformers.js"),
        ],
    ),
]


def seed(apps, schema_editor):
    Tag = apps.get_model("tagging", "Tag")
    TagRule = apps.get_model("tagging", "TagRule")
    for index, (slug, name, description, rules) in enumerate(TAGS):
        tag, _ = Tag.objects.update_or_create(
            slug=slug,
            defaults={"name": name, "description": description, "position": (index + 1) * 10},
        )
        for kind, value in rules:
            TagRule.objects.get_or_create(tag=tag, kind=kind, value=value)


def unseed(apps, schema_editor):
    apps.get_model("tagging", "Tag").objects.filter(slug__in=[t[0] for t in TAGS]).delete()


class Migration(migrations.Migration):
    dependencies = [("tagging", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
