"""The admin: subscriptions (secret shown once, actions) and the read-only delivery log."""

import re

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.test import RequestFactory
from django.utils import timezone
from standardwebhooks import Webhook

from webhooks.delivery import delivery_run
from webhooks.models import Delivery, DeliveryAttempt, Subscription

from .conftest import Reply
from .support import publish, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("root", password="x")
    client.force_login(user)
    return client


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def stored_client_side(response, secret: str) -> list[str]:
    """Where the response leaves the secret outside this page: cookies, messages, the session."""
    found = []
    for name, morsel in response.cookies.items():
        if secret in morsel.OutputString():
            found.append(f"cookie {name}")
        if name == CookieStorage.cookie_name:
            request = RequestFactory().get("/")
            request.COOKIES[name] = morsel.value
            if any(secret in str(m) for m in CookieStorage(request)):
                found.append("the messages cookie")
    for session in Session.objects.all():
        if secret in repr(session.get_decoded()):
            found.append("the session")
    return found


def test_adding_a_subscription_shows_its_secret_once(admin_client, org, receiver, loopback_allowed):
    response = admin_client.post(
        "/admin/webhooks/subscription/add/",
        {
            "organization": org.pk,
            "url": receiver.url + "/hook",
            "event_types": ["snapshot.completed"],
            "description": "ops",
            "notices-TOTAL_FORMS": "0",
            "notices-INITIAL_FORMS": "0",
        },
    )
    # Rendered in this response, not redirected with a message.
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    [secret] = re.findall(rb'value="(whsec_[^"]+)"', response.content)
    secret = secret.decode()
    assert stored_client_side(response, secret) == []
    sub = Subscription.objects.get()
    assert sub.event_types == ["snapshot.completed"] and sub.description == "ops"

    # The secret works, and no page shows it again.
    publish()
    delivery_run(delivery_id=Delivery.objects.get().pk)
    request = receiver.requests[0]
    assert Webhook(secret).verify(request.body, request.headers)["sequence"] == 1
    for url in (f"/admin/webhooks/subscription/{sub.pk}/change/", "/admin/webhooks/subscription/"):
        page = admin_client.get(url)
        assert page.status_code == 200 and secret.encode() not in page.content


def test_the_add_form_refuses_private_urls(admin_client, org, no_allowlist):
    response = admin_client.post(
        "/admin/webhooks/subscription/add/",
        {
            "organization": org.pk,
            "url": "http://10.0.0.1/hook",
            "notices-TOTAL_FORMS": "0",
            "notices-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert b"10.0.0.1 is a private address" in response.content
    assert not Subscription.objects.exists()


def test_actions_rotate_send_test_and_recover(admin_client, org, receiver, loopback_allowed):
    sub, old = subscribe(org, receiver.url)
    url = "/admin/webhooks/subscription/"
    response = admin_client.post(url, {"action": "rotate_secret", "_selected_action": [sub.pk]})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    [new] = [v.decode() for v in re.findall(rb'value="(whsec_[^"]+)"', response.content)]
    assert new != old
    assert stored_client_side(response, new) == []
    assert not any("whsec_" in m for m in texts(response))

    admin_client.post(url, {"action": "send_test_event", "_selected_action": [sub.pk]})
    test_delivery = Delivery.objects.get(event__type="webhook.test")
    delivery_run(delivery_id=test_delivery.pk)
    assert Webhook(new).verify(receiver.requests[0].body, receiver.requests[0].headers)

    receiver.then(Reply(500))
    publish()
    failing = Delivery.objects.get(event__type="snapshot.completed")
    delivery_run(delivery_id=failing.pk)
    failing.refresh_from_db()
    assert failing.status == Delivery.Status.PENDING and failing.attempts == 1
    form = admin_client.post(url, {"action": "recover_failed_since", "_selected_action": [sub.pk]})
    assert form.status_code == 200 and b'name="since"' in form.content
    done = admin_client.post(
        url,
        {
            "action": "recover_failed_since",
            "_selected_action": [sub.pk],
            "since": "2020-01-01 00:00",
            "apply": "Recover",
        },
    )
    assert done.status_code == 302
    before = failing.next_attempt_at
    failing.refresh_from_db()
    assert failing.next_attempt_at < before and failing.next_attempt_at <= timezone.now()
    assert any("1 deliveries sent again" in m for m in texts(done))


def test_the_delivery_log_is_read_only_filterable_and_redeliverable(
    admin_client, org, receiver, loopback_allowed
):
    subscribe(org, receiver.url)
    publish()
    delivery = Delivery.objects.get()
    delivery_run(delivery_id=delivery.pk)
    attempt = DeliveryAttempt.objects.get()
    for path in (
        "/admin/webhooks/delivery/?status__exact=succeeded",
        f"/admin/webhooks/delivery/?q={delivery.msg_id}",
        "/admin/webhooks/deliveryattempt/?succeeded__exact=1&error_class__exact=",
        f"/admin/webhooks/deliveryattempt/?q={delivery.msg_id}",
        f"/admin/webhooks/delivery/{delivery.pk}/change/",
        f"/admin/webhooks/deliveryattempt/{attempt.pk}/change/",
        "/admin/webhooks/event/",
        "/admin/webhooks/endpointnotice/",
    ):
        response = admin_client.get(path)
        assert response.status_code == 200, path
    listing = admin_client.get(f"/admin/webhooks/deliveryattempt/?q={delivery.msg_id}")
    assert delivery.msg_id.encode() in listing.content
    assert (
        admin_client.post(f"/admin/webhooks/deliveryattempt/{attempt.pk}/delete/").status_code
        == 403
    )
    change = admin_client.get(f"/admin/webhooks/delivery/{delivery.pk}/change/")
    assert b'name="status"' not in change.content

    admin_client.post(
        "/admin/webhooks/deliveryattempt/",
        {"action": "redeliver", "_selected_action": [attempt.pk]},
    )
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
    assert delivery_run(delivery_id=delivery.pk) == "succeeded"
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery.msg_id] * 2


@pytest.mark.parametrize(
    "path",
    [
        "/admin/webhooks/subscription/",
        "/admin/webhooks/delivery/",
        "/admin/webhooks/deliveryattempt/",
        "/admin/webhooks/endpointnotice/",
    ],
)
def test_the_log_lists_cost_the_same_queries_for_1_or_many_rows(
    admin_client, org, receiver, loopback_allowed, path
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(path).status_code == 200
        return len(ctx.captured_queries)

    receiver.default = Reply(410)

    def one_round(n):
        sub, _ = subscribe(org, f"{receiver.url}/{n}")
        publish()
        delivery_run(delivery_id=Delivery.objects.get(subscription=sub).pk)

    one_round(0)
    few = queries()
    for n in range(1, 5):
        one_round(n)
    assert queries() == few
