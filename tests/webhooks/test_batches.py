"""Deliveries go out in batches: claimed together, sent at once, settled together.

The statement count of a batch is pinned: it does not grow with the batch,
so a fan-out to many subscriptions costs a fraction of a statement each.
"""

from __future__ import annotations

import ipaddress
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks import Webhook

from webhooks import delivery as delivery_module
from webhooks import tasks, transport
from webhooks.delivery import deliveries_run
from webhooks.models import Delivery, DeliveryAttempt, Subscription
from webhooks.queueing import CLAIM_BATCH, deliveries_enqueue
from webhooks.ssrf import url_check

from .conftest import Reply, make_org
from .support import publish, subscribe

pytestmark = pytest.mark.django_db


def statements(captured) -> list[str]:
    """What reached the database, without the savepoints a test's transaction adds."""
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def transactions(captured) -> int:
    return sum(1 for q in captured.captured_queries if q["sql"].upper().startswith("SAVEPOINT"))


def fan_out(receiver, n: int) -> tuple[list[int], list[str]]:
    receiver.server.socket.listen(64)  # a batch connects at once: room in the accept queue
    secrets = []
    for i in range(n):
        secrets.append(subscribe(make_org(f"org{i}"), f"{receiver.url}/hook/{i}")[1])
    publish()
    return list(Delivery.objects.order_by("pk").values_list("pk", flat=True)), secrets


@pytest.mark.parametrize("n", [1, 5, CLAIM_BATCH])
def test_a_batch_costs_the_same_statements_whatever_its_size(receiver, loopback_allowed, n):
    ids, secrets = fan_out(receiver, n)

    with CaptureQueriesContext(connection) as captured:
        outcomes = deliveries_run(delivery_ids=ids)

    assert outcomes == dict.fromkeys(ids, "succeeded")
    # Claim: candidates, lock their subscriptions, count in flight, claim (one transaction).
    # Settle: lock the subscriptions (their first success is written), log, deliveries,
    # the subscriptions (one transaction). Hand out: is anything waiting under a cap?
    assert len(statements(captured)) == 9, "\n".join(statements(captured))
    assert transactions(captured) == 2
    assert len(receiver.requests) == n
    for request in receiver.requests:
        i = int(request.path.rsplit("/", 1)[1])
        Webhook(secrets[i]).verify(request.body, request.headers)
    assert DeliveryAttempt.objects.filter(succeeded=True).count() == n
    assert Subscription.objects.filter(last_success_at__isnull=False).count() == n


def test_a_healthy_endpoints_row_is_not_written_again_within_a_minute(receiver, loopback_allowed):
    ids, _ = fan_out(receiver, 3)
    deliveries_run(delivery_ids=ids)
    publish()
    second = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING).values_list("pk", flat=True)
    )
    with CaptureQueriesContext(connection) as captured:
        assert set(deliveries_run(delivery_ids=second).values()) == {"succeeded"}
    assert len(statements(captured)) == 7  # no subscription locked or written


def test_enqueue_sends_batches_priority_first(receiver, loopback_allowed, monkeypatch):
    sent = []
    monkeypatch.setattr(
        tasks.deliver_batch, "apply_async", lambda args, queue: sent.append((args[0], queue))
    )
    for i in range(CLAIM_BATCH + 3):
        subscribe(make_org(f"free{i}", plan="free"), f"{receiver.url}/f/{i}")
    subscribe(make_org("big", plan="enterprise"), f"{receiver.url}/big")
    publish()
    ids = list(Delivery.objects.values_list("pk", flat=True))
    assert deliveries_enqueue(delivery_ids=ids) == len(ids)
    priority = Delivery.objects.get(priority=True).pk
    assert [(len(batch), queue) for batch, queue in sent] == [
        (1, "webhooks_priority"),
        (CLAIM_BATCH, "webhooks"),
        (3, "webhooks"),
    ]
    assert sent[0][0] == [priority]


