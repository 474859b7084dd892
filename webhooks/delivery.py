"""Sending deliveries: claim, sign, send, log, and decide what happens next.

Deliveries travel in batches (a Celery task carries up to CLAIM_BATCH ids).
A batch is claimed in one transaction: a conditional UPDATE (pending →
delivering, with a lease) under locks on the subscriptions, so each plan's
concurrency cap holds across workers. The batch is sent at once (a thread
per delivery, kept-alive connections per checked address), then logged and
settled in one transaction: each delivery succeeds, waits for its next
retry, or gives up. A worker killed mid-batch leaves a lease that expires;
the sweeper (webhooks.queueing) puts the deliveries back and hands them out
again. The webhook-id never changes, so receivers can drop the duplicates
that at-least-once delivery allows.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Case, Count, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Delivery, DeliveryAttempt, Subscription
from .queueing import deliveries_hand_out
from .secrets import SecretUnreadable, secret_decrypt, signature_header
from .transport import SendResult, send

logger = logging.getLogger("modelboard.webhooks")

ErrorClass = DeliveryAttempt.ErrorClass
Status = Delivery.Status
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


@dataclass
class Claimed:
    """Deliveries this worker holds, under one lease, and what became of the others."""

    deliveries: list[Delivery]
    lease_until: datetime
    outcomes: dict[int, str]


def deliveries_claim(*, delivery_ids: list[int], now: datetime) -> Claimed:
    """Take the due deliveries among these, within each subscription's concurrency cap.

    One transaction, whatever the batch: read the candidates (with event,
    subscription and plan), lock their subscriptions in id order (as a
    publish does: claims of one subscription are serialized), count what is
    in flight for them, and claim with one conditional UPDATE. A due
    delivery over its cap is "busy": it leaves the queue (enqueued_at
    cleared) and the next finishing delivery or the sweeper hands it out.
    """
    ids = list(dict.fromkeys(delivery_ids))
    lease_until = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    outcomes = dict.fromkeys(ids, Claim.GONE)
    chosen: list[Delivery] = []
    with transaction.atomic():
        candidates = list(
            Delivery.objects.select_related("event", "subscription__organization__plan")
            .filter(
                pk__in=ids,
                status=Status.PENDING,
                next_attempt_at__lte=now,
                subscription__is_active=True,
            )
            .order_by("subscription_id", "sequence")
        )
        if not candidates:
            return Claimed([], lease_until, outcomes)
        locked = set(
            Subscription.objects.select_for_update()
            .filter(pk__in={d.subscription_id for d in candidates}, is_active=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        in_flight = dict(
            Delivery.objects.filter(
                subscription_id__in=locked, status=Status.DELIVERING, claimed_until__gt=now
            )
            .order_by()
            .values("subscription_id")
            .annotate(n=Count("pk"))
            .values_list("subscription_id", "n")
        )
        room: dict[int, int] = {}
        busy = []
        for delivery in candidates:
            sub_id = delivery.subscription_id
            if sub_id not in locked:
                continue
            cap = max(1, delivery.subscription.organization.plan.webhook_concurrency)
            room.setdefault(sub_id, cap - in_flight.get(sub_id, 0))
            if room[sub_id] > 0:
                room[sub_id] -= 1
                chosen.append(delivery)
            else:
                busy.append(delivery.pk)
        if chosen:
            claimed = Delivery.objects.filter(
                pk__in=[d.pk for d in chosen], status=Status.PENDING, next_attempt_at__lte=now
            ).update(
                status=Status.DELIVERING, claimed_until=lease_until, attempts=F("attempts") + 1
            )
            if claimed != len(chosen):  # one changed since it was read (a redelivery, say)
                mine = set(
                    Delivery.objects.filter(
                        pk__in=[d.pk for d in chosen],
                        status=Status.DELIVERING,
                        claimed_until=lease_until,
                    ).values_list("pk", flat=True)
                )
                chosen = [d for d in chosen if d.pk in mine]
        if busy:
            Delivery.objects.filter(pk__in=busy, status=Status.PENDING).update(enqueued_at=None)
            outcomes.update(dict.fromkeys(busy, Claim.BUSY))
    for delivery in chosen:
        delivery.status = Status.DELIVERING
        delivery.claimed_until = lease_until
        delivery.attempts += 1
        outcomes[delivery.pk] = Claim.CLAIMED
    return Claimed(chosen, lease_until, outcomes)


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


def outside_text(text: str) -> str:
    """Text from a receiver or a library, made storable: PostgreSQL refuses NUL in text."""
    return text.replace("\x00", "\ufffd")


@dataclass
class Sent:
    """One claimed delivery's attempt, as it went, ready to be logged and settled."""

    delivery: Delivery
    started: datetime
    finished: datetime
    headers: dict[str, str]
    result: SendResult
    outcome: Outcome
    retry_after: float | None


