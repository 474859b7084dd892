"""Curator screens for the catalog."""

from django.contrib import admin, messages
from django.db import models
from django.db.models import Count

from .models import HubModel, Organization, Plan, Provider, ProviderAlias
from .services import provider_assign_models


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows whose history must not change: curators view, nobody edits."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
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
