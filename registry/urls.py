"""The project's URLs: the one place that wires every app together."""

from django.contrib import admin
from django.urls import include, path

from registry import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    # django-prometheus's export behind operator_access (its urls module is open).
    path("metrics", metrics.metrics_view, name="prometheus-django-metrics"),
    path("", include("snapshots.urls")),
]

# JSON errors under /api/, the HTML pages elsewhere (named, not imported:
# nothing imports api).
handler404 = "api.errors.page_not_found"
handler500 = "api.errors.server_error"
