"""Curator screens for capability tags: tags, rules, overrides, untagged models.

Every change made here is applied at once: when a request that saved or
deleted tags, rules or overrides has committed, the rules are re-applied
(to every model, or for an override only to the models it names) and pages
and API caches are invalidated. One application per request, however many
rows it touched (list_editable, bulk delete).
"""

from __future__ import annotations

import time

from django.apps import apps
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

from .models import ModelTag, Tag, TagOverride, TagRule
from .selectors import untagged_top_models
from .services import TagApplyResult, tags_apply

ALL_MODELS = None  # scope of a re-application: every model
UNTAGGED_DEFAULT_LIMIT = 200
UNTAGGED_MAX_LIMIT = 1000
# Hub tags that say nothing about capability; hidden in the untagged view.
NOISE_TAG_PREFIXES = ("license:", "arxiv:", "base_model:", "region:", "dataset:", "doi:")


def _report(request: HttpRequest, result: TagApplyResult, seconds: float) -> None:
    messages.info(
        request,
        f"Tags re-applied to {result.models} models in {seconds:.2f}s: "
        f"{result.added} added, {result.removed} removed"
        + (f", {result.source_changed} changed source" if result.source_changed else "")
        + ".",
    )


def _apply_and_report(request: HttpRequest, *, model_ids=ALL_MODELS) -> TagApplyResult:
    started = time.perf_counter()
    result = tags_apply(model_ids=model_ids)
    _report(request, result, time.perf_counter() - started)
    return result


class ReapplyOnChangeMixin(ApplyAfterChangesMixin):
    """Re-apply tags once, after the request's changes have committed (to what they touched)."""

    def _touch(self, request: HttpRequest, model_ids=ALL_MODELS) -> None:
        scope = getattr(request, "_tagging_scope", False)
        if scope is ALL_MODELS or model_ids is ALL_MODELS:
            request._tagging_scope = ALL_MODELS
        else:
            request._tagging_scope = (scope or set()) | {i for i in model_ids if i is not None}

    def _apply_touched(self, request: HttpRequest) -> None:
        scope = getattr(request, "_tagging_scope", False)
        if scope is False:
            return
        del request._tagging_scope
        result = _apply_and_report(request, model_ids=scope)
        if not result.changed:
            # Names, positions or deleted tags show on pages too; the
            # application itself only invalidates when tag rows changed.
            transaction.on_commit(lambda: content_changed(reason="tag curation edited"))


class ReapplyAllMixin(TouchOnEveryChangeMixin, ReapplyOnChangeMixin):
    """For tags and rules: any change may move any model, so re-apply to all."""

    change_list_template = "admin/tagging/change_list_reapply.html"

    @admin.action(description="Re-apply tags now (all models)", permissions=["change"])
    def reapply_tags(self, request, queryset):
        # Tags are decided by all rules together, so the selection does not
        # narrow anything; it is only what Django asks for to run an action.
        _apply_and_report(request)

    def get_urls(self):
        opts = self.model._meta
        urls = [
            path(
                "reapply/",
                self.admin_site.admin_view(self.reapply_view),
                name=f"{opts.app_label}_{opts.model_name}_reapply",
            )
        ]
        return urls + super().get_urls()

    def reapply_view(self, request: HttpRequest):
        opts = self.model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        if request.method != "POST" or not self.has_change_permission(request):
            messages.error(request, "You may not re-apply tags.")
            return HttpResponseRedirect(changelist)
        _apply_and_report(request)
        return HttpResponseRedirect(changelist)

    def changelist_view(self, request, extra_context=None):
        opts = self.model._meta
        extra_context = {
            **(extra_context or {}),
            "can_reapply": self.has_change_permission(request),
            "reapply_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_reapply"),
            "untagged_url": reverse("admin:tagging_tag_untagged"),
        }
        return super().changelist_view(request, extra_context)


class TagRuleInline(admin.TabularInline):
    model = TagRule
    extra = 1
    fields = ("kind", "value", "is_active", "note")


