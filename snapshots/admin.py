"""Curator screens for snapshots: history is read-only; a refresh can be started."""

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse

from registry.admin import ReadOnlyAdmin
from registry.caching import content_changed

from .models import Anomaly, Crawl, Lease, ScoringProfile, Snapshot
from .tasks import refresh_snapshot


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "taken_at",
        "status",
        "source",
        "kind",
        "models_seen",
        "records_skipped",
        "calls",
        "quota_remaining",
        "duration_display",
    )
    list_filter = ("status", "source", "kind")
    search_fields = ("source_name", "error")
    date_hierarchy = "taken_at"
    change_list_template = "admin/snapshots/snapshot/change_list.html"

    def get_urls(self):
        urls = [
            path(
                "refresh/",
                self.admin_site.admin_view(self.refresh_view),
                name="snapshots_snapshot_refresh",
            )
        ]
        return urls + super().get_urls()

    def refresh_view(self, request: HttpRequest):
        changelist = reverse("admin:snapshots_snapshot_changelist")
        if request.method != "POST" or not request.user.has_perm("snapshots.run_refresh"):
            messages.error(request, "You may not start a refresh.")
            return HttpResponseRedirect(changelist)
        transaction.on_commit(refresh_snapshot.delay)
        messages.success(
            request,
            "Refresh queued. The new snapshot appears here when it completes; "
            "until then the previous one keeps serving.",
        )
        return HttpResponseRedirect(changelist)

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["can_refresh"] = request.user.has_perm("snapshots.run_refresh")
        return super().changelist_view(request, extra_context)

    @admin.display(description="calls / budget")
    def calls(self, obj: Snapshot) -> str:
        budget = obj.call_budget if obj.call_budget is not None else "∞"
        return f"{obj.calls_used} / {budget}"

    @admin.display(description="duration")
    def duration_display(self, obj: Snapshot) -> str:
        d = obj.duration
        return f"{d.total_seconds():.1f}s" if d is not None else "—"


# Observations have no screen of their own: their primary key is composite
# (snapshot, model), which the admin cannot address; a snapshot's figures are
# read through the site and the API.


@admin.register(Crawl)
class CrawlAdmin(ReadOnlyAdmin):
    """The daily crawls: where each stands (pages, records, calls) or why it stopped."""

    list_display = (
        "day",
        "status",
        "pages_done",
        "records_staged",
        "records_skipped",
        "calls_used",
        "runs",
        "updated_at",
        "snapshot",
    )
    list_filter = ("status",)
    list_select_related = ("snapshot",)
    date_hierarchy = "day"


@admin.register(Lease)
class LeaseAdmin(ReadOnlyAdmin):
    list_display = ("name", "holder", "host", "pid", "acquired_at", "expires_at")


# The family screens register themselves (families, rules, memberships).
from . import family_admin  # noqa: E402, F401


@admin.register(ScoringProfile)
class ScoringProfileAdmin(admin.ModelAdmin):
    """Curators weigh components; the model's clean() holds the points to 100 in all.

    A change shows at once (scores are computed when read); anomaly
    thresholds filter the stored anomalies at once too, but a looser
    threshold finds new ones only from the next publish, or after
    `manage.py detect_anomalies --since …`.
    """

    list_display = (
        "name",
        "slug",
        "organization",
        *ScoringProfile.WEIGHT_FIELDS,
        "anomaly_z_threshold",
        "anomaly_min_downloads",
        "anomaly_min_likes",
    )
    list_select_related = ("organization",)
    list_filter = (("organization", admin.EmptyFieldListFilter),)
    search_fields = ("slug", "name")
    prepopulated_fields = {"slug": ("name",)}
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "organization", "position")}),
        (
            "Weights (points out of 100)",
            {
                "fields": ScoringProfile.WEIGHT_FIELDS,
                "description": "Each component is a percentile in the snapshot (license "
                "openness: a fixed value per license class). The points must add up to 100.",
            },
        ),
        (
            "Anomalies",
            {"fields": ("anomaly_z_threshold", "anomaly_min_downloads", "anomaly_min_likes")},
        ),
    )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        transaction.on_commit(lambda: content_changed(reason=f"scoring profile {obj.slug} saved"))

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        transaction.on_commit(lambda: content_changed(reason="scoring profile deleted"))

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        transaction.on_commit(lambda: content_changed(reason="scoring profiles deleted"))


@admin.register(Anomaly)
class AnomalyAdmin(ReadOnlyAdmin):
    list_display = ("day", "model", "metric", "value", "median", "z", "basis", "snapshot")
    list_filter = ("metric", "basis", ("day", admin.DateFieldListFilter))
    list_select_related = ("model", "snapshot")
    search_fields = ("model__hub_id",)
    date_hierarchy = "day"
    show_full_result_count = False
    ordering = ("-day", "-z")
