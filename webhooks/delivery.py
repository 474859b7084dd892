"""Sending deliveries: claim, sign, send, log, and decide what happens next.

A delivery is claimed with a conditional UPDATE (pending → delivering, with a
lease), under a lock on its subscription so the plan's concurrency cap holds
across workers. The attempt is logged, then the delivery succeeds, waits for
its next retry, or gives up. A worker killed mid-attempt leaves a lease that
expires; the sweeper puts the delivery back and hands it out again. The
webhook-id never changes, so receivers can drop the duplicates that
at-least-once delivery allows.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Delivery, DeliveryAttempt, Subscription
from .secrets import SecretUnreadable, secret_decrypt, signature_header
from .transport import SendResult, send

logger = logging.getLogger("modelboard.webhooks")

ErrorClass = DeliveryAttempt.ErrorClass
Status = Delivery.Status
QUEUE = "webhooks"
PRIORITY_QUEUE = "webhooks_priority"
USER_AGENT = "Modelboard-Webhooks/1.0"
ROW_QUIET = timedelta(seconds=60)


def new_msg_id() -> str:
    """A stable message id: `msg_` and 32 hex digits (time-ordered uuid would do as well)."""
    return f"msg_{uuid.uuid4().hex}"


# --- The message --------------------------------------------------------------------


def envelope_body(delivery: Delivery) -> str:
    """The JSON body: Standard Webhooks' {type, timestamp, data}, plus the sequence.

    The same bytes on every attempt; `sequence` lets a receiver put events
    back in order and notice a gap.
    """
    event = delivery.event
    return json.dumps(
        {
            "type": event.type,
            "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
            "sequence": delivery.sequence,
            "data": event.data,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def signing_secrets(subscription: Subscription, *, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous during the overlap."""
    found = [secret_decrypt(subscription.secret_encrypted)]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret_encrypted and expires and expires > now:
        try:
            found.append(secret_decrypt(subscription.previous_secret_encrypted))
        except SecretUnreadable as exc:
            # The current secret still signs; only the overlap is lost.
            logger.warning("subscription %s: previous secret skipped: %s", subscription.pk, exc)
    return found


def request_headers(delivery: Delivery, *, body: str, now: datetime) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "accept-encoding": "identity",
        "webhook-id": delivery.msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature_header(
            secrets_=signing_secrets(delivery.subscription, now=now),
            msg_id=delivery.msg_id,
            timestamp=now,
            body=body,
        ),
    }


# --- Claiming ---------------------------------------------------------------------


class Claim:
    CLAIMED = "claimed"
    BUSY = "busy"  # the subscription is at its plan's concurrency
    GONE = "gone"  # not due, already taken, finished, or its subscription is disabled


