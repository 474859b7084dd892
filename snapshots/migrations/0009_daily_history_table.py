"""The daily history becomes a first-class table: (model, day) as its key.

Django cannot turn an existing table's key into a composite one, so the
table is built anew beside the old one, the rows are copied over, and the
old table goes. `daily_downloads` starts empty: `manage.py backfill_daily`
fills it, and the rows of the days still held as observations.
"""

import django.db.models.deletion
from django.db import migrations, models

import snapshots.models

COLUMNS = "model_id, day, snapshot_id, downloads, downloads_all_time, likes, trending_score"


def copy_rows(apps, schema_editor):
    old = apps.get_model("snapshots", "DailyObservation")._meta.db_table
    new = apps.get_model("snapshots", "DailyHistoryRow")._meta.db_table
    quote = schema_editor.quote_name
    schema_editor.execute(
        f"INSERT INTO {quote(new)} ({COLUMNS}) SELECT {COLUMNS} FROM {quote(old)}"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("snapshots", "0008_bigint_likes"),
    ]

    operations = [
        migrations.AddField(
            model_name="snapshot",
            name="kind",
            field=models.CharField(
                choices=[
                    ("hourly", "Observations (served as a leaderboard)"),
                    ("daily", "Daily crawl (daily history only)"),
                ],
                default="hourly",
                help_text="Hourly snapshots write observations; the daily crawl writes the daily table.",
                max_length=8,
            ),
        ),
        migrations.CreateModel(
            name="DailyHistoryRow",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "model",
                        "day",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("day", models.DateField()),
                (
                    "downloads",
                    models.BigIntegerField(blank=True, help_text="Rolling 30 days.", null=True),
                ),
                ("downloads_all_time", models.BigIntegerField(blank=True, null=True)),
                (
                    "daily_downloads",
                    models.BigIntegerField(
                        blank=True,
                        help_text="All-time downloads minus the previous day's; null: unknown (a gap).",
                        null=True,
                    ),
                ),
                ("likes", models.BigIntegerField(blank=True, null=True)),
                ("trending_score", models.FloatField(blank=True, null=True)),
                (
                    "model",
                    snapshots.models.Int32ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="registry.hubmodel",
                    ),
                ),
                (
                    "snapshot",
                    snapshots.models.Int32ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        help_text="The snapshot that supplied the row: the model's latest sighting that day.",
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="snapshots.snapshot",
                    ),
                ),
            ],
        ),
        migrations.RunPython(copy_rows, migrations.RunPython.noop),
        migrations.DeleteModel(name="DailyObservation"),
        migrations.RenameModel(old_name="DailyHistoryRow", new_name="DailyObservation"),
        migrations.AlterField(
            model_name="dailyobservation",
            name="model",
            field=snapshots.models.Int32ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="daily",
                to="registry.hubmodel",
            ),
        ),
    ]
