"""Seed the three plans and the providers people know, over their Hub authors."""

from django.db import migrations

PLANS = [
    # slug, name, rate/min, page, depth, premium, export, endpoints, concurrency, priority
    ("free", "Free", 60, 100, 3, False, 1_000, 1, 1, False),
    ("pro", "Pro", 600, 500, 6, True, 50_000, 10, 4, False),
    ("enterprise", "Enterprise", 3_000, 1_000, 12, True, 1_000_000, 100, 16, True),
]

PROVIDERS = [
    ("meta", "Meta", "https://ai.meta.com", ["meta-llama", "facebook"]),
    ("google", "Google", "https://ai.google", ["google", "google-bert", "google-t5"]),
    ("qwen", "Qwen (Alibaba)", "https://qwenlm.github.io", ["Qwen"]),
    ("mistral", "Mistral AI", "https://mistral.ai", ["mistralai"]),
    ("microsoft", "Microsoft", "https://www.microsoft.com/en-us/ai", ["microsoft"]),
    ("deepseek", "DeepSeek", "https://www.deepseek.com", ["deepseek-ai"]),
    ("openai", "OpenAI", "https://openai.com", ["openai", "openai-community"]),
    ("nvidia", "NVIDIA", "https://www.nvidia.com", ["nvidia"]),
    ("stability", "Stability AI", "https://stability.ai", ["stabilityai"]),
    ("bfl", "Black Forest Labs", "https://blackforestlabs.ai", ["black-forest-labs"]),
    ("baai", "BAAI", "https://www.baai.ac.cn", ["BAAI"]),
    ("sbert", "Sentence Transformers", "https://www.sbert.net", ["sentence-transformers"]),
    (
        "hf",
        "Hugging Face",
        "https://huggingface.co",
        ["HuggingFaceTB", "HuggingFaceH4", "huggingface"],
    ),
    ("ibm", "IBM", "https://www.ibm.com/granite", ["ibm-granite"]),
    ("zai", "Z.ai", "https://z.ai", ["zai-org", "THUDM"]),
    ("moonshot", "Moonshot AI", "https://www.moonshot.ai", ["moonshotai"]),
    ("unsloth", "Unsloth", "https://unsloth.ai", ["unsloth"]),
    ("nous", "Nous Research", "https://nousresearch.com", ["NousResearch"]),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("registry", "Plan")
    Provider = apps.get_model("registry", "Provider")
    ProviderAlias = apps.get_model("registry", "ProviderAlias")
    for slug, name, rate, page, depth, premium, export, endpoints, conc, priority in PLANS:
        Plan.objects.update_or_create(
            slug=slug,
            defaults=dict(
                name=name,
                rate_limit_per_minute=rate,
                max_page_size=page,
                filter_depth=depth,
                premium_filters=premium,
                export_rows=export,
                webhook_endpoints=endpoints,
                webhook_concurrency=conc,
                priority_delivery=priority,
            ),
        )
    for slug, name, website, authors in PROVIDERS:
        provider, _ = Provider.objects.get_or_create(
            slug=slug, defaults={"name": name, "website": website}
        )
        for author in authors:
            ProviderAlias.objects.get_or_create(author=author, defaults={"provider": provider})


def unseed(apps, schema_editor):
    apps.get_model("registry", "Provider").objects.filter(
        slug__in=[p[0] for p in PROVIDERS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
