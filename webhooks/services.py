"""Writes for webhooks: subscriptions, the event outbox, redelivery and recovery.

Sending lives in webhooks.delivery. Every service here is atomic; deliveries
it creates or reopens are enqueued after commit, and the beat sweeper hands
out any whose enqueue was lost, so nothing depends on the enqueue landing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from registry.models import Organization

from .delivery import new_msg_id
from .models import (
    SUBSCRIBABLE_TYPES,
    Delivery,
    DeliveryAttempt,
    EndpointNotice,
    Event,
    EventType,
    Subscription,
)
from .queueing import deliveries_enqueue
from .secrets import SecretUnreadable, secret_encrypt, secret_generate, secret_reencrypt
from .ssrf import AddressRefused, url_check


class PlanLimitExceeded(Exception):
    """The organization has as many subscriptions as its plan allows."""

    def __init__(self, *, limit: int):
        super().__init__(f"the plan allows {limit} webhook subscription(s)")
        self.limit = limit


def subscription_validate(*, url: str | None, event_types: list[str] | None) -> None:
    """Check a URL (scheme, SSRF) and event types; raises ValidationError naming the fields."""
    errors: dict[str, list[str]] = {}
    if url is not None:
        if len(url) > 500:
            errors["url"] = ["must be at most 500 characters"]
        else:
            try:
                url_check(url)
            except AddressRefused as exc:
                errors["url"] = [exc.reason]
    if event_types is not None:
        unknown = sorted(set(event_types) - set(SUBSCRIBABLE_TYPES))
        if not isinstance(event_types, list) or unknown:
            errors["event_types"] = [
                f"unknown event type(s) {', '.join(unknown)}; choose from "
                + ", ".join(SUBSCRIBABLE_TYPES)
            ]
    if errors:
        raise ValidationError(errors)


def subscription_limit_reached(*, organization: Organization) -> int | None:
    """The plan's subscription limit if the organization has reached it, else None."""
    limit = organization.plan.webhook_endpoints
    if Subscription.objects.filter(organization=organization).count() >= limit:
        return limit
    return None


@transaction.atomic
def subscription_create(
    *, organization: Organization, url: str, event_types: list[str], description: str = ""
) -> tuple[Subscription, str]:
    """Register an endpoint; returns it with its `whsec_…` secret, which is shown only now.

    Raises ValidationError (fields url, event_types) for a bad or refused URL
    (HTTPS in production, SSRF checks) or unknown event types, and
    PlanLimitExceeded when the plan's webhook_endpoints are all taken.
    """
    subscription_validate(url=url, event_types=event_types)
    # Lock the organization so two concurrent creates cannot both pass the count.
    org = (
        Organization.objects.select_for_update(of=("self",))
        .select_related("plan")
        .get(pk=organization.pk)
    )
    limit = subscription_limit_reached(organization=org)
    if limit is not None:
        raise PlanLimitExceeded(limit=limit)
    secret = secret_generate()
    subscription = Subscription.objects.create(
        organization=org,
        url=url,
        event_types=sorted(set(event_types)),
        description=description[:200],
        secret_encrypted=secret_encrypt(secret),
    )
    return subscription, secret


@transaction.atomic
def subscription_update(
    *,
    subscription: Subscription,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
) -> Subscription:
    """Change an endpoint's URL, event types or description (checked as on create)."""
    subscription_validate(url=url, event_types=event_types)
    fields = []
    if url is not None:
        subscription.url = url
        fields.append("url")
    if event_types is not None:
        subscription.event_types = sorted(set(event_types))
        fields.append("event_types")
    if description is not None:
        subscription.description = description[:200]
        fields.append("description")
    if fields:
        subscription.save(update_fields=fields)
    return subscription


@transaction.atomic
def subscription_rotate_secret(*, subscription: Subscription, now: datetime | None = None) -> str:
    """Give the subscription a new secret; returns it (shown once).

    The old secret keeps signing alongside the new one for
    WEBHOOK_ROTATION_OVERLAP_HOURS, so receivers can switch without a gap.
    """
    now = now or timezone.now()
    sub = Subscription.objects.select_for_update().order_by().get(pk=subscription.pk)
    secret = secret_generate()
    sub.previous_secret_encrypted = sub.secret_encrypted
    sub.previous_secret_expires_at = now + timedelta(hours=settings.WEBHOOK_ROTATION_OVERLAP_HOURS)
    sub.secret_encrypted = secret_encrypt(secret)
    sub.save(
        update_fields=[
            "secret_encrypted",
            "previous_secret_encrypted",
            "previous_secret_expires_at",
        ]
    )
    subscription.refresh_from_db()
    return secret


