"""Curator screens for the catalog."""

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count

from .models import ANONYMOUS_PLAN_SLUG, HubModel, Organization, Plan, Provider, ProviderAlias
from .services import provider_assign_models


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows whose history must not change: curators view, nobody edits."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ApplyAfterChangesMixin:
    """Run `_apply_touched(request)` once per admin request, after its changes committed.

    Saves and deletes only note what they touched (`_touch`, the subclass's);
    the view wrappers apply once at the end, outside the admin's own
    transaction: ten rows edited in a list apply once, and nothing is applied
    for a form that failed validation. Curation that decides something for
    every model (tags, families) builds on this.
    """

    def _touch(self, request, *args) -> None:
        raise NotImplementedError

    def _apply_touched(self, request) -> None:
        raise NotImplementedError

    def changeform_view(self, request, *args, **kwargs):
        response = super().changeform_view(request, *args, **kwargs)
        self._apply_touched(request)
        return response

    def changelist_view(self, request, *args, **kwargs):
        response = super().changelist_view(request, *args, **kwargs)
        self._apply_touched(request)
        return response

    def delete_view(self, request, *args, **kwargs):
        response = super().delete_view(request, *args, **kwargs)
        self._apply_touched(request)
        return response


class TouchOnEveryChangeMixin:
    """Any save or delete of these rows may move any model: `_touch` for all of them."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._touch(request)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if any(formset.has_changed() for formset in formsets):
            self._touch(request)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self._touch(request)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        self._touch(request)


class PlanForm(forms.ModelForm):
    class Meta:
        model = Plan
        fields = [
            "slug",
            "name",
            "rate_limit_per_minute",
            "max_page_size",
            "filter_depth",
            "premium_filters",
            "export_rows",
            "webhook_endpoints",
            "webhook_concurrency",
            "priority_delivery",
        ]

    def clean(self):
        data = super().clean()
        for name in ("rate_limit_per_minute", "max_page_size"):
            if data.get(name) == 0:
                self.add_error(name, "Must be at least 1: a plan that allows nothing is no plan.")
        if data.get("webhook_endpoints") and data.get("webhook_concurrency") == 0:
            self.add_error(
                "webhook_concurrency", "Must be at least 1 when the plan allows webhook endpoints."
            )
        return data


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    """The figures are the curators' to change; the API applies them within seconds."""

    form = PlanForm
    list_display = (
        "name",
        "slug",
        "rate_limit_per_minute",
        "max_page_size",
        "filter_depth",
        "premium_filters",
        "export_rows",
        "webhook_endpoints",
        "webhook_concurrency",
        "priority_delivery",
        "custom_profiles",
    )
    prepopulated_fields = {"slug": ("name",)}

    def get_readonly_fields(self, request, obj=None):
        # Code names the anonymous plan by its slug.
        return ("slug",) if obj is not None and obj.slug == ANONYMOUS_PLAN_SLUG else ()

    def get_prepopulated_fields(self, request, obj=None):
        return (
            {}
            if obj is not None and obj.slug == ANONYMOUS_PLAN_SLUG
            else super().get_prepopulated_fields(request, obj)
        )

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.slug == ANONYMOUS_PLAN_SLUG:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "plan", "created_at")
    list_filter = ("plan",)
    list_select_related = ("plan",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class ProviderAliasInline(admin.TabularInline):
    model = ProviderAlias
    extra = 1


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "alias_list", "model_count")
    search_fields = ("name", "slug", "aliases__author")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [ProviderAliasInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related("aliases")
            .annotate(n_models=Count("models", distinct=True))
        )

    @admin.display(description="Hub authors")
    def alias_list(self, obj: Provider) -> str:
        return ", ".join(a.author for a in obj.aliases.all()) or "—"

    @admin.display(description="models", ordering="n_models")
    def model_count(self, obj: Provider) -> int:
        return obj.n_models

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        changed = provider_assign_models()
        if changed:
            messages.info(request, f"{changed} model(s) now point at their new provider.")

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        provider_assign_models()


@admin.register(HubModel)
class HubModelAdmin(ReadOnlyAdmin):
    """Models come from the Hub: curators browse them; the Hub owns the fields."""

    list_display = (
        "hub_id",
        "provider_or_author",
        "pipeline_tag",
        "license_class",
        "param_class",
        "last_modified",
    )
    list_filter = ("license_class", "param_class", "pipeline_tag", "gated", "provider")
    list_select_related = ("provider",)
    search_fields = ("hub_id", "author")
    show_full_result_count = False
    date_hierarchy = "first_seen_at"

    @admin.display(description="provider", ordering="provider__name")
    def provider_or_author(self, obj: HubModel) -> str:
        return obj.provider_name
