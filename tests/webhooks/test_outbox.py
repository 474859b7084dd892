"""The outbox: snapshot.completed is written with the publish, fanned out per subscription."""

from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from snapshots.models import Snapshot
from tests.factories import T0, hub_record, published_snapshot
from webhooks import tasks
from webhooks.models import Delivery, Event, Subscription
from webhooks.services import PlanLimitExceeded, events_publish, subscription_set_active

from .conftest import make_org
from .support import publish, subscribe

pytestmark = pytest.mark.django_db


def test_a_published_snapshot_writes_a_thin_snapshot_completed_event(
    org, receiver, loopback_allowed
):
    sub, _ = subscribe(org, receiver.url)
    published_snapshot([hub_record("a/one", downloads=100), hub_record("b/two", downloads=50)])
    second = published_snapshot(
        [
            hub_record("a/one", downloads=400),
            hub_record("b/two", downloads=5000),
            hub_record("c/new", downloads=10),
            hub_record("p/secret", downloads=99_999, private=True),
        ],
        taken_at=T0 + timedelta(days=1),
    )
    events = list(Event.objects.filter(type="snapshot.completed").order_by("pk"))
    assert len(events) == 2
    data = events[1].data
    assert data["snapshot"] == {"id": second.pk, "taken_at": "2026-03-02T12:00:00Z"}
    assert data["counts"] == {"models": 3, "new_24h": 1}
    movers = data["top_movers_24h"]
    assert [m["id"] for m in movers] == ["b/two", "a/one"]  # private and new left out
    assert movers[0] == {
        "id": "b/two",
        "rank": 2,  # ranks count every observed model (the private one is first)
        "rank_change_24h": 0,
        "downloads": 5000,
        "delta_downloads_24h": 4950,
    }
    deliveries = Delivery.objects.filter(subscription=sub).order_by("sequence")
    assert [(d.event_id, d.sequence) for d in deliveries] == [
        (e.pk, i + 1) for i, e in enumerate(events)
    ]


def test_the_event_exists_if_and_only_if_the_snapshot_does(
    org, receiver, loopback_allowed, monkeypatch
):
    from snapshots import services as snapshot_services

    subscribe(org, receiver.url)

    def publish_then_fail(**kwargs):
        events_publish(**kwargs)
        raise RuntimeError("the publish transaction fails after the outbox write")

    monkeypatch.setattr(snapshot_services, "events_publish", publish_then_fail)
    with pytest.raises(RuntimeError):
        published_snapshot([hub_record("a/one")])
    assert not Snapshot.objects.exists()
    assert not Event.objects.exists() and not Delivery.objects.exists()
    assert Subscription.objects.get().sequence == 0

    def outbox_fails(**kwargs):
        raise RuntimeError("the outbox write fails")

    monkeypatch.setattr(snapshot_services, "events_publish", outbox_fails)
    with pytest.raises(RuntimeError):
        published_snapshot([hub_record("a/one")])
    assert not Snapshot.objects.exists()


def test_deliveries_are_enqueued_on_commit_and_delivered(
    org, receiver, loopback_allowed, django_capture_on_commit_callbacks
):
    _, secret = subscribe(org, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = published_snapshot([hub_record("a/one")])
    # Celery runs eagerly in tests: the delivery went out at commit.
    [request] = receiver.requests
    body = Webhook(secret).verify(request.body, request.headers)
    assert body["type"] == "snapshot.completed" and body["data"]["snapshot"]["id"] == snapshot.pk
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED


def test_priority_plans_go_through_the_priority_queue(
    receiver, loopback_allowed, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []

    monkeypatch.setattr(
        tasks.deliver_batch, "apply_async", lambda args, queue: sent.append((args[0], queue))
    )
    free = subscribe(make_org("small", plan="free"), receiver.url)[0]
    big = subscribe(make_org("big", plan="enterprise"), receiver.url)[0]
    with django_capture_on_commit_callbacks(execute=True):
        publish()
    by_sub = {d.pk: d.subscription_id for d in Delivery.objects.all()}
    assert [(by_sub[pk], queue) for ids, queue in sent for pk in ids] == [
        (big.pk, "webhooks_priority"),
        (free.pk, "webhooks"),
    ]


def test_only_active_subscriptions_that_want_the_type_get_it(org, receiver, loopback_allowed):
    wants, _ = subscribe(org, receiver.url, event_types=["snapshot.completed"])
    other, _ = subscribe(org, receiver.url + "/anomalies", event_types=["model.anomaly"])
    everything, _ = subscribe(org, receiver.url + "/all", event_types=[])
    off, _ = subscribe(org, receiver.url + "/off")
    subscription_set_active(subscription=off, active=False)
    publish()
    events_publish(type="model.anomaly", data={"model": "a/one"})
    got = sorted(Delivery.objects.values_list("subscription_id", "event__type"))
    assert got == sorted(
        [
            (wants.pk, "snapshot.completed"),
            (everything.pk, "snapshot.completed"),
            (other.pk, "model.anomaly"),
            (everything.pk, "model.anomaly"),
        ]
    )


def test_the_plan_caps_how_many_subscriptions_an_org_has(receiver, loopback_allowed):
    free = make_org("small", plan="free")
    subscribe(free, receiver.url)
    with pytest.raises(PlanLimitExceeded) as caught:
        subscribe(free, receiver.url + "/second")
    assert caught.value.limit == 1
    assert Subscription.objects.filter(organization=free).count() == 1


def test_unknown_event_types_are_refused(org, receiver, loopback_allowed):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        subscribe(org, receiver.url, event_types=["snapshot.completed", "model.deleted"])
    assert "model.deleted" in caught.value.message_dict["event_types"][0]