def delivery_claim(*, delivery_id: int, now: datetime) -> tuple[str, Delivery | None]:
    """Take a due delivery for this worker, within its subscription's concurrency cap.

    One read (the delivery with its event, subscription and plan), then, under
    a lock on the subscription row that serializes its claims, one
    conditional UPDATE that also counts what is in flight.
    """
    delivery = (
        Delivery.objects.select_related("event", "subscription__organization__plan")
        .filter(pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now)
        .first()
    )
    if delivery is None or not delivery.subscription.is_active:
        return Claim.GONE, None
    sub_id = delivery.subscription_id
    cap = max(1, delivery.subscription.organization.plan.webhook_concurrency)
    lease_until = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    in_flight = (
        Delivery.objects.filter(
            subscription_id=sub_id, status=Status.DELIVERING, claimed_until__gt=now
        )
        .values("subscription_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    with transaction.atomic():
        locked = (
            Subscription.objects.select_for_update()
            .filter(pk=sub_id, is_active=True)
            .order_by()  # no join for the default ordering: lock this row only
            .values_list("pk", flat=True)
        )
        if not list(locked):
            return Claim.GONE, None
        claimed = (
            Delivery.objects.filter(pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now)
            .annotate(busy=Coalesce(Subquery(in_flight), 0))
            .filter(busy__lt=cap)
            .update(
                status=Status.DELIVERING,
                claimed_until=lease_until,
                attempts=F("attempts") + 1,
            )
        )
        if not claimed:
            still_due = Delivery.objects.filter(
                pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now
            ).update(enqueued_at=None)
            # Not claimed although due: the subscription is at its cap. It is
            # out of the queue now; the next finishing delivery or the sweeper
            # hands it out.
            return (Claim.BUSY, None) if still_due else (Claim.GONE, None)
    delivery.status = Status.DELIVERING
    delivery.claimed_until = lease_until
    delivery.attempts += 1
    return Claim.CLAIMED, delivery


# --- Attempting -------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    error_class: str
    error: str
    gone: bool = False


def judge(status_code: int | None, error_class: str, error: str) -> Outcome:
    """2xx succeeds; 410 disables the endpoint; 3xx fails (redirects are never followed)."""
    if error_class:
        return Outcome(False, error_class, error)
    assert status_code is not None
    if 200 <= status_code < 300:
        return Outcome(True, "", "")
    if status_code == 410:
        return Outcome(False, ErrorClass.GONE, "410 Gone: the endpoint asked to be removed", True)
    if 300 <= status_code < 400:
        return Outcome(False, ErrorClass.REDIRECT, f"{status_code}: redirects are not followed")
    return Outcome(False, ErrorClass.HTTP_STATUS, f"HTTP {status_code}")


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value) if value.isdigit() else None
    except ValueError:
        seconds = None
    if seconds is None:
        try:
            seconds = (parsedate_to_datetime(value) - now).total_seconds()
        except (TypeError, ValueError, IndexError):
            return None
    return max(0.0, min(seconds, float(settings.WEBHOOK_RETRY_AFTER_MAX_SECONDS)))


def next_delay(*, attempts: int, retry_after: float | None) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones; None: give up.

    The schedule (WEBHOOK_RETRY_SCHEDULE) with jitter, or what the endpoint
    asked for with Retry-After (capped), which never adds attempts.
    """
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if attempts > len(schedule):
        return None
    if retry_after is not None:
        return retry_after
    jitter = settings.WEBHOOK_RETRY_JITTER
    return schedule[attempts - 1] * random.uniform(1 - jitter, 1 + jitter)


def delivery_attempt(*, delivery: Delivery) -> DeliveryAttempt:
    """Send a claimed delivery once, log the attempt, and settle what comes next."""
    from .services import subscription_disable_for_failure

    started = timezone.now()
    body = envelope_body(delivery)
    try:
        headers = request_headers(delivery, body=body, now=started)
    except SecretUnreadable as exc:
        # Nothing is sent unsigned: the attempt fails, is logged and retried
        # on schedule (the key may come back into WEBHOOK_SECRET_KEYS).
        logger.error(
            "webhook %s to subscription %s not sent: %s",
            delivery.msg_id,
            delivery.subscription_id,
            exc,
        )
        headers = {}
        result = SendResult(error_class=ErrorClass.SECRET, error=str(exc))
    else:
        result = send(url=delivery.subscription.url, body=body.encode(), headers=headers)
    outcome = judge(result.status_code, result.error_class, result.error)
    finished = timezone.now()
    retry_after = None
    if not outcome.succeeded and result.headers:
        lowered = {k.lower(): v for k, v in result.headers.items()}
        retry_after = retry_after_seconds(lowered.get("retry-after"), now=finished)

    with transaction.atomic():
        attempt = DeliveryAttempt.objects.create(
            delivery=delivery,
            subscription_id=delivery.subscription_id,
            number=delivery.attempts,
            started_at=started,
            url=delivery.subscription.url[:500],
            address=result.address,
            request_headers=headers,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            response_body=result.body.decode("utf-8", "replace"),
            succeeded=outcome.succeeded,
            error_class=outcome.error_class,
            error=outcome.error,
        )
        disable_reason = _settle(
            delivery, outcome, status_code=result.status_code, retry_after=retry_after
        )
    if disable_reason:
        # In a transaction of its own, which locks the organization's
        # endpoints in id order as a snapshot publish does: no deadlock.
        subscription_disable_for_failure(
            subscription=delivery.subscription, reason=disable_reason, now=finished
        )
    return attempt


def _settle(
    delivery: Delivery, outcome: Outcome, *, status_code: int | None, retry_after: float | None
) -> str | None:
    """Record the outcome on the delivery; returns why to disable the endpoint, if it should be."""
    now = timezone.now()
    mine = Delivery.objects.filter(pk=delivery.pk, status=Status.DELIVERING)
    subscription = delivery.subscription
    common = {"claimed_until": None, "last_status_code": status_code, "last_error": outcome.error}
    if outcome.succeeded:
        delivery.status = Status.SUCCEEDED
        mine.update(status=Status.SUCCEEDED, finished_at=now, **common)
        # A healthy endpoint's row is written at most once a minute: it is
        # the row every claim locks.
        last = subscription.last_success_at
        if subscription.failing_since is not None or last is None or now - last > ROW_QUIET:
            Subscription.objects.filter(pk=subscription.pk).update(
                last_success_at=now, failing_since=None
            )
        return None
    Subscription.objects.filter(pk=subscription.pk).update(
        failing_since=Coalesce(F("failing_since"), now)
    )
    if outcome.gone:
        delivery.status = Status.FAILED
        mine.update(status=Status.FAILED, finished_at=now, **common)
        return "the endpoint answered 410 Gone"
    delay = next_delay(attempts=delivery.attempts, retry_after=retry_after)
    if delay is None:
        delivery.status = Status.FAILED
        mine.update(status=Status.FAILED, finished_at=now, **common)
    else:
        delivery.status = Status.PENDING
        mine.update(
            status=Status.PENDING,
            next_attempt_at=now + timedelta(seconds=delay),
            enqueued_at=None,
            **common,
        )
    failing_since, last_success = Subscription.objects.filter(pk=subscription.pk).values_list(
        "failing_since", "last_success_at"
    )[0]
    # The success after which failing_since was set may be up to ROW_QUIET
    # older than the last success written.
    if (
        failing_since is not None
        and now - failing_since >= timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS)
        and (last_success is None or last_success + ROW_QUIET < failing_since)
    ):
        return f"every delivery failed for {settings.WEBHOOK_DISABLE_AFTER_DAYS} days"
    return None


def delivery_run(*, delivery_id: int, now: datetime | None = None) -> str:
    """Claim and send one delivery if it is due; then hand out the subscription's next one.

    Returns what happened: "succeeded", "pending" (a retry is scheduled),
    "failed", "busy" or "gone".
    """
    claim, delivery = delivery_claim(delivery_id=delivery_id, now=now or timezone.now())
    if delivery is None:
        return claim
    try:
        delivery_attempt(delivery=delivery)
    finally:
        # Keep the subscription's queue moving within its concurrency cap.
        deliveries_enqueue(subscription_id=delivery.subscription_id, limit=1)
    return delivery.status


# --- Handing out ------------------------------------------------------------------


def deliveries_enqueue(
    *,
    delivery_ids: list[int] | None = None,
    subscription_id: int | None = None,
    limit: int | None = None,
) -> int:
    """Send deliveries to the Celery queues: given ids, or a subscription's due ones.

    Priority-plan deliveries go to the priority queue. Marks them enqueued,
    so the sweeper leaves them alone for WEBHOOK_REQUEUE_AFTER_SECONDS.
    """
    from . import tasks

    now = timezone.now()
    if delivery_ids is None:
        due = Delivery.objects.filter(
            subscription_id=subscription_id,
            status=Status.PENDING,
            next_attempt_at__lte=now,
            enqueued_at__isnull=True,
        ).order_by("sequence")
        rows = list(due.values_list("pk", "priority")[: limit or settings.WEBHOOK_SWEEP_BATCH])
        if not rows:
            return 0
        Delivery.objects.filter(pk__in=[pk for pk, _ in rows]).update(enqueued_at=now)
    else:
        rows = list(
            Delivery.objects.filter(pk__in=delivery_ids)
            .order_by("-priority", "pk")
            .values_list("pk", "priority")
        )
    for pk, priority in rows:
        tasks.deliver.apply_async((pk,), queue=PRIORITY_QUEUE if priority else QUEUE)
    return len(rows)


@dataclass(frozen=True)
class Sweep:
    reclaimed: int  # deliveries whose worker died mid-attempt, handed out again
    enqueued: int


def deliveries_sweep(*, now: datetime | None = None) -> Sweep:
    """The safety net (beat, every WEBHOOK_SWEEP_EVERY_SECONDS).

    Deliveries whose lease expired (their worker died) go back to pending,
    with a `worker_lost` line in the log; then due deliveries not in a queue
    (never enqueued because a process died between commit and enqueue, or
    enqueued long ago) are enqueued, priority first.
    """
    now = now or timezone.now()
    expired = list(
        Delivery.objects.filter(status=Status.DELIVERING, claimed_until__lt=now).values_list(
            "pk", "subscription_id", "attempts"
        )[: settings.WEBHOOK_SWEEP_BATCH]
    )
    reclaimed = 0
    if expired:
        with transaction.atomic():
            reclaimed = Delivery.objects.filter(
                pk__in=[pk for pk, _, _ in expired],
                status=Status.DELIVERING,
                claimed_until__lt=now,
            ).update(
                status=Status.PENDING,
                claimed_until=None,
                next_attempt_at=timezone.now(),
                enqueued_at=None,
                last_error="worker lost mid-attempt",
            )
            DeliveryAttempt.objects.bulk_create(
                DeliveryAttempt(
                    delivery_id=pk,
                    subscription_id=sub_id,
                    number=attempts,
                    started_at=now,
                    url="",
                    error_class=ErrorClass.WORKER_LOST,
                    error="the worker stopped before the attempt finished; its lease expired",
                )
                for pk, sub_id, attempts in expired
            )
        logger.warning("reclaimed %d webhook deliveries from lost workers", reclaimed)
    stale = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS)
    due = list(
        Delivery.objects.filter(
            status=Status.PENDING,
            next_attempt_at__lte=max(now, timezone.now()),
            subscription__is_active=True,
        )
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
        .order_by("-priority", "next_attempt_at")
        .values_list("pk", flat=True)[: settings.WEBHOOK_SWEEP_BATCH]
    )
    if due:
        Delivery.objects.filter(pk__in=due).update(enqueued_at=timezone.now())
        deliveries_enqueue(delivery_ids=due)
    return Sweep(reclaimed=reclaimed, enqueued=len(due))