@transaction.atomic
def subscription_set_active(
    *, subscription: Subscription, active: bool, reason: str = "disabled by hand"
) -> Subscription:
    """Enable or disable an endpoint by hand.

    Enabling clears the failure streak; its pending deliveries resume (the
    sweeper hands them out). Disabling pauses them.
    """
    if active:
        Subscription.objects.filter(pk=subscription.pk).update(
            is_active=True, disabled_at=None, disabled_reason="", failing_since=None
        )
        # What waited while it was disabled is handed out again.
        Delivery.objects.filter(subscription=subscription, status=Delivery.Status.PENDING).update(
            enqueued_at=None
        )
        transaction.on_commit(lambda: deliveries_enqueue(subscription_id=subscription.pk))
    else:
        Subscription.objects.filter(pk=subscription.pk).update(
            is_active=False, disabled_at=timezone.now(), disabled_reason=reason[:200]
        )
    subscription.refresh_from_db()
    return subscription


def subscription_delete(*, subscription: Subscription) -> None:
    """Remove an endpoint with its deliveries and their log."""
    Subscription.objects.filter(pk=subscription.pk).delete()


def subscription_disable_for_failure(
    *, subscription: Subscription, reason: str, now: datetime
) -> bool:
    """Disable an endpoint that is gone or keeps failing; record an endpoint.disabled notice.

    Returns False if it was already disabled. The notice is a row the admin
    shows, and an endpoint.disabled event for the organization's other
    endpoints that want it. The organization's endpoints are locked first, in
    id order, as events_publish locks them: two of these, or one and a
    snapshot publish, cannot deadlock.
    """
    with transaction.atomic():
        list(
            Subscription.objects.select_for_update()
            .filter(organization_id=subscription.organization_id)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        changed = Subscription.objects.filter(pk=subscription.pk, is_active=True).update(
            is_active=False, disabled_at=now, disabled_reason=reason[:200]
        )
        if not changed:
            return False
        EndpointNotice.objects.create(
            subscription=subscription,
            kind=EndpointNotice.Kind.DISABLED,
            message=f"{subscription.url} disabled: {reason}"[:300],
            created_at=now,
        )
        events_publish(
            type=EventType.ENDPOINT_DISABLED,
            data={"subscription_id": subscription.pk, "url": subscription.url, "reason": reason},
            organization=subscription.organization,
            exclude_subscription_id=subscription.pk,
        )
    return True


@dataclass(frozen=True)
class Reencrypted:
    updated: int  # subscriptions whose secrets are now under the newest key
    unreadable: list[int]  # subscription ids no configured key could decrypt


def subscription_secrets_reencrypt(*, batch_size: int = 500) -> Reencrypted:
    """Encrypt every stored signing secret (current and previous) with the newest key.

    Run after putting a new key first in WEBHOOK_SECRET_KEYS; then the older
    keys can be removed. Batches are locked and written in transactions of
    their own; a secret no key can read is left as it is and reported.
    """
    updated, unreadable = 0, []
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                Subscription.objects.select_for_update()
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .only("pk", "secret_encrypted", "previous_secret_encrypted")[:batch_size]
            )
            if not batch:
                break
            last_pk = batch[-1].pk
            changed = []
            for sub in batch:
                try:
                    sub.secret_encrypted = secret_reencrypt(sub.secret_encrypted)
                    if sub.previous_secret_encrypted:
                        sub.previous_secret_encrypted = secret_reencrypt(
                            sub.previous_secret_encrypted
                        )
                except SecretUnreadable:
                    unreadable.append(sub.pk)
                    continue
                changed.append(sub)
            Subscription.objects.bulk_update(
                changed, ["secret_encrypted", "previous_secret_encrypted"]
            )
            updated += len(changed)
    return Reencrypted(updated=updated, unreadable=unreadable)


# --- The outbox -----------------------------------------------------------------


