"""Curator and operator screens: subscriptions, the outbox and the delivery log."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from registry.admin import ReadOnlyAdmin

from .models import (
    SUBSCRIBABLE_TYPES,
    Delivery,
    DeliveryAttempt,
    EndpointNotice,
    Event,
    Subscription,
)
from .services import (
    PlanLimitExceeded,
    deliveries_recover,
    delivery_redeliver,
    event_send_test,
    subscription_create,
    subscription_limit_reached,
    subscription_rotate_secret,
    subscription_set_active,
    subscription_update,
    subscription_validate,
)


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in SUBSCRIBABLE_TYPES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every event type.",
    )

    class Meta:
        model = Subscription
        fields = ("organization", "url", "event_types", "description")

    def clean(self):
        cleaned = super().clean()
        try:
            subscription_validate(
                url=cleaned.get("url"), event_types=list(cleaned.get("event_types") or [])
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field, errors)
        org = cleaned.get("organization")
        if self.instance.pk is None and org is not None:
            limit = subscription_limit_reached(organization=org)
            if limit is not None:
                self.add_error("organization", f"its plan allows {limit} subscription(s)")
        return cleaned


# From save_model to response_add, on the request only.
_NEW_SECRET = "_webhook_secret_plaintext"


def _secrets_page(model_admin, request, shown, *, title: str, rotated: bool = False):
    """Secrets shown once, rendered in this response.

    Never a message: messages go to the client in a cookie (or to the
    session), where a secret would outlive this page.
    """
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "shown": shown,
        "rotated": rotated,
        "overlap_hours": settings.WEBHOOK_ROTATION_OVERLAP_HOURS,
    }
    response = TemplateResponse(request, "admin/webhooks/secrets_shown.html", context)
    response["Cache-Control"] = "no-store"
    return response


class RecoverSinceForm(forms.Form):
    since = forms.DateTimeField(
        help_text="UTC, e.g. 2026-11-20 08:00", widget=forms.DateTimeInput(attrs={"size": 20})
    )


class NoticeInline(admin.TabularInline):
    model = EndpointNotice
    extra = 0
    can_delete = False
    readonly_fields = ("kind", "message", "created_at")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = (
        "url",
        "organization",
        "is_active",
        "event_list",
        "sequence",
        "last_success_at",
        "failing_since",
        "disabled_reason",
    )
    list_filter = ("is_active", "organization__plan")
    list_select_related = ("organization",)
    search_fields = ("url", "description", "organization__name", "organization__slug")
    readonly_fields = (
        "is_active",
        "sequence",
        "created_at",
        "last_success_at",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "previous_secret_expires_at",
    )
    inlines = [NoticeInline]
    actions = [
        "send_test_event",
        "rotate_secret",
        "recover_failed_since",
        "enable",
        "disable",
    ]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # the organization is fixed once created
            return ("organization", *self.readonly_fields)
        return self.readonly_fields

    @admin.display(description="events")
    def event_list(self, obj: Subscription) -> str:
        return ", ".join(obj.event_types) or "all"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            subscription_update(
                subscription=obj,
                url=data["url"],
                event_types=list(data["event_types"]),
                description=data["description"],
            )
            return
        try:
            created, secret = subscription_create(
                organization=data["organization"],
                url=data["url"],
                event_types=list(data["event_types"]),
                description=data["description"],
            )
        except PlanLimitExceeded as exc:  # a race with another create since the form checked
            raise ValidationError(str(exc)) from exc
        obj.pk = created.pk
        obj.secret_encrypted = created.secret_encrypted
        obj._state.adding = False
        setattr(request, _NEW_SECRET, secret)

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, _NEW_SECRET, None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return _secrets_page(self, request, [(obj, secret)], title="New signing secret")

    @admin.action(description="Send a webhook.test event")
    def send_test_event(self, request, queryset):
        sent = 0
        for sub in queryset:
            try:
                event_send_test(subscription=sub)
                sent += 1
            except ValidationError:
                messages.error(request, f"{sub.url} is disabled: enable it first.")
        if sent:
            messages.success(request, f"Test event sent to {sent} subscription(s).")

    @admin.action(description="Rotate the signing secret (shown once; the old one signs 24 h)")
    def rotate_secret(self, request, queryset):
        shown = [
            (sub, subscription_rotate_secret(subscription=sub))
            for sub in queryset.select_related("organization")
        ]
        return _secrets_page(self, request, shown, title="New signing secrets", rotated=True)

    @admin.action(description="Enable")
    def enable(self, request, queryset):
        for sub in queryset:
            subscription_set_active(subscription=sub, active=True)
        messages.success(request, f"{queryset.count()} subscription(s) enabled.")

    @admin.action(description="Disable")
    def disable(self, request, queryset):
        for sub in queryset:
            subscription_set_active(subscription=sub, active=False, reason="disabled by hand")
        messages.success(request, f"{queryset.count()} subscription(s) disabled.")

    @admin.action(description="Recover every failed delivery since…")
    def recover_failed_since(self, request, queryset):
        form = RecoverSinceForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            since = form.cleaned_data["since"]
            total = 0
            for sub in queryset:
                result = deliveries_recover(subscription=sub, since=since)
                total += result.reopened + result.hastened
            messages.success(
                request, f"{total} deliveries sent again since {since:%Y-%m-%d %H:%M}."
            )
            return None
        return TemplateResponse(
            request,
            "admin/webhooks/recover_since.html",
            {
                **self.admin_site.each_context(request),
                "title": "Recover failed deliveries",
                "subscriptions": queryset,
                "form": form,
                "opts": self.model._meta,
            },
        )


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "status_code", "succeeded", "error_class", "latency_ms")
    readonly_fields = fields
    ordering = ("started_at",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.action(description="Redeliver (same webhook-id)")
def redeliver(modeladmin, request, queryset):
    for row in queryset:
        delivery_redeliver(delivery=row)
    messages.success(request, f"{queryset.count()} delivery(ies) queued again.")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """The outbox as sent: history, so nothing here is edited."""

    list_display = (
        "msg_id",
        "event_type",
        "subscription",
        "sequence",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "created_at",
    )
    list_filter = ("status", "event__type", "priority", "subscription__organization")
    list_select_related = ("event", "subscription", "subscription__organization")
    search_fields = ("=msg_id",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [AttemptInline]
    actions = [redeliver]
    raw_id_fields = ("event", "subscription")

    @admin.display(description="event", ordering="event__type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.type


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    """The delivery log: every attempt with its request headers, status and answer."""

    list_display = (
        "started_at",
        "msg_id",
        "subscription",
        "number",
        "status_code",
        "succeeded",
        "error_class",
        "latency_ms",
    )
    list_filter = (
        "succeeded",
        "error_class",
        "delivery__event__type",
        "subscription__organization",
    )
    list_select_related = ("delivery", "subscription", "subscription__organization")
    search_fields = ("=delivery__msg_id",)
    date_hierarchy = "started_at"
    show_full_result_count = False
    actions = [redeliver]

    @admin.display(description="webhook-id", ordering="delivery__msg_id")
    def msg_id(self, obj: DeliveryAttempt) -> str:
        return obj.delivery.msg_id


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("type", "created_at", "organization")
    list_filter = ("type",)
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(EndpointNotice)
class EndpointNoticeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "subscription", "message")
    list_filter = ("kind",)
    list_select_related = ("subscription__organization",)