def delivery_send(delivery: Delivery) -> Sent:
    """Sign and send a claimed delivery once; touches no database."""
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
    return Sent(delivery, started, finished, headers, result, outcome, retry_after)


def deliveries_send(deliveries: list[Delivery]) -> list[Sent]:
    """Send claimed deliveries at once, each on its own thread: one slow receiver holds none
    of the others, and the batch ends within one total timeout, well inside its lease."""
    if len(deliveries) <= 1:
        return [delivery_send(d) for d in deliveries]
    with ThreadPoolExecutor(max_workers=len(deliveries), thread_name_prefix="webhook") as pool:
        return list(pool.map(delivery_send, deliveries))


def deliveries_settle(sent: list[Sent], *, lease_until: datetime) -> list[tuple[Subscription, str]]:
    """Log every attempt and record what comes next, in one transaction for the batch.

    One INSERT for the log and one UPDATE for the deliveries (still ours:
    same lease); when subscriptions change (a first success after a while, a
    failure), one lock and at most one UPDATE per kind of change. Returns
    the endpoints to disable, with why.
    """
    if not sent:
        return []
    now = timezone.now()
    fields: dict[str, list[tuple[int, object]]] = {
        "status": [],
        "finished_at": [],
        "next_attempt_at": [],
        "last_status_code": [],
        "last_error": [],
    }
    recovered, failing, gone = set(), set(), {}
    by_id = {item.delivery.subscription_id: item.delivery.subscription for item in sent}
    for item in sent:
        delivery, outcome = item.delivery, item.outcome
        subscription = delivery.subscription
        if outcome.succeeded:
            delivery.status = Status.SUCCEEDED
            # A healthy endpoint's row is written at most once a minute: it
            # is the row every claim locks.
            last = subscription.last_success_at
            if subscription.failing_since is not None or last is None or now - last > ROW_QUIET:
                recovered.add(subscription.pk)
        else:
            failing.add(subscription.pk)
            delay = None
            if outcome.gone:
                gone[subscription.pk] = subscription
            else:
                delay = next_delay(attempts=delivery.attempts, retry_after=item.retry_after)
            delivery.status = Status.FAILED if delay is None else Status.PENDING
            if delay is not None:
                delivery.next_attempt_at = now + timedelta(seconds=delay)
        fields["status"].append((delivery.pk, str(delivery.status)))
        fields["last_status_code"].append((delivery.pk, item.result.status_code))
        fields["last_error"].append((delivery.pk, outside_text(outcome.error)))
        if delivery.status == Status.PENDING:
            fields["next_attempt_at"].append((delivery.pk, delivery.next_attempt_at))
        else:
            fields["finished_at"].append((delivery.pk, now))

    def case(name: str):
        # One UPDATE for the batch: each row's value picked by its id.
        field = Delivery._meta.get_field(name)
        whens = [When(pk=pk, then=Value(value, output_field=field)) for pk, value in fields[name]]
        return Case(*whens, default=F(name), output_field=field)

    disable: list[tuple[Subscription, str]] = []
    with transaction.atomic():
        # Lock order. Claims and publishes lock subscriptions in id order;
        # the log's foreign keys share-lock them too, so the log is written
        # in that order. A batch that also writes subscriptions locks all of
        # them first, in that order (a share lock taken first and upgraded
        # later could deadlock with another batch's).
        if recovered or failing:
            list(
                Subscription.objects.select_for_update()
                .filter(pk__in=by_id)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        DeliveryAttempt.objects.bulk_create(
            DeliveryAttempt(
                delivery=item.delivery,
                subscription_id=item.delivery.subscription_id,
                number=item.delivery.attempts,
                started_at=item.started,
                url=item.delivery.subscription.url[:500],
                address=item.result.address,
                request_headers=item.headers,
                status_code=item.result.status_code,
                latency_ms=item.result.latency_ms,
                response_body=outside_text(item.result.body.decode("utf-8", "replace")),
                succeeded=item.outcome.succeeded,
                error_class=item.outcome.error_class,
                error=outside_text(item.outcome.error),
            )
            for item in sorted(sent, key=lambda i: (i.delivery.subscription_id, i.delivery.pk))
        )
        Delivery.objects.filter(
            pk__in=[item.delivery.pk for item in sent],
            status=Status.DELIVERING,
            claimed_until=lease_until,
        ).update(
            status=case("status"),
            finished_at=case("finished_at"),
            next_attempt_at=case("next_attempt_at"),
            last_status_code=case("last_status_code"),
            last_error=case("last_error"),
            claimed_until=None,
            enqueued_at=None,
        )
        # A success ends a streak; a failure in the same batch starts a new one.
        if recovered:
            Subscription.objects.filter(pk__in=recovered).update(
                last_success_at=now, failing_since=None
            )
        if failing:
            Subscription.objects.filter(pk__in=failing).update(
                failing_since=Coalesce(F("failing_since"), now)
            )
            limit = timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS)
            for sub_id, failing_since, last_success in Subscription.objects.filter(
                pk__in=failing.difference(gone)
            ).values_list("pk", "failing_since", "last_success_at"):
                # The success after which failing_since was set may be up to
                # ROW_QUIET older than the last success written.
                if (
                    failing_since is not None
                    and now - failing_since >= limit
                    and (last_success is None or last_success + ROW_QUIET < failing_since)
                ):
                    days = settings.WEBHOOK_DISABLE_AFTER_DAYS
                    disable.append((by_id[sub_id], f"every delivery failed for {days} days"))
    disable.extend((sub, "the endpoint answered 410 Gone") for sub in gone.values())
    return disable