def _count_of(model, field: str):
    """A correlated COUNT, so two counts on one list do not multiply each other."""
    counts = (
        model.objects.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


@admin.register(Tag)
class TagAdmin(ReapplyAllMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "position", "rule_count", "model_count", "description")
    list_editable = ("position",)
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [TagRuleInline]
    actions = ["reapply_tags"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_rules=_count_of(TagRule, "tag"),
                n_models=_count_of(ModelTag, "tag"),
            )
        )

    @admin.display(description="rules", ordering="n_rules")
    def rule_count(self, obj: Tag) -> int:
        return obj.n_rules

    @admin.display(description="models", ordering="n_models")
    def model_count(self, obj: Tag) -> int:
        return obj.n_models

    def get_urls(self):
        urls = [
            path(
                "untagged/",
                self.admin_site.admin_view(self.untagged_view),
                name="tagging_tag_untagged",
            )
        ]
        return urls + super().get_urls()

    def untagged_view(self, request: HttpRequest):
        """Popular models no rule or override tags: where curators start."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            limit = int(request.GET.get("limit", UNTAGGED_DEFAULT_LIMIT))
        except ValueError:
            limit = UNTAGGED_DEFAULT_LIMIT
        limit = max(1, min(limit, UNTAGGED_MAX_LIMIT))
        # A deliberate seam: tagging may not import snapshots (the import
        # direction in DESIGN.md, checked by tests/test_architecture.py, which
        # looks at import statements). The app registry hands us the models
        # by name at run time without tagging depending on snapshots' code;
        # this is the only place in tagging that reads snapshot data.
        Snapshot = apps.get_model("snapshots", "Snapshot")
        Observation = apps.get_model("snapshots", "Observation")
        snapshot = Snapshot.objects.served().order_by("-taken_at", "-id").first()
        rows = []
        if snapshot is not None:
            top = list(
                Observation.objects.filter(snapshot=snapshot, rank__isnull=False)
                .order_by("rank")
                .values_list("model_id", "rank", "downloads")[:limit]
            )
            figures = {model_id: (rank, downloads) for model_id, rank, downloads in top}
            add_override = reverse("admin:tagging_tagoverride_add")
            for model in untagged_top_models(
                ranked_model_ids=[model_id for model_id, _, _ in top], limit=limit
            ):
                rank, downloads = figures[model.pk]
                rows.append(
                    {
                        "model": model,
                        "rank": rank,
                        "downloads": downloads,
                        "hub_tags": [
                            t
                            for t in model.hub_tags or []
                            if isinstance(t, str) and not t.startswith(NOISE_TAG_PREFIXES)
                        ][:8],
                        "add_override_url": f"{add_override}?model={model.pk}&action=include",
                    }
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Untagged popular models",
            "snapshot": snapshot,
            "limit": limit,
            "rows": rows,
            "can_add_override": request.user.has_perm("tagging.add_tagoverride"),
            "rule_add_url": reverse("admin:tagging_tagrule_add"),
        }
        return TemplateResponse(request, "admin/tagging/tag/untagged.html", context)


@admin.register(TagRule)
class TagRuleAdmin(ReapplyAllMixin, admin.ModelAdmin):
    list_display = ("value", "kind", "tag", "is_active", "note")
    list_display_links = ("value",)
    list_editable = ("is_active",)
    list_filter = ("kind", "tag", "is_active")
    list_select_related = ("tag",)
    search_fields = ("value", "note", "tag__name")
    autocomplete_fields = ("tag",)
    actions = ["reapply_tags"]


@admin.register(TagOverride)
class TagOverrideAdmin(ReapplyOnChangeMixin, admin.ModelAdmin):
    """An override concerns one model: only that model is re-decided."""

    list_display = ("model", "tag", "action", "note", "created_at")
    list_filter = ("action", "tag")
    list_select_related = ("model", "tag")
    search_fields = ("model__hub_id", "note")
    autocomplete_fields = ("model", "tag")
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        touched = {obj.model_id}
        if change and "model" in form.changed_data:
            # The override moved from one model to another: both are re-decided.
            touched.add(form.initial.get("model"))
        self._touch(request, touched)

    def delete_model(self, request, obj):
        model_id = obj.model_id
        super().delete_model(request, obj)
        self._touch(request, {model_id})

    def delete_queryset(self, request, queryset):
        model_ids = set(queryset.values_list("model_id", flat=True))
        super().delete_queryset(request, queryset)
        self._touch(request, model_ids)


@admin.register(ModelTag)
class ModelTagAdmin(ReadOnlyAdmin):
    """What the rules and overrides last decided; written only by tags_apply."""

    list_display = ("model", "tag", "source")
    list_filter = ("tag", "source")
    list_select_related = ("model", "tag")
    search_fields = ("model__hub_id",)
    show_full_result_count = False
