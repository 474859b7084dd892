"""The bodies of /api/v4/webhooks: what requests send (validated with these) and answers hold.

Answers are plain dicts built in api/v4/webhooks.py; the classes that
describe them exist for the OpenAPI document.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers as fields

from webhooks.models import SUBSCRIBABLE_TYPES, Delivery, DeliveryAttempt, EventType

from .schema import PagingQuery

# A delivery's log in its detail: the newest attempts, at most this many.
ATTEMPTS_SHOWN = 100
MAX_ID = 2**31 - 1


class SubscriptionRow(fields.Serializer):
    """A webhook subscription (its secret is never shown here)."""

    id = fields.IntegerField()
    url = fields.CharField(help_text="As registered.")
    description = fields.CharField(allow_blank=True)
    event_types = fields.ListField(
        child=fields.ChoiceField(choices=list(SUBSCRIBABLE_TYPES)),
        help_text="Event types sent to it; empty means all of them.",
    )
    active = fields.BooleanField()
    created_at = fields.DateTimeField()
    last_success_at = fields.DateTimeField(allow_null=True)
    failing_since = fields.DateTimeField(allow_null=True)
    disabled_at = fields.DateTimeField(allow_null=True)
    disabled_reason = fields.CharField(allow_null=True)
    previous_secret_expires_at = fields.DateTimeField(
        allow_null=True, help_text="Until then, after a rotation, the old secret signs too."
    )


class SubscriptionCreated(SubscriptionRow):
    secret = fields.CharField(help_text="The `whsec_…` signing secret: shown now, never again.")


class SubscriptionList(fields.Serializer):
    count = fields.IntegerField(min_value=0)
    limit = fields.IntegerField(help_text="How many subscriptions the plan allows.")
    results = SubscriptionRow(many=True)


# What a subscriber URL looks like: a host name or an IP address, a port, a
# path and query (percent-encode the rest). http:// only where the
# server allows it (WEBHOOK_REQUIRE_HTTPS off, for development); where the
# host resolves is checked on the server (private, loopback and metadata
# addresses are a 400).
_PORT = r"(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"


def _ipv6() -> str:
    """RFC 3986's IPv6address, as a regular expression."""
    h16 = "[0-9A-Fa-f]{1,4}"
    octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    ls32 = rf"(?:{h16}:{h16}|{octet}(?:\.{octet}){{3}})"

    def before(most: int) -> str:  # [ *most( h16 ":" ) h16 ]
        return f"(?:(?:{h16}:){{0,{most}}}{h16})?"

    forms = [
        f"(?:{h16}:){{6}}{ls32}",
        f"::(?:{h16}:){{5}}{ls32}",
        f"{before(0)}::(?:{h16}:){{4}}{ls32}",
        f"{before(1)}::(?:{h16}:){{3}}{ls32}",
        f"{before(2)}::(?:{h16}:){{2}}{ls32}",
        f"{before(3)}::{h16}:{ls32}",
        f"{before(4)}::{ls32}",
        f"{before(5)}::{h16}",
        f"{before(6)}::",
    ]
    return "(?:" + "|".join(forms) + ")"


# A path and query of RFC 3986's characters (no fragment), escapes well formed.
_PATH = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*"
SUBSCRIBER_URL = rf"^https?://(?:[A-Za-z0-9.-]+|\[{_ipv6()}\])(?::{_PORT})?(?:/{_PATH})?$"


