"""API keys in the admin: made here (the key shown once), listed by prefix, revoked."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from registry.admin import OrganizationAdmin
from registry.models import Organization

from .models import ApiKey
from .services import api_key_create, api_keys_revoke

_PLAINTEXT = "_api_key_plaintext"  # from save_model to response_add, on the request only


class KeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "prefix",
        "name",
        "organization",
        "plan",
        "created_at",
        "last_used_at",
        "expires_at",
        "status",
    )
    list_filter = (KeyStatusFilter, "organization__plan", "created_at")
    list_select_related = ("organization__plan",)
    search_fields = ("prefix", "name", "organization__name", "organization__slug")
    autocomplete_fields = ("organization",)
    date_hierarchy = "created_at"
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("organization", "name", "expires_at")
        return (
            "organization",
            "name",
            "prefix",
            "expires_at",
            "created_at",
            "last_used_at",
            "revoked_at",
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("organization", "prefix", "created_at", "last_used_at", "revoked_at")

    @admin.display(description="plan", ordering="organization__plan__rate_limit_per_minute")
    def plan(self, obj: ApiKey) -> str:
        return obj.organization.plan.slug

    @admin.display(description="status")
    def status(self, obj: ApiKey) -> str:
        if obj.revoked_at is not None:
            return "revoked"
        return "active" if obj.usable() else "expired"

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, plaintext = api_key_create(
            organization=obj.organization, name=obj.name, expires_at=obj.expires_at
        )
        # The admin goes on with `obj` (its log entry, the response): make it the saved key.
        obj.__dict__.update({f.attname: getattr(key, f.attname) for f in ApiKey._meta.fields})
        obj._state.adding = False
        setattr(request, _PLAINTEXT, plaintext)

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue=None):
        plaintext = getattr(request, _PLAINTEXT, None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        # Rendered, not redirected: the key never goes into a message cookie or the session.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "key": obj,
            "plaintext": plaintext,
            "title": "New API key",
        }
        response = TemplateResponse(request, "admin/api/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = api_keys_revoke(keys=queryset)
        self.message_user(request, f"{revoked} key(s) revoked.", messages.SUCCESS)


class ApiKeyInline(admin.TabularInline):
    """An organization's keys, to look at: keys are made on the API key screen (shown once)."""

    model = ApiKey
    fields = ("prefix", "name", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


# registry knows nothing of API keys: the organization screen gets its keys here.
admin.site.unregister(Organization)


@admin.register(Organization)
class OrganizationWithKeysAdmin(OrganizationAdmin):
    inlines = [*OrganizationAdmin.inlines, ApiKeyInline]
