"""/api/v3: the frozen single-snapshot API. Its responses never change."""

from django.urls import path

from . import views

app_name = "v3"

urlpatterns = [
    path("leaderboard", views.leaderboard, name="leaderboard"),
    path("models/<path:hub_id>", views.model_detail, name="model"),
]
