"""Seed the curated scoring profiles: research, production and community.

Points out of 100 per component (README, "Scores and anomalies"):

| profile    | downloads | likes | dl growth | likes growth | recency | trending | license |
|------------|-----------|-------|-----------|--------------|---------|----------|---------|
| research   | 10        | 25    | 10        | 25           | 20      | 10       | 0       |
| production | 35        | 10    | 10        | 0            | 10      | 5        | 30      |
| community  | 15        | 20    | 15        | 15           | 5       | 30       | 0       |

- research: what researchers are excited about now: likes and their growth,
  and fresh work; raw downloads count little.
- production: proven adoption and a license you can ship; hype counts little.
  Its anomaly thresholds are the strictest (alerts only for big moves).
- community: what people pick up this week: trending, likes, growth.
  The most sensitive anomaly thresholds.
"""

from django.db import migrations

PROFILES = [
    # slug, name, position, weights (downloads, likes, dl growth, likes growth,
    # recency, trending, license), z threshold, min downloads/day, min likes/day
    (
        "research",
        "Research",
        1,
        (10, 25, 10, 25, 20, 10, 0),
        3.5,
        1_000,
        10,
        "Attention from researchers: likes and their growth, recent work.",
    ),
    (
        "production",
        "Production",
        2,
        (35, 10, 10, 0, 10, 5, 30),
        5.0,
        10_000,
        50,
        "Proven adoption and a license you can ship.",
    ),
    (
        "community",
        "Community",
        3,
        (15, 20, 15, 15, 5, 30, 0),
        3.0,
        500,
        5,
        "What people are picking up now: trending, likes, growth.",
    ),
]
WEIGHTS = (
    "weight_downloads",
    "weight_likes",
    "weight_downloads_growth",
    "weight_likes_growth",
    "weight_recency",
    "weight_trending",
    "weight_license",
)


def seed(apps, schema_editor):
    ScoringProfile = apps.get_model("snapshots", "ScoringProfile")
    for slug, name, position, weights, z, min_downloads, min_likes, description in PROFILES:
        assert sum(weights) == 100, slug
        ScoringProfile.objects.update_or_create(
            slug=slug,
            defaults=dict(
                name=name,
                position=position,
                description=description,
                anomaly_z_threshold=z,
                anomaly_min_downloads=min_downloads,
                anomaly_min_likes=min_likes,
                **dict(zip(WEIGHTS, weights, strict=True)),
            ),
        )


class Migration(migrations.Migration):
    dependencies = [("snapshots", "0006_scoring_and_anomalies")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
