"""/api/v4: models with history and deltas, tags, snapshot runs, health."""

from django.urls import include, path, re_path

from api import health

from . import anomalies, changes, export, families, profiles, schema, views, webhooks

app_name = "v4"

urlpatterns = [
    path("models", views.models, name="models"),
    path("models/<path:hub_id>", views.model_detail, name="model"),
    path("tags", views.tags, name="tags"),
    path("snapshots", views.snapshots, name="snapshots"),
    path("health", health.health, name="health"),
    path("schema/", schema.schema_view, name="schema"),
    path("docs/", schema.docs_view, name="docs"),
    path("changes", changes.changes, name="changes"),
    path("export.csv", export.export_csv, name="export"),
    path("families", families.families, name="families"),
    path("families/<slug:slug>", families.family_detail, name="family"),
    path("profiles", profiles.profiles, name="profiles"),
    path("anomalies", anomalies.anomalies, name="anomalies"),
    path("anomalies.csv", anomalies.anomalies_csv, name="anomalies-csv"),
    path("webhooks/", include(webhooks.urlpatterns)),
    re_path(r"^(?P<path>.*)$", views.not_found, name="not-found"),
]