DEADLOCK_TRIES = 3


def _retrying_deadlocks(work):
    """Run a transaction again if the database broke a deadlock or a serialization
    conflict by aborting it (everything it did was rolled back)."""
    for attempt in range(1, DEADLOCK_TRIES + 1):
        try:
            return work()
        except OperationalError as exc:
            conflict = getattr(exc.__cause__, "sqlstate", None) in ("40P01", "40001")
            if not conflict or attempt == DEADLOCK_TRIES or connection.in_atomic_block:
                raise
            logger.warning("webhook deliveries: %s; trying again", exc)
    raise AssertionError("unreachable")


def deliveries_run(*, delivery_ids: list[int], now: datetime | None = None) -> dict[int, str]:
    """Claim what is due among these deliveries, send it, log and settle it; hand out what waits.

    Returns each id's fate: "succeeded", "pending" (a retry is scheduled),
    "failed", "busy" or "gone". A worker that dies anywhere in here leaves
    its lease to expire; the sweeper hands the deliveries out again.
    """
    from .services import subscription_disable_for_failure

    claimed = _retrying_deadlocks(
        lambda: deliveries_claim(delivery_ids=delivery_ids, now=now or timezone.now())
    )
    outcomes = claimed.outcomes
    if not claimed.deliveries:
        return outcomes
    try:
        sent = deliveries_send(claimed.deliveries)
        disable = _retrying_deadlocks(
            lambda: deliveries_settle(sent, lease_until=claimed.lease_until)
        )
        for delivery in claimed.deliveries:
            outcomes[delivery.pk] = delivery.status
        for subscription, reason in disable:
            # In a transaction of its own, which locks the organization's
            # endpoints in id order as a snapshot publish does: no deadlock.
            subscription_disable_for_failure(
                subscription=subscription, reason=reason, now=timezone.now()
            )
    finally:
        # Keep each subscription's queue moving within its concurrency cap.
        deliveries_hand_out(subscription_ids=Counter(d.subscription_id for d in claimed.deliveries))
    return outcomes


def delivery_run(*, delivery_id: int, now: datetime | None = None) -> str:
    """Claim and send one delivery if it is due (deliveries_run for one id)."""
    return deliveries_run(delivery_ids=[delivery_id], now=now)[delivery_id]
