"""Curator screens for model families: families with their rules, memberships,
and the popular models no family covers.

Families and rules belong to the catalog (registry); their screens live here
because a change must also roll the families up again, which is snapshot
data. Every change made here is applied at once: when a request that saved
or deleted families or rules has committed, every model's family is decided
again, the latest snapshot is rolled up again in the request, and older
snapshots in a background task. One application per request, however many
rows it touched.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from registry.admin import ApplyAfterChangesMixin, ReadOnlyAdmin, TouchOnEveryChangeMixin
from registry.caching import content_changed
from registry.families import families_assign
from registry.models import Family, FamilyMember, FamilyRule

from . import family_selectors, selectors
from .rollups import family_rollups_compute
from .tasks import recompute_family_rollups

UNMAPPED_DEFAULT_LIMIT = 100
UNMAPPED_MAX_LIMIT = 1000


def reassign_families(request: HttpRequest) -> None:
    """Decide every model's family again and roll the latest snapshot up again, now.

    The older snapshots follow in a task after the commit. Pages and API
    caches are invalidated whatever changed: names and descriptions show too.
    """
    started = time.perf_counter()
    result = families_assign()
    latest = selectors.latest_snapshot()
    if latest is not None:
        family_rollups_compute(snapshot=latest)
    transaction.on_commit(recompute_family_rollups.delay)
    transaction.on_commit(lambda: content_changed(reason="families edited"))
    messages.info(
        request,
        f"Families re-assigned in {time.perf_counter() - started:.2f}s: {result.members} "
        f"models in a family ({result.added} added, {result.removed} removed, "
        f"{result.changed} changed).",
    )


class ReassignOnChangeMixin(TouchOnEveryChangeMixin, ApplyAfterChangesMixin):
    """Re-assign every model's family once, after the request's changes have committed."""

    def _touch(self, request: HttpRequest) -> None:
        request._families_touched = True

    def _apply_touched(self, request: HttpRequest) -> None:
        if getattr(request, "_families_touched", False):
            del request._families_touched
            reassign_families(request)

    @admin.action(description="Re-assign families now (all models)", permissions=["change"])
    def reassign_now(self, request, queryset):
        # Families are decided by all rules together: the selection narrows nothing.
        reassign_families(request)


class FamilyRuleInline(admin.TabularInline):
    model = FamilyRule
    extra = 1
    fields = ("kind", "pattern", "priority", "is_active", "note")


def _count_of(model, field: str, **conditions):
    """A correlated COUNT, so two counts on one list do not multiply each other."""
    counts = (
        model.objects.filter(**{field: OuterRef("pk")}, **conditions)
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


@admin.register(Family)
class FamilyAdmin(ReassignOnChangeMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "provider", "rule_count", "member_count")
    list_select_related = ("provider",)
    search_fields = ("name", "slug", "description", "rules__pattern")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("provider",)
    inlines = [FamilyRuleInline]
    actions = ["reassign_now"]
    change_list_template = "admin/registry/family/change_list_families.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_rules=_count_of(FamilyRule, "family", is_active=True),
                n_members=_count_of(FamilyMember, "family"),
            )
        )

    @admin.display(description="active rules", ordering="n_rules")
    def rule_count(self, obj: Family) -> int:
        return obj.n_rules

    @admin.display(description="models", ordering="n_members")
    def member_count(self, obj: Family) -> int:
        return obj.n_members

    def get_deleted_objects(self, objs, request):
        # Memberships are derived rows nobody edits (read-only below): they
        # go with their family without a permission of their own.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(FamilyMember._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def get_urls(self):
        wrap = self.admin_site.admin_view
        urls = [
            path("unmapped/", wrap(self.unmapped_view), name="registry_family_unmapped"),
            path("reassign/", wrap(self.reassign_view), name="registry_family_reassign"),
        ]
        return urls + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_reassign": self.has_change_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def reassign_view(self, request: HttpRequest):
        changelist = reverse("admin:registry_family_changelist")
        if request.method != "POST" or not self.has_change_permission(request):
            messages.error(request, "You may not re-assign families.")
            return HttpResponseRedirect(changelist)
        reassign_families(request)
        return HttpResponseRedirect(changelist)

    def unmapped_view(self, request: HttpRequest):
        """Popular models no family covers: where curators keep mappings from going stale."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            limit = int(request.GET.get("limit", UNMAPPED_DEFAULT_LIMIT))
        except ValueError:
            limit = UNMAPPED_DEFAULT_LIMIT
        limit = max(1, min(limit, UNMAPPED_MAX_LIMIT))
        snapshot = selectors.latest_snapshot()
        rows = []
        if snapshot is not None:
            rule_add = reverse("admin:registry_familyrule_add")
            for obs in family_selectors.unmapped_popular(snapshot=snapshot, limit=limit):
                model = obs.model
                rows.append(
                    {
                        "observation": obs,
                        "model": model,
                        "bases": [base for _, base in model.base_models or ()][:3],
                        "add_rule_url": f"{rule_add}?"
                        + urlencode({"kind": "author", "pattern": model.author}),
                    }
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Popular models in no family",
            "snapshot": snapshot,
            "limit": limit,
            "rows": rows,
            "can_add_rule": request.user.has_perm("registry.add_familyrule"),
        }
        return TemplateResponse(request, "admin/registry/family/unmapped.html", context)


@admin.register(FamilyRule)
class FamilyRuleAdmin(ReassignOnChangeMixin, admin.ModelAdmin):
    list_display = ("pattern", "kind", "family", "priority", "is_active", "note")
    list_display_links = ("pattern",)
    list_editable = ("priority", "is_active")
    list_filter = ("kind", "family", "is_active")
    list_select_related = ("family",)
    search_fields = ("pattern", "note", "family__name")
    autocomplete_fields = ("family",)
    actions = ["reassign_now"]


@admin.register(FamilyMember)
class FamilyMemberAdmin(ReadOnlyAdmin):
    """What the rules and base_model links last decided; written only by families_assign."""

    list_display = ("model", "family", "relation", "via", "source")
    list_filter = ("family", "relation", "via")
    list_select_related = ("model", "family", "source")
    search_fields = ("model__hub_id",)
    show_full_result_count = False
