"""Deliveries are signed as Standard Webhooks says, and verify with `standardwebhooks`."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from webhooks.delivery import delivery_run
from webhooks.models import Delivery, Subscription
from webhooks.secrets import secret_decrypt
from webhooks.services import subscription_rotate_secret

from .support import publish, subscribe

pytestmark = pytest.mark.django_db


def test_a_delivery_verifies_with_standardwebhooks(org, receiver, loopback_allowed):
    sub, secret = subscribe(org, receiver.url + "/hook")
    event = publish({"snapshot": {"id": 7, "taken_at": "2026-03-01T12:00:00Z"}})
    delivery = Delivery.objects.get(event=event)

    assert delivery_run(delivery_id=delivery.pk) == "succeeded"

    [request] = receiver.requests
    assert request.path == "/hook"
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload == {
        "type": "snapshot.completed",
        "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
        "sequence": 1,
        "data": {"snapshot": {"id": 7, "taken_at": "2026-03-01T12:00:00Z"}},
    }
    assert request.headers["webhook-id"] == delivery.msg_id
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-signature"].startswith("v1,")
    # Another secret does not verify it.
    other = subscribe(org, receiver.url + "/other")[1]
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(request.body, request.headers)


def test_the_secret_is_a_whsec_key_kept_encrypted(org, loopback_allowed, receiver):
    sub, secret = subscribe(org, receiver.url)
    assert secret.startswith("whsec_") and len(secret) > 30
    stored = Subscription.objects.get(pk=sub.pk).secret_encrypted
    assert secret not in stored and secret[6:] not in stored
    assert secret_decrypt(stored) == secret


def test_rotation_signs_with_both_secrets_for_24_hours_then_only_the_new(
    org, receiver, loopback_allowed
):
    sub, old = subscribe(org, receiver.url)
    new = subscription_rotate_secret(subscription=sub)
    assert new != old and new.startswith("whsec_")
    sub.refresh_from_db()
    overlap_end = sub.previous_secret_expires_at
    assert timedelta(hours=23, minutes=59) < overlap_end - timezone.now() <= timedelta(hours=24)

    publish()
    delivery_run(delivery_id=Delivery.objects.get().pk)
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    # Receivers on either secret accept it during the overlap.
    assert Webhook(new).verify(request.body, request.headers)["sequence"] == 1
    assert Webhook(old).verify(request.body, request.headers)["sequence"] == 1

    # After the overlap only the new secret signs.
    Subscription.objects.filter(pk=sub.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    publish()
    second = Delivery.objects.get(sequence=2)
    delivery_run(delivery_id=second.pk)
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(new).verify(request.body, request.headers)["sequence"] == 2
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, request.headers)


def test_the_body_is_the_same_bytes_on_every_attempt(org, receiver, loopback_allowed):
    from .conftest import Reply

    receiver.then(Reply(status=500))
    sub, secret = subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    delivery_run(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    delivery_run(delivery_id=delivery.pk, now=delivery.next_attempt_at)
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert json.loads(second.body)["sequence"] == 1
    assert Webhook(secret).verify(second.body, second.headers)
