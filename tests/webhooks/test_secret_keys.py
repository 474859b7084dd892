"""The keys that encrypt signing secrets: their own setting, rotatable, checked at start-up."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from standardwebhooks import Webhook

from api.services import api_key_create
from tests.conftest import REPO
from webhooks.delivery import delivery_run
from webhooks.models import Delivery, DeliveryAttempt, Subscription
from webhooks.secrets import configured_keys, key_derived_from_secret_key
from webhooks.services import subscription_rotate_secret

from .support import publish, subscribe

pytestmark = pytest.mark.django_db

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def test_rotating_secret_key_leaves_every_subscription_working(
    org, receiver, loopback_allowed, settings
):
    _, secret = subscribe(org, receiver.url)
    settings.SECRET_KEY = "a-brand-new-secret-key-after-rotation-" + "x" * 20
    publish()
    assert delivery_run(delivery_id=Delivery.objects.get().pk) == "succeeded"
    Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)


def test_keys_rotate_newest_first_and_reencrypt_moves_every_secret_to_the_newest(
    org, receiver, loopback_allowed, settings
):
    settings.WEBHOOK_SECRET_KEYS = [KEY_A]
    sub, secret = subscribe(org, receiver.url)
    rotated = subscription_rotate_secret(subscription=sub)  # a previous secret too
    # A new key goes first; the old one still decrypts.
    settings.WEBHOOK_SECRET_KEYS = [KEY_B, KEY_A]
    publish()
    assert delivery_run(delivery_id=Delivery.objects.get().pk) == "succeeded"
    headers = receiver.requests[0].headers
    Webhook(secret).verify(receiver.requests[0].body, headers)
    Webhook(rotated).verify(receiver.requests[0].body, headers)

    out = io.StringIO()
    call_command("webhook_secrets", "reencrypt", stdout=out)
    assert out.getvalue() == "re-encrypted the secrets of 1 subscription(s)\n"
    sub.refresh_from_db()
    assert Fernet(KEY_B).decrypt(sub.secret_encrypted.encode()).decode() == rotated
    assert Fernet(KEY_B).decrypt(sub.previous_secret_encrypted.encode()).decode() == secret
    # The old key can go now.
    settings.WEBHOOK_SECRET_KEYS = [KEY_B]
    publish()
    second = Delivery.objects.order_by("-pk").first()
    assert delivery_run(delivery_id=second.pk) == "succeeded"
    Webhook(rotated).verify(receiver.requests[1].body, receiver.requests[1].headers)


def test_reencrypt_reports_secrets_no_key_can_read(org, receiver, loopback_allowed, settings):
    settings.WEBHOOK_SECRET_KEYS = [KEY_A]
    sub, _ = subscribe(org, receiver.url)
    settings.WEBHOOK_SECRET_KEYS = [KEY_B]
    with pytest.raises(CommandError, match=f"ids {sub.pk}"):
        call_command("webhook_secrets", "reencrypt", stdout=io.StringIO())


def test_an_unreadable_secret_is_a_logged_delivery_failure_never_a_500(
    client, org, receiver, loopback_allowed, settings, caplog, django_capture_on_commit_callbacks
):
    settings.RATE_LIMIT_ENABLED = False
    settings.WEBHOOK_SECRET_KEYS = [KEY_A]
    sub, _ = subscribe(org, receiver.url)
    settings.WEBHOOK_SECRET_KEYS = [KEY_B]  # the key that encrypted it is gone
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(organization=org, name='k')[1]}"}

    with (
        caplog.at_level(logging.ERROR, logger="modelboard.webhooks"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(f"/api/v4/webhooks/subscriptions/{sub.pk}/test", **auth)

    assert response.status_code == 202, response.content
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 1
    [attempt] = DeliveryAttempt.objects.all()
    assert attempt.error_class == "secret" and "WEBHOOK_SECRET_KEYS" in attempt.error
    assert receiver.requests == []  # nothing goes out unsigned
    assert any(
        "not sent" in r.getMessage() and "WEBHOOK_SECRET_KEYS" in r.getMessage()
        for r in caplog.records
    )
    assert Subscription.objects.get().failing_since is not None


def test_a_malformed_or_missing_key_is_refused_with_a_clear_message(settings):
    settings.WEBHOOK_SECRET_KEYS = [KEY_A, "not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="key 2 of 2 is not a Fernet key"):
        configured_keys()
    settings.WEBHOOK_SECRET_KEYS = f"{KEY_B}, {KEY_A}"  # a string is split on commas
    assert configured_keys() == (KEY_B, KEY_A)

    settings.WEBHOOK_SECRET_KEYS = []
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured, match="WEBHOOK_SECRET_KEYS is not set"):
        configured_keys()
    # Development (DEBUG) works with no key: one derived for it.
    settings.DEBUG = True
    assert configured_keys() == (key_derived_from_secret_key(),)


def _start(**env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_SECRET_KEY")}
    env.update(env_changes)
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps(settings.WEBHOOK_SECRET_KEYS))"
    )
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_start_up_stops_on_a_malformed_key_and_accepts_the_old_name():
    bad = _start(WEBHOOK_SECRET_KEYS=f"{KEY_A},oops", DEBUG="0")
    assert bad.returncode != 0
    assert "WEBHOOK_SECRET_KEYS: key 2 of 2 is not a Fernet key" in bad.stderr
    assert "oops" not in bad.stderr.split("ImproperlyConfigured")[-1]  # keys are not echoed

    missing = _start(DEBUG="0")
    assert missing.returncode != 0 and "WEBHOOK_SECRET_KEYS is not set" in missing.stderr

    old_name = _start(WEBHOOK_SECRET_KEY=KEY_A, DEBUG="0")
    assert old_name.returncode == 0, old_name.stderr
    assert json.loads(old_name.stdout.strip().splitlines()[-1]) == [KEY_A]
