"""Redelivery, bulk recovery, test events, the log's filters and its retention."""

from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks.delivery import delivery_run
from webhooks.models import Delivery, DeliveryAttempt, Event
from webhooks.selectors import attempts_log, deliveries_log
from webhooks.services import (
    deliveries_recover,
    delivery_log_prune,
    delivery_redeliver,
    event_send_test,
)

from .conftest import Reply, make_org
from .support import publish, run_until_settled, subscribe

pytestmark = pytest.mark.django_db


def test_a_redelivery_keeps_the_webhook_id(org, receiver, loopback_allowed):
    subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    delivery_run(delivery_id=delivery.pk)
    attempt = DeliveryAttempt.objects.get()

    reopened = delivery_redeliver(delivery=attempt)  # from the log, one attempt
    assert reopened.status == Delivery.Status.PENDING and reopened.attempts == 0
    assert delivery_run(delivery_id=delivery.pk) == "succeeded"

    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.msg_id
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 2


def test_recover_sends_again_everything_that_failed_since_a_time(org, receiver, loopback_allowed):
    receiver.default = Reply(500)
    sub, _ = subscribe(org, receiver.url)
    publish()
    publish()
    publish()
    old, given_up, waiting = Delivery.objects.order_by("sequence")
    for delivery in (old, given_up):
        run_until_settled(delivery)
    delivery_run(delivery_id=waiting.pk)
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    assert set(Delivery.objects.values_list("status", flat=True)) == {"failed", "pending"}

    receiver.default = Reply(200)
    result = deliveries_recover(subscription=sub, since=timezone.now() - timedelta(hours=1))
    assert (result.reopened, result.hastened) == (1, 1)

    assert delivery_run(delivery_id=given_up.pk) == "succeeded"
    # A finished delivery hands out its subscription's next due one (Celery is
    # eager in tests, so it ran at once).
    waiting.refresh_from_db()
    assert waiting.status == Delivery.Status.SUCCEEDED
    old.refresh_from_db()
    assert old.status == Delivery.Status.FAILED  # before `since`: left alone
    succeeded_ids = [r.headers["webhook-id"] for r in receiver.requests[-2:]]
    assert sorted(succeeded_ids) == sorted([given_up.msg_id, waiting.msg_id])


def test_a_test_event_goes_to_one_subscription_whatever_it_subscribed_to(
    org, receivers, loopback_allowed
):
    a, b = receivers(), receivers()
    sub_a, _ = subscribe(org, a.url, event_types=["model.anomaly"])
    subscribe(org, b.url)
    delivery = event_send_test(subscription=sub_a)
    assert delivery.event.type == "webhook.test" and delivery.sequence == 1
    assert delivery_run(delivery_id=delivery.pk) == "succeeded"
    assert b'"type":"webhook.test"' in a.requests[0].body and b.requests == []


def test_the_log_filters(org, receiver, loopback_allowed):
    receiver.then(Reply(500))
    sub, _ = subscribe(org, receiver.url)
    other_org = make_org("other")
    other, _ = subscribe(other_org, receiver.url + "/other")
    publish()
    for delivery in Delivery.objects.order_by("pk"):
        delivery_run(delivery_id=delivery.pk)
    mine = Delivery.objects.get(subscription=sub)
    assert [a.delivery_id for a in attempts_log(organization=org)] == [mine.pk]
    failed = attempts_log(succeeded=False)
    assert failed.count() == 1 and failed[0].status_code == 500
    assert attempts_log(error_class="http_status").count() == 1
    assert attempts_log(msg_id=mine.msg_id).count() == 1
    assert attempts_log(event_type="snapshot.completed").count() == 2
    assert attempts_log(event_type="webhook.test").count() == 0
    assert attempts_log(since=timezone.now() + timedelta(seconds=5)).count() == 0
    assert deliveries_log(subscription=other, status="succeeded").count() == 1
    assert deliveries_log(organization=org, status="pending").get() == mine


def test_the_log_is_kept_for_30_days(org, receiver, loopback_allowed):
    subscribe(org, receiver.url)
    publish()
    publish()
    old, recent = Delivery.objects.order_by("sequence")
    for delivery in (old, recent):
        delivery_run(delivery_id=delivery.pk)
    long_ago = timezone.now() - timedelta(days=31)
    Event.objects.filter(pk=old.event_id).update(created_at=long_ago)
    Delivery.objects.filter(pk=old.pk).update(created_at=long_ago)
    DeliveryAttempt.objects.filter(delivery=old).update(started_at=long_ago)

    pruned = delivery_log_prune()

    assert (pruned.attempts, pruned.deliveries, pruned.events) == (1, 1, 1)
    assert list(Delivery.objects.all()) == [recent]
    assert DeliveryAttempt.objects.get().delivery == recent
    assert delivery_log_prune() == type(pruned)(0, 0, 0)
