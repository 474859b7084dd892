"""Observations become narrow rows, partitioned by snapshot on PostgreSQL.

The model loses its surrogate id (primary key: model, snapshot), its two
keys become 32-bit and its score components single precision. Django cannot
migrate a table to a composite primary key, so the model's state changes
first and the table is rebuilt after:

- PostgreSQL: a table partitioned by LIST (snapshot_id), its columns widest
  first so no byte goes to alignment padding, a DEFAULT partition, and one
  partition per snapshot with observations, each filled, indexed and
  attached as `snapshots.partitions` does for new snapshots;
- other backends: a plain table made from the new model state.

Existing rows are copied over, then the old table is dropped.
"""

import django.db.models.deletion
from django.db import migrations, models

import snapshots.models

TABLE = "snapshots_observation"
OLD = "snapshots_observation_old"

# Widest first: 8-byte columns, then 4-byte ones, then booleans.
POSTGRESQL_COLUMNS = (
    ("downloads", "bigint NULL"),
    ("downloads_all_time", "bigint NULL"),
    ("likes", "bigint NULL"),
    ("trending_score", "double precision NULL"),
    ("last_modified", "timestamp with time zone NULL"),
    ("delta_downloads_24h", "bigint NULL"),
    ("delta_likes_24h", "bigint NULL"),
    ("delta_downloads_7d", "bigint NULL"),
    ("delta_likes_7d", "bigint NULL"),
    ("daily_downloads", "bigint NULL"),
    ("snapshot_id", "integer NOT NULL"),
    ("model_id", "integer NOT NULL"),
    ("rank", "integer NULL CHECK (rank >= 0)"),
    ("rank_change_24h", "integer NULL"),
    ("pct_downloads", "real NULL"),
    ("pct_likes", "real NULL"),
    ("pct_downloads_growth", "real NULL"),
    ("pct_likes_growth", "real NULL"),
    ("pct_recency", "real NULL"),
    ("pct_trending", "real NULL"),
    ("is_new_24h", "boolean NOT NULL DEFAULT false"),
    ("is_new_7d", "boolean NOT NULL DEFAULT false"),
)
NAMES = ", ".join(name for name, _ in POSTGRESQL_COLUMNS)


def _partition_postgresql(schema_editor) -> None:
    run = schema_editor.execute
    run(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    run(f"ALTER TABLE {OLD} RENAME CONSTRAINT {TABLE}_pkey TO {OLD}_pkey")
    run("ALTER INDEX observation_snapshot_rank RENAME TO observation_snapshot_rank_old")
    columns = ", ".join(f"{name} {kind}" for name, kind in POSTGRESQL_COLUMNS)
    run(f"CREATE TABLE {TABLE} ({columns}) PARTITION BY LIST (snapshot_id)")
    run(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (model_id, snapshot_id)")
    run(f"CREATE INDEX observation_snapshot_rank ON {TABLE} (snapshot_id, rank)")
    run(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT observation_snapshot_fk FOREIGN KEY (snapshot_id) "
        "REFERENCES snapshots_snapshot (id) DEFERRABLE INITIALLY DEFERRED"
    )
    run(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT observation_model_fk FOREIGN KEY (model_id) "
        "REFERENCES registry_hubmodel (id) DEFERRABLE INITIALLY DEFERRED"
    )
    run(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT snapshot_id FROM {OLD} ORDER BY 1")
        snapshot_ids = [row[0] for row in cursor.fetchall()]
    for snapshot_id in snapshot_ids:
        part = f"{TABLE}_s{int(snapshot_id)}"
        run(
            f"CREATE TABLE {part} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
            f"CONSTRAINT {part}_bound CHECK (snapshot_id = {int(snapshot_id)}))"
        )
        run(
            f"INSERT INTO {part} ({NAMES}) SELECT {NAMES} FROM {OLD} WHERE snapshot_id = %s",
            [snapshot_id],
        )
        run(f"ALTER TABLE {part} ADD PRIMARY KEY (model_id, snapshot_id)")
        run(f"CREATE INDEX {part}_rank ON {part} (snapshot_id, rank)")
        run(f"ALTER TABLE {TABLE} ATTACH PARTITION {part} FOR VALUES IN ({int(snapshot_id)})")
    run(f"DROP TABLE {OLD}")


def _rebuild_plain(apps, schema_editor) -> None:
    observation = apps.get_model("snapshots", "Observation")
    quote = schema_editor.quote_name
    run = schema_editor.execute
    run(f"ALTER TABLE {quote(TABLE)} RENAME TO {quote(OLD)}")
    # Index names are global on some backends (SQLite): free the one reused.
    run(schema_editor.sql_delete_index % {"table": quote(OLD), "name": "observation_snapshot_rank"})
    schema_editor.create_model(observation)
    names = ", ".join(quote(f.column) for f in observation._meta.local_concrete_fields)
    run(f"INSERT INTO {quote(TABLE)} ({names}) SELECT {names} FROM {quote(OLD)}")
    run(f"DROP TABLE {quote(OLD)}")


def rebuild(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        _partition_postgresql(schema_editor)
    else:
        _rebuild_plain(apps, schema_editor)


def _real():
    return snapshots.models.RealField(blank=True, null=True)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0006_plan_custom_profiles"),
        ("snapshots", "0010_crawl_checkpoint_and_skipped_records"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="observation", name="observation_unique"),
                migrations.RemoveField(model_name="observation", name="id"),
                migrations.AlterField(
                    model_name="observation",
                    name="model",
                    field=snapshots.models.Int32ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="observations",
                        to="registry.hubmodel",
                    ),
                ),
                migrations.AlterField(
                    model_name="observation",
                    name="snapshot",
                    field=snapshots.models.Int32ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="observations",
                        to="snapshots.snapshot",
                    ),
                ),
                migrations.AddField(
                    model_name="observation",
                    name="pk",
                    field=models.CompositePrimaryKey(
                        "model",
                        "snapshot",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                *(
                    migrations.AlterField(model_name="observation", name=name, field=_real())
                    for name in (
                        "pct_downloads",
                        "pct_likes",
                        "pct_downloads_growth",
                        "pct_likes_growth",
                        "pct_recency",
                        "pct_trending",
                    )
                ),
            ]
        ),
        # Irreversible: the old wide table is gone.
        migrations.RunPython(rebuild),
    ]