def events_publish(
    *,
    type: str,
    data: dict,
    organization: Organization | None = None,
    subscriptions: QuerySet[Subscription] | None = None,
    exclude_subscription_id: int | None = None,
) -> Event:
    """Write an event to the outbox with one delivery per active subscription that wants it.

    Call it inside the transaction that makes the change the event reports
    (snapshot_publish does): the event and its deliveries commit with it, or
    not at all. Each delivery takes the subscription's next sequence number
    (the rows are locked, in id order, so numbers only go up). Deliveries are
    enqueued after commit. `organization` limits the fan-out to one
    organization (events about it); `subscriptions` to given endpoints,
    whatever they asked for (webhook.test).
    """
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(
            type=type, data=data, organization=organization, created_at=now
        )
        targets = subscriptions if subscriptions is not None else Subscription.objects.all()
        targets = targets.filter(is_active=True)
        if organization is not None:
            targets = targets.filter(organization=organization)
        if exclude_subscription_id is not None:
            targets = targets.exclude(pk=exclude_subscription_id)
        locked = list(
            targets.select_for_update(of=("self",))
            .select_related("organization__plan")
            .order_by("pk")
        )
        if subscriptions is None:
            locked = [sub for sub in locked if sub.wants(type)]
        deliveries = []
        for sub in locked:
            sub.sequence += 1
            deliveries.append(
                Delivery(
                    event=event,
                    subscription=sub,
                    msg_id=new_msg_id(),
                    sequence=sub.sequence,
                    priority=sub.organization.plan.priority_delivery,
                    next_attempt_at=now,
                    enqueued_at=now,
                    created_at=now,
                )
            )
        if deliveries:
            Subscription.objects.bulk_update(locked, ["sequence"], batch_size=500)
            created = Delivery.objects.bulk_create(deliveries, batch_size=500)
            ids = [d.pk for d in created if d.priority] + [d.pk for d in created if not d.priority]
            transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=ids))
    return event


def event_send_test(*, subscription: Subscription) -> Delivery:
    """Send a webhook.test event to one endpoint now (whatever event types it wants)."""
    event = events_publish(
        type=EventType.WEBHOOK_TEST,
        data={"subscription_id": subscription.pk, "message": "A test event from Modelboard."},
        organization=subscription.organization,
        subscriptions=Subscription.objects.filter(pk=subscription.pk),
    )
    delivery = event.deliveries.first()
    if delivery is None:
        raise ValidationError({"subscription": ["the subscription is disabled; enable it first"]})
    return delivery


# --- Redelivery and recovery --------------------------------------------------------


@transaction.atomic
def delivery_redeliver(*, delivery: Delivery | DeliveryAttempt) -> Delivery:
    """Send a delivery again, with the same webhook-id, as a new round of attempts.

    Takes a delivery or one of its attempts (from the log). A delivery being
    sent right now is left alone.
    """
    if isinstance(delivery, DeliveryAttempt):
        delivery = delivery.delivery
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).exclude(status=Delivery.Status.DELIVERING).update(
        status=Delivery.Status.PENDING,
        attempts=0,
        next_attempt_at=now,
        enqueued_at=now,
        finished_at=None,
        claimed_until=None,
    )
    transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=[delivery.pk]))
    delivery.refresh_from_db()
    return delivery


@dataclass(frozen=True)
class Recovery:
    reopened: int  # deliveries that had given up, sent again as a new round
    hastened: int  # deliveries waiting for a retry, now due at once


@transaction.atomic
def deliveries_recover(*, subscription: Subscription, since: datetime) -> Recovery:
    """Send again every delivery created since `since` that has not succeeded (bulk recovery).

    Deliveries that gave up start a new round with the same webhook-ids;
    those waiting for a retry are due at once.
    """
    now = timezone.now()
    mine = Delivery.objects.filter(subscription=subscription, created_at__gte=since)
    reopened = mine.filter(status=Delivery.Status.FAILED).update(
        status=Delivery.Status.PENDING,
        attempts=0,
        next_attempt_at=now,
        enqueued_at=None,
        finished_at=None,
    )
    hastened = mine.filter(
        status=Delivery.Status.PENDING, attempts__gt=0, next_attempt_at__gt=now
    ).update(next_attempt_at=now, enqueued_at=None)
    transaction.on_commit(lambda: deliveries_enqueue(subscription_id=subscription.pk))
    return Recovery(reopened=reopened, hastened=hastened)


# --- Retention ------------------------------------------------------------------


@dataclass(frozen=True)
class LogPruned:
    attempts: int
    deliveries: int
    events: int


def delivery_log_prune(*, now: datetime | None = None) -> LogPruned:
    """Delete the delivery log older than WEBHOOK_LOG_RETENTION_DAYS (beat: daily).

    Attempts go by age; deliveries once finished (succeeded or gave up) and
    that old; events once no delivery refers to them.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS)
    with transaction.atomic():
        attempts = DeliveryAttempt.objects.filter(started_at__lt=cutoff)._raw_delete("default")
        finished = Delivery.objects.filter(
            status__in=[Delivery.Status.SUCCEEDED, Delivery.Status.FAILED],
            created_at__lt=cutoff,
        )
        DeliveryAttempt.objects.filter(delivery__in=finished)._raw_delete("default")
        deliveries = finished._raw_delete("default")
        events = (
            Event.objects.filter(created_at__lt=cutoff)
            .exclude(deliveries__isnull=False)
            ._raw_delete("default")
        )
    return LogPruned(attempts=attempts, deliveries=deliveries, events=events)
