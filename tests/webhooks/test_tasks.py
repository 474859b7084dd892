"""The Celery entry points, their beat entries, and the commands."""

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from webhooks import tasks
from webhooks.models import Delivery, DeliveryAttempt
from webhooks.services import subscription_set_active

from .support import publish, subscribe

pytestmark = pytest.mark.django_db


def test_beat_runs_the_sweeper_often_and_the_pruning_daily():
    sweep = settings.CELERY_BEAT_SCHEDULE["sweep-webhook-deliveries"]
    prune = settings.CELERY_BEAT_SCHEDULE["prune-webhook-log"]
    assert sweep["task"] == tasks.sweep_deliveries.name
    assert sweep["schedule"] == timedelta(seconds=15) and sweep["options"]["expires"] == 13
    assert prune["task"] == tasks.prune_delivery_log.name
    assert prune["schedule"] == timedelta(hours=24)


def test_the_deliver_task_sends_a_due_delivery(org, receiver, loopback_allowed):
    subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    assert tasks.deliver.delay(delivery.pk).get() == "succeeded"
    assert tasks.deliver.delay(delivery.pk).get() == "gone"  # already delivered: nothing sent
    assert len(receiver.requests) == 1


def test_the_sweeper_skips_disabled_subscriptions(org, receiver, loopback_allowed):
    sub, _ = subscribe(org, receiver.url)
    publish()
    Delivery.objects.update(enqueued_at=None)
    subscription_set_active(subscription=sub, active=False)
    assert tasks.sweep_deliveries.delay().get() == 0
    assert receiver.requests == []
    subscription_set_active(subscription=sub, active=True)  # resumes its pending deliveries
    assert tasks.sweep_deliveries.delay().get() == 1
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED


def test_the_commands(org, receiver, loopback_allowed):
    subscribe(org, receiver.url)
    publish()
    Delivery.objects.update(enqueued_at=None)
    out = StringIO()
    call_command("sweep_webhooks", stdout=out)
    assert out.getvalue().strip() == "reclaimed 0, enqueued 1"
    DeliveryAttempt.objects.update(started_at=timezone.now() - timedelta(days=31))
    out = StringIO()
    call_command("prune_webhook_log", stdout=out)
    assert out.getvalue().startswith("pruned 1 attempt(s)")


def test_the_sweeper_is_not_queued_behind_a_backlog_of_deliveries():
    from registry.celery import app

    route = app.amqp.router.route({}, tasks.sweep_deliveries.name)
    assert route["queue"].name == "webhooks_priority"
    assert app.amqp.router.route({}, tasks.prune_delivery_log.name)["queue"].name == "webhooks"