def test_a_batch_respects_each_subscriptions_cap_and_hands_out_the_rest(receiver, loopback_allowed):
    free = make_org("tiny", plan="free")  # one at a time
    subscribe(free, receiver.url)
    publish()
    publish()
    publish()
    ids = list(Delivery.objects.order_by("sequence").values_list("pk", flat=True))
    outcomes = deliveries_run(delivery_ids=ids)
    # The first was sent; the others were over the cap. Handed out again as it
    # finished (Celery runs eagerly here), they went one by one, in order.
    assert outcomes[ids[0]] == "succeeded"
    assert outcomes[ids[1]] == outcomes[ids[2]] == "busy"
    assert [r.headers["webhook-id"] for r in receiver.requests] == list(
        Delivery.objects.order_by("sequence").values_list("msg_id", flat=True)
    )
    assert set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_a_batch_is_sent_at_once_so_one_slow_receiver_holds_none_of_the_others(
    receiver, loopback_allowed
):
    # Every request waits at a barrier for all five: sent one after another,
    # the first would wait alone, break the barrier and get a 500.
    barrier = threading.Barrier(5, timeout=5)
    handler = receiver.server.RequestHandlerClass
    answer = handler.do_POST

    def do_post(self):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            receiver.script.appendleft(Reply(500))
        answer(self)

    handler.do_POST = do_post
    ids, _ = fan_out(receiver, 5)

    outcomes = deliveries_run(delivery_ids=ids)

    assert outcomes == dict.fromkeys(ids, "succeeded")
    assert len(receiver.requests) == 5


def test_a_settle_for_a_lease_that_expired_and_was_reclaimed_changes_nothing(
    org, receiver, loopback_allowed
):
    subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    claimed = delivery_module.deliveries_claim(delivery_ids=[delivery.pk], now=timezone.now())
    sent = delivery_module.deliveries_send(claimed.deliveries)
    # Meanwhile the lease expired and another worker claimed it again.
    other_lease = claimed.lease_until + timedelta(seconds=90)
    Delivery.objects.filter(pk=delivery.pk).update(claimed_until=other_lease)
    delivery_module.deliveries_settle(sent, lease_until=claimed.lease_until)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERING and delivery.claimed_until == other_lease
    assert DeliveryAttempt.objects.count() == 1  # the attempt happened: it is logged


@pytest.fixture
def keepalive_receiver():
    """An HTTP/1.1 receiver that keeps connections open and notes each request's client port."""
    ports = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("content-length") or 0))
            ports.append(self.client_address[1])
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    transport.sessions.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}", ports
    server.shutdown()
    server.server_close()
    transport.sessions.clear()


def test_connections_are_kept_alive_between_deliveries(org, keepalive_receiver, loopback_allowed):
    url, ports = keepalive_receiver
    subscribe(org, url + "/a")
    subscribe(org, url + "/b")
    publish()
    publish()
    for delivery in Delivery.objects.order_by("pk"):
        assert deliveries_run(delivery_ids=[delivery.pk])[delivery.pk] == "succeeded"
    assert len(ports) == 4 and len(set(ports)) == 1  # one connection for all four


def test_a_kept_session_is_reused_only_for_the_same_checked_address(loopback_allowed):
    first = url_check("http://127.0.0.1:9/hook")
    session = transport.sessions.take(first)
    transport.sessions.give_back(first, session)
    assert transport.sessions.take(url_check("http://127.0.0.1:9/other")) is session
    transport.sessions.give_back(first, session)
    # Another address (what a name resolves to may change): never the pinned session.
    elsewhere = transport.sessions.take(url_check("http://127.0.0.2:9/hook"))
    assert elsewhere is not session
    assert elsewhere.get_adapter("http://127.0.0.2:9/").target.address == ipaddress.ip_address(
        "127.0.0.2"
    )
    transport.sessions.clear()


class Deadlock(Exception):
    sqlstate = "40P01"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_settle_aborted_by_a_deadlock_is_run_again(org, receiver, loopback_allowed, monkeypatch):
    from webhooks import services

    monkeypatch.setattr(services, "deliveries_enqueue", lambda **kwargs: 0)  # not sent at commit
    subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    real = DeliveryAttempt.objects.bulk_create
    calls = []

    def deadlocked_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from Deadlock()
        return real(*args, **kwargs)

    monkeypatch.setattr(DeliveryAttempt.objects, "bulk_create", deadlocked_once)
    assert deliveries_run(delivery_ids=[delivery.pk]) == {delivery.pk: "succeeded"}
    assert len(calls) == 2 and DeliveryAttempt.objects.count() == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED and len(receiver.requests) == 1
