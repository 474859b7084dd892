from django.urls import path

from . import views

app_name = "snapshots"

urlpatterns = [
    path("", views.leaderboard, name="leaderboard"),
    path("models/<path:hub_id>", views.model_detail, name="model"),
    path("tags/", views.tag_list, name="tags"),
    path("tags/<slug:slug>", views.tag_detail, name="tag"),
]
