"""A worker killed mid-delivery (SIGKILL: no cleanup runs) loses no event.

The delivery stays claimed until its lease expires; the sweeper then puts it
back and hands it out, and it ends delivered exactly once as far as success
rows go, with the same webhook-id.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from standardwebhooks import Webhook

from tests.conftest import REPO
from webhooks.models import Delivery, DeliveryAttempt
from webhooks.queueing import deliveries_sweep

from .conftest import Reply
from .support import publish, subscribe

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def enqueue_lost(monkeypatch):
    """The process dies between commit and enqueue: the on-commit enqueue never happens."""
    from webhooks import services

    monkeypatch.setattr(services, "deliveries_enqueue", lambda **kwargs: 0)


def test_a_delivery_whose_worker_is_killed_is_delivered_once_after_the_lease_expires(
    org, receiver, loopback_allowed, enqueue_lost
):
    _, secret = subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    receiver.then(Reply(200, delay=10))  # the first request hangs: the worker dies waiting
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "WEBHOOK_REQUIRE_HTTPS": "0",
        "CELERY_TASK_ALWAYS_EAGER": "1",
    }
    code = f"from webhooks.delivery import delivery_run; delivery_run(delivery_id={delivery.pk})"
    child = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if not receiver.got_request.wait(timeout=30):
            child.kill()
            raise AssertionError(f"the worker never sent: {child.stderr.read().decode()}")
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERING and delivery.attempts == 1
    assert not DeliveryAttempt.objects.exists()  # the worker died before logging

    # Before the lease expires the sweeper leaves it alone.
    assert deliveries_sweep().reclaimed == 0
    # After, it is handed out again (Celery runs eagerly here: delivered at once).
    sweep = deliveries_sweep(now=delivery.claimed_until + timedelta(seconds=1))
    assert sweep.reclaimed == 1 and sweep.enqueued == 1

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    log = list(DeliveryAttempt.objects.order_by("pk").values_list("error_class", "succeeded"))
    assert log == [("worker_lost", False), ("", True)]
    assert DeliveryAttempt.objects.filter(succeeded=True).count() == 1
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.msg_id
    assert Webhook(secret).verify(second.body, second.headers)["sequence"] == 1
    # Nothing else is left to send.
    time.sleep(0.05)
    assert deliveries_sweep(now=delivery.claimed_until or delivery.finished_at).enqueued == 0


def test_the_sweeper_hands_out_deliveries_whose_enqueue_was_lost(
    org, receiver, loopback_allowed, enqueue_lost
):
    subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    assert receiver.requests == []
    # Enqueued just now (as far as it knows): left alone until the requeue delay passes.
    assert deliveries_sweep().enqueued == 0
    later = delivery.enqueued_at + timedelta(seconds=301)
    assert deliveries_sweep(now=later).enqueued == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED and len(receiver.requests) == 1
