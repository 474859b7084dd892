"""Seed the families people know, with rules matching both the demo's and the
Hub's real ids; curators own families and their rules from here on."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# slug, name, provider slug, description, [(kind, pattern)]
FAMILIES = [
    ("llama", "Llama", "meta", "Meta's open-weight language models.",
     [("author", "meta-llama"), ("base_model", "meta-llama/")]),
    ("qwen", "Qwen", "qwen", "Alibaba's Qwen language, vision and embedding models.",
     [("author", "Qwen"), ("base_model", "Qwen/")]),
    ("mistral", "Mistral", "mistral", "Mistral AI's models, Mixtral and Ministral included.",
     [("author", "mistralai"), ("base_model", "mistralai/")]),
    ("gemma", "Gemma", "google", "Google's open-weight Gemma models.",
     [("id_prefix", "google/gemma"), ("base_model", "google/gemma")]),
    ("phi", "Phi", "microsoft", "Microsoft's small language models.",
     [("id_prefix", "microsoft/phi"), ("base_model", "microsoft/phi")]),
    ("deepseek", "DeepSeek", "deepseek", "DeepSeek's V3 and R1 models and their distills.",
     [("author", "deepseek-ai"), ("base_model", "deepseek-ai/")]),
    ("gpt-oss", "gpt-oss", "openai", "OpenAI's open-weight models.",
     [("id_prefix", "openai/gpt-oss"), ("base_model", "openai/gpt-oss")]),
    ("whisper", "Whisper", "openai", "OpenAI's speech recognition models.",
     [("id_prefix", "openai/whisper"), ("base_model", "openai/whisper")]),
    ("glm", "GLM", "zai", "Z.ai's GLM models.",
     [("author", "zai-org"), ("author", "THUDM"), ("base_model", "zai-org/")]),
    ("kimi", "Kimi", "moonshot", "Moonshot AI's Kimi models.",
     [("author", "moonshotai"), ("base_model", "moonshotai/")]),
    ("minimax", "MiniMax", None, "MiniMax's models.",
     [("author", "MiniMaxAI"), ("base_model", "MiniMaxAI/")]),
    ("nemotron", "Nemotron", "nvidia", "NVIDIA's Nemotron models.",
     [("id_regex", r"(?:^|[-_/])nemotron"), ("base_model", "nvidia/nemotron")]),
    ("flux", "FLUX", "bfl", "Black Forest Labs' image generation models.",
     [("id_prefix", "black-forest-labs/flux"), ("base_model", "black-forest-labs/flux")]),
    ("stable-diffusion", "Stable Diffusion", "stability", "Stable Diffusion and SDXL.",
     [("author", "stabilityai"), ("id_prefix", "CompVis/stable-diffusion"),
      ("base_model", "stabilityai/")]),
    ("smollm", "SmolLM", "hf", "Hugging Face's small language models.",
     [("id_prefix", "HuggingFaceTB/SmolLM"), ("base_model", "HuggingFaceTB/SmolLM")]),
]  # fmt: skip

CURATOR_PERMISSIONS = [
    *(
        f"{verb}_{model}"
        for model in ("family", "familyrule")
        for verb in ("view", "add", "change", "delete")
    ),
    "view_familymember",
]


def seed(apps, schema_editor):
    Family = apps.get_model("registry", "Family")
    FamilyRule = apps.get_model("registry", "FamilyRule")
    Provider = apps.get_model("registry", "Provider")
    providers = {p.slug: p for p in Provider.objects.all()}
    for slug, name, provider, description, rules in FAMILIES:
        family, _ = Family.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "description": description,
                "provider": providers.get(provider),
            },
        )
        for kind, pattern in rules:
            FamilyRule.objects.get_or_create(family=family, kind=kind, pattern=pattern)


def unseed(apps, schema_editor):
    apps.get_model("registry", "Family").objects.filter(
        slug__in=[row[0] for row in FAMILIES]
    ).delete()


def _permissions(apps):
    # Permissions are normally created after all migrations; make sure they exist now.
    app_config = apps.get_app_config("registry")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(
        content_type__app_label="registry", codename__in=CURATOR_PERMISSIONS
    )
    missing = set(CURATOR_PERMISSIONS) - set(perms.values_list("codename", flat=True))
    if missing:
        raise RuntimeError(f"missing permissions for the curator group: {sorted(missing)}")
    return perms


def grant(apps, schema_editor):
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name="curator")
    group.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name="curator").first()
    if group is not None:
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0004_families"),
        ("snapshots", "0002_curator_group"),
    ]
    operations = [migrations.RunPython(seed, unseed), migrations.RunPython(grant, revoke)]
