"""Webhook subscriptions, the event outbox, deliveries and their log."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from registry.models import Organization


class EventType(models.TextChoices):
    SNAPSHOT_COMPLETED = "snapshot.completed"
    MODEL_ANOMALY = "model.anomaly"
    ENDPOINT_DISABLED = "endpoint.disabled"
    WEBHOOK_TEST = "webhook.test"


# What a subscription may ask for; webhook.test is sent on demand to one
# subscription, whatever it asked for.
SUBSCRIBABLE_TYPES = (
    EventType.SNAPSHOT_COMPLETED,
    EventType.MODEL_ANOMALY,
    EventType.ENDPOINT_DISABLED,
)


class Subscription(models.Model):
    """An organization's endpoint and the events it wants.

    The signing secret is stored encrypted (webhooks.secrets) and shown once.
    After a rotation the previous secret keeps signing too, until
    `previous_secret_expires_at`, so receivers can switch without a gap.
    `sequence` is the last sequence number handed to one of its deliveries:
    it only goes up.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_subscriptions"
    )
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(
        default=list, blank=True, help_text="Event types to send; empty means all of them."
    )
    is_active = models.BooleanField(default=True)
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    sequence = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    failing_since = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="First failure since the last success; reset by a success.",
    )
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["organization", "id"]
        indexes = [models.Index(fields=["is_active"], name="webhook_sub_active")]

    def __str__(self) -> str:
        return f"{self.url} ({self.organization})"

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class Event(models.Model):
    """One thing that happened, written to the outbox with the change that caused it.

    `organization` is set for events that concern one organization only
    (endpoint.disabled, webhook.test); public events leave it empty.
    """

    type = models.CharField(max_length=50, db_index=True)
    data = models.JSONField(default=dict)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class Delivery(models.Model):
    """One event for one subscription: a message with a stable id, tried until it lands.

    `pending` deliveries are due at `next_attempt_at`; a worker claims one by
    moving it to `delivering` with a lease (`claimed_until`). A worker that dies
    leaves the lease to expire, and the sweeper hands the delivery out again.
    `attempts` counts attempts in the current round: a manual redelivery or a
    recovery starts a new round with the whole retry schedule.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERING = "delivering"
        SUCCEEDED = "succeeded"
        FAILED = "failed", "failed (gave up)"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    msg_id = models.CharField("webhook-id", max_length=40, unique=True)
    sequence = models.BigIntegerField()
    priority = models.BooleanField(
        default=False, help_text="Sent through the priority queue (the plan's priority delivery)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # Text, not a bounded CharField: an error comes from outside (a resolver,
    # a TLS library, a receiver) and must never fail the write that records it.
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "sequence"], name="webhook_delivery_sequence_unique"
            ),
        ]
        indexes = [
            # The sweeper's scan: due pending rows, and expired leases.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due",
            ),
            models.Index(
                fields=["claimed_until"],
                condition=Q(status="delivering"),
                name="webhook_delivery_leased",
            ),
            models.Index(fields=["subscription", "status"], name="webhook_delivery_sub_status"),
            models.Index(fields=["created_at"], name="webhook_delivery_created"),
        ]

    def __str__(self) -> str:
        return self.msg_id


class DeliveryAttempt(models.Model):
    """One HTTP request made for a delivery, as it went: the delivery log.

    Never edited; pruned after WEBHOOK_LOG_RETENTION_DAYS.
    """

    class ErrorClass(models.TextChoices):
        NONE = "", "none"
        HTTP_STATUS = "http_status", "non-2xx status"
        REDIRECT = "redirect"
        GONE = "gone", "410 gone"
        TIMEOUT = "timeout"
        CONNECTION = "connection"
        TLS = "tls"
        SSRF = "ssrf", "refused address"
        INSECURE = "insecure", "HTTPS required"
        WORKER_LOST = "worker_lost", "worker lost"
        SECRET = "secret", "signing secret unreadable"
        OTHER = "other"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="attempts", db_index=False
    )
    number = models.PositiveSmallIntegerField(help_text="Attempt number within its round.")
    started_at = models.DateTimeField()
    url = models.CharField(max_length=500)
    address = models.CharField(max_length=64, blank=True, help_text="The checked IP connected to.")
    request_headers = models.JSONField(default=dict)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first 4 KB of the response.")
    succeeded = models.BooleanField(default=False)
    error_class = models.CharField(
        max_length=16, choices=ErrorClass.choices, blank=True, default=""
    )
    error = models.TextField(blank=True)  # text from outside: see Delivery.last_error

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["subscription", "-started_at"], name="webhook_attempt_sub_time"),
            models.Index(fields=["started_at"], name="webhook_attempt_time"),
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number} ({self.status_code or self.error_class})"


class EndpointNotice(models.Model):
    """Something operators should know about a subscription (it was disabled, and why)."""

    class Kind(models.TextChoices):
        DISABLED = "endpoint.disabled"

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=50, choices=Kind.choices)
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"
