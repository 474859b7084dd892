"""The project's URLs: the one place that wires every app together."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("", include("django_prometheus.urls")),
    path("", include("snapshots.urls")),
]
