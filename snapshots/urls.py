from django.urls import path

from . import family_views, views

app_name = "snapshots"

urlpatterns = [
    path("", views.leaderboard, name="leaderboard"),
    path("models/<path:hub_id>", views.model_detail, name="model"),
    path("tags/", views.tag_list, name="tags"),
    path("tags/<slug:slug>", views.tag_detail, name="tag"),
    path("families/", family_views.family_list, name="families"),
    path("families/<slug:slug>/", family_views.family_detail, name="family"),
]
