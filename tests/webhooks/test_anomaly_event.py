"""model.anomaly: a publish that finds a spike writes the event, sent to those who asked for it."""

from __future__ import annotations

import json

import pytest
from standardwebhooks import Webhook

from snapshots.models import Anomaly
from tests.factories import T0, days, hub_record, published_snapshot
from tests.webhooks.support import run_until_settled, subscribe
from webhooks.models import Delivery, Event, EventType

pytestmark = pytest.mark.django_db


def publish_days(n: int, *, spike_on_last: bool, private: bool = False):
    """n daily snapshots of acme/spiky (9x its usual downloads on the last day) and acme/flat."""
    total = 1_000_000
    snapshots = []
    for i in range(n):
        total += 9000 if (spike_on_last and i == n - 1) else 1000
        records = [
            hub_record("acme/spiky", downloadsAllTime=total, private=private),
            hub_record("acme/flat", downloadsAllTime=2_000_000 + 1000 * i),
        ]
        snapshots.append(published_snapshot(records, taken_at=T0 + days(i)))
    return snapshots


def test_a_spike_is_sent_to_anomaly_subscribers_only(org, receivers, loopback_allowed):
    wants_anomalies, wants_snapshots = receivers(), receivers()
    anomaly_sub, anomaly_secret = subscribe(
        org, wants_anomalies.url, event_types=[EventType.MODEL_ANOMALY]
    )
    snapshot_sub, _ = subscribe(org, wants_snapshots.url)
    snapshots = publish_days(16, spike_on_last=True)
    anomaly = Anomaly.objects.select_related("model").get()
    assert anomaly.model.hub_id == "acme/spiky" and anomaly.snapshot == snapshots[-1]

    events = Event.objects.filter(type=EventType.MODEL_ANOMALY)
    assert events.count() == 1
    event = events.get()
    assert event.data["model"] == "acme/spiky"
    assert event.data["anomaly_id"] == f"anomaly_{anomaly.model_id}_{anomaly.day:%Y%m%d}_downloads"
    assert event.data["snapshot"]["id"] == snapshots[-1].pk
    assert event.data["change"] == 8000.0

    delivery = Delivery.objects.get(event=event)
    assert delivery.subscription == anomaly_sub
    assert not Delivery.objects.filter(event=event, subscription=snapshot_sub).exists()
    # The snapshot subscriber got the 16 snapshot.completed events and nothing else.
    assert set(
        Delivery.objects.filter(subscription=snapshot_sub).values_list("event__type", flat=True)
    ) == {EventType.SNAPSHOT_COMPLETED}
    assert not Delivery.objects.filter(
        subscription=anomaly_sub, event__type=EventType.SNAPSHOT_COMPLETED
    ).exists()

    run_until_settled(delivery)
    assert delivery.status == Delivery.Status.SUCCEEDED
    received = wants_anomalies.requests[-1]
    payload = Webhook(anomaly_secret).verify(received.body, received.headers)
    assert payload["type"] == "model.anomaly"
    assert payload["data"]["model"] == "acme/spiky"
    assert json.loads(received.body)["data"]["metric"] == "downloads"


def test_no_spike_no_event(org, loopback_allowed):
    subscribe(org, "http://127.0.0.1:9/", event_types=[EventType.MODEL_ANOMALY])
    publish_days(16, spike_on_last=False)
    assert not Anomaly.objects.exists()
    assert not Event.objects.filter(type=EventType.MODEL_ANOMALY).exists()


def test_a_private_models_spike_is_not_sent(org, loopback_allowed):
    subscribe(org, "http://127.0.0.1:9/", event_types=[EventType.MODEL_ANOMALY])
    publish_days(16, spike_on_last=True, private=True)
    assert Anomaly.objects.filter(model__hub_id="acme/spiky").exists()
    assert not Event.objects.filter(type=EventType.MODEL_ANOMALY).exists()
