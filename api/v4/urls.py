"""/api/v4: models with history and deltas, tags, snapshot runs, health."""

from django.urls import path, re_path

from api import health

from . import anomalies, profiles, views

app_name = "v4"

urlpatterns = [
    path("models", views.models, name="models"),
    path("models/<path:hub_id>", views.model_detail, name="model"),
    path("tags", views.tags, name="tags"),
    path("snapshots", views.snapshots, name="snapshots"),
    path("health", health.health, name="health"),
    path("profiles", profiles.profiles, name="profiles"),
    path("anomalies", anomalies.anomalies, name="anomalies"),
    path("anomalies.csv", anomalies.anomalies_csv, name="anomalies-csv"),
    re_path(r"^(?P<path>.*)$", views.not_found, name="not-found"),
]