class TextField(fields.CharField):
    """Text, and only text: DRF's CharField would take the number 0 as "0"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class SubscriptionCreate(fields.Serializer):
    url = fields.RegexField(
        SUBSCRIBER_URL,
        max_length=500,
        error_messages={
            "invalid": "must be an http(s):// URL: a host, a port, a path (percent-encoded)"
        },
        help_text="Where to POST events: an https:// URL (http:// only on a development "
        "server) whose host resolves to a public address; anything else is a 400 naming `url`.",
    )
    event_types = fields.ListField(
        child=fields.ChoiceField(choices=list(SUBSCRIBABLE_TYPES)),
        required=False,
        default=list,
        max_length=len(SUBSCRIBABLE_TYPES),
        help_text="Event types to send; empty or absent means all of them.",
    )
    description = TextField(max_length=200, required=False, allow_blank=True, default="")


class SubscriptionChange(SubscriptionCreate):
    active = fields.BooleanField(
        required=False, help_text="false pauses deliveries; true resumes them."
    )


class SecretRotated(fields.Serializer):
    id = fields.IntegerField()
    secret = fields.CharField(help_text="The new `whsec_…` secret: shown now, never again.")
    previous_secret_expires_at = fields.DateTimeField(
        help_text="Until then deliveries carry signatures with the old secret and the new one."
    )
    overlap_hours = fields.IntegerField(help_text="How long the old secret keeps signing.")


class TestSent(fields.Serializer):
    delivery_id = fields.IntegerField()
    msg_id = fields.CharField(help_text="The webhook-id header it is sent with.")
    status = fields.ChoiceField(choices=Delivery.Status.choices)


class RecoverRequest(fields.Serializer):
    since = fields.DateTimeField(help_text="Send again what was created since then and failed.")


class Recovered(fields.Serializer):
    since = fields.DateTimeField()
    reopened = fields.IntegerField(help_text="Deliveries that had given up, sent again.")
    hastened = fields.IntegerField(help_text="Deliveries waiting for a retry, now due at once.")


class DeliveryEvent(fields.Serializer):
    id = fields.IntegerField()
    type = fields.CharField()
    created_at = fields.DateTimeField()


class DeliveryRow(fields.Serializer):
    id = fields.IntegerField()
    msg_id = fields.CharField(help_text="The webhook-id: the same on every attempt.")
    subscription = fields.IntegerField()
    event = DeliveryEvent()
    sequence = fields.IntegerField()
    status = fields.ChoiceField(choices=Delivery.Status.choices)
    attempts = fields.IntegerField(help_text="Attempts in the current round.")
    next_attempt_at = fields.DateTimeField()
    created_at = fields.DateTimeField()
    finished_at = fields.DateTimeField(allow_null=True)
    last_status_code = fields.IntegerField(allow_null=True)
    last_error = fields.CharField(allow_null=True)


class AttemptRow(fields.Serializer):
    number = fields.IntegerField()
    started_at = fields.DateTimeField()
    url = fields.CharField()
    address = fields.CharField(allow_null=True, help_text="The checked IP address connected to.")
    request_headers = fields.DictField(child=fields.CharField())
    status_code = fields.IntegerField(allow_null=True)
    latency_ms = fields.IntegerField(allow_null=True)
    response_excerpt = fields.CharField(allow_blank=True, help_text="The first 4 KB.")
    succeeded = fields.BooleanField()
    error_class = fields.ChoiceField(
        choices=[c for c in DeliveryAttempt.ErrorClass.values if c], allow_null=True
    )
    error = fields.CharField(allow_null=True)


class DeliveryDetail(DeliveryRow):
    data = fields.JSONField(help_text="The event's data, as sent.")
    log = AttemptRow(many=True, help_text=f"The newest {ATTEMPTS_SHOWN} attempts, newest first.")


class DeliveryQuery(PagingQuery):
    subscription = fields.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    status = fields.ChoiceField(required=False, choices=Delivery.Status.choices)
    event_type = fields.ChoiceField(required=False, choices=EventType.values)
    msg_id = fields.CharField(required=False, max_length=40)
    since = fields.DateTimeField(required=False, help_text="Created at or after (ISO 8601).")
    until = fields.DateTimeField(required=False, help_text="Created before (ISO 8601).")


SUBSCRIPTION_ID = OpenApiParameter(
    "subscription_id", OpenApiTypes.INT, location=OpenApiParameter.PATH
)
DELIVERY_ID = OpenApiParameter("delivery_id", OpenApiTypes.INT, location=OpenApiParameter.PATH)
