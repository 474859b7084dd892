"""/api/v4/webhooks: subscriptions and the delivery log, for an API key's organization."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone
from standardwebhooks import Webhook

from api.services import api_key_create
from registry.models import Organization, Plan
from tests.api.wsgi import wsgi_app  # noqa: F401  (a fixture)
from tests.webhooks.conftest import Receiver
from webhooks.models import Delivery, Event, EventType, Subscription
from webhooks.services import event_send_test, events_publish, subscription_create

pytestmark = pytest.mark.django_db

BASE = "/api/v4/webhooks"


# --- Callers and receivers ----------------------------------------------------------------


def key_for(org: Organization) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(organization=org, name='k')[1]}"}


def make_org(slug: str, plan: str = "pro") -> Organization:
    return Organization.objects.create(name=slug, slug=slug, plan=Plan.objects.get(slug=plan))


@pytest.fixture
def acme() -> Organization:
    return make_org("acme")


@pytest.fixture
def auth(acme) -> dict:
    return key_for(acme)


@pytest.fixture
def receivers():
    started: list[Receiver] = []

    def start() -> Receiver:
        started.append(Receiver())
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def receiver(receivers) -> Receiver:
    return receivers()


@pytest.fixture
def loopback(settings):
    """Receivers run on loopback: allow it (only it), over http:// as in development."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_REQUIRE_HTTPS = False
    settings.RATE_LIMIT_ENABLED = False
    return settings


def call(client, method: str, url: str, auth: dict, body=None, status: int = 200) -> dict:
    kwargs = dict(auth)
    if body is not None:
        kwargs["data"] = json.dumps(body) if not isinstance(body, str) else body
        kwargs["content_type"] = "application/json"
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status, response.content
    assert response["Cache-Control"] == "no-store"
    return json.loads(response.content) if response.content else {}


def create(client, auth, url, status=201, **fields) -> dict:
    return call(client, "post", f"{BASE}/subscriptions", auth, {"url": url, **fields}, status)


# --- Authentication, CSRF, caching ----------------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/subscriptions"),
        ("post", "/subscriptions"),
        ("get", "/subscriptions/1"),
        ("patch", "/subscriptions/1"),
        ("delete", "/subscriptions/1"),
        ("post", "/subscriptions/1/rotate-secret"),
        ("post", "/subscriptions/1/test"),
        ("post", "/subscriptions/1/recover"),
        ("get", "/deliveries"),
        ("get", "/deliveries/1"),
        ("post", "/deliveries/1/redeliver"),
    ],
)
def test_it_needs_an_api_key(client, method, path):
    response = getattr(client, method)(BASE + path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_required"
    assert response["WWW-Authenticate"] == "Bearer"
    assert response["Cache-Control"] == "no-store"


def test_a_wrong_key_is_refused_by_the_gate(client):
    response = client.get(f"{BASE}/subscriptions", HTTP_AUTHORIZATION="Bearer mb_nope_nope")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_writes_need_no_csrf_token(auth, loopback, receiver):
    strict = Client(enforce_csrf_checks=True)
    created = create(strict, auth, receiver.url)
    call(strict, "patch", f"{BASE}/subscriptions/{created['id']}", auth, {"description": "x"})
    call(strict, "delete", f"{BASE}/subscriptions/{created['id']}", auth, status=204)


def test_answers_are_not_cached_even_in_front_of_django(acme, auth, loopback, receiver, wsgi_app):  # noqa: F811
    def get() -> tuple[int, dict, dict]:
        environ = RequestFactory().get(f"{BASE}/subscriptions", **auth).environ
        seen = {}
        result = wsgi_app(
            environ, lambda status, headers, exc=None: seen.update(s=status, h=headers)
        )
        body = b"".join(result)
        if hasattr(result, "close"):
            result.close()
        return int(seen["s"].split()[0]), dict(seen["h"]), json.loads(body)

    status, headers, body = get()
    assert status == 200 and body["count"] == 0
    assert headers["Cache-Control"] == "no-store" and "X-Cache" not in headers
    # (Through the service: Django's test client would reconnect the signal that closes
    # the test's connection, which the wsgi_app fixture holds off.)
    subscription_create(organization=acme, url=receiver.url, event_types=[])
    status, headers, body = get()
    assert body["count"] == 1 and "X-Cache" not in headers


# --- Subscriptions ---------------------------------------------------------------------------


def test_create_shows_the_secret_once_and_a_test_event_verifies_with_it(
    client, auth, loopback, receiver, django_capture_on_commit_callbacks
):
    created = create(
        client,
        auth,
        receiver.url + "/hook",
        event_types=["snapshot.completed"],
        description="ci",
    )
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert created["url"] == receiver.url + "/hook"
    assert created["event_types"] == ["snapshot.completed"]
    assert created["active"] is True and created["description"] == "ci"
    sub_id = created["id"]

    shown = call(client, "get", f"{BASE}/subscriptions/{sub_id}", auth)
    listed = call(client, "get", f"{BASE}/subscriptions", auth)
    assert "secret" not in shown and secret not in json.dumps(shown)
    assert client.get(f"{BASE}/subscriptions", **auth)["X-Plan"] == "pro"
    assert listed["count"] == 1 and listed["limit"] == 10
    assert listed["results"] == [shown]
    assert secret not in json.dumps(listed)

    with django_capture_on_commit_callbacks(execute=True):
        sent = call(client, "post", f"{BASE}/subscriptions/{sub_id}/test", auth, status=202)
    [request] = receiver.requests
    assert request.path == "/hook"
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "webhook.test" and payload["data"]["subscription_id"] == sub_id
    assert request.headers["webhook-id"] == sent["msg_id"]

    detail = call(client, "get", f"{BASE}/deliveries/{sent['delivery_id']}", auth)
    assert detail["status"] == "succeeded" and detail["msg_id"] == sent["msg_id"]
    assert detail["event"]["type"] == "webhook.test" and detail["data"]["subscription_id"] == sub_id
    [attempt] = detail["log"]
    assert attempt["status_code"] == 200 and attempt["succeeded"] is True
    assert attempt["error_class"] is None and attempt["response_excerpt"] == "ok"
    assert attempt["latency_ms"] is not None and attempt["address"] == "127.0.0.1"
    sent_headers = attempt["request_headers"]
    assert sent_headers["webhook-signature"] == request.headers["webhook-signature"]
    assert sent_headers["webhook-id"] == sent["msg_id"]
    assert secret not in json.dumps(detail)


def test_another_organizations_webhooks_are_not_found(client, acme, auth, loopback, receiver):
    theirs = create(client, key_for(make_org("other")), receiver.url)
    mine = create(client, auth, receiver.url)
    delivery = event_send_test(subscription=Subscription.objects.get(pk=theirs["id"]))
    sub = f"{BASE}/subscriptions/{theirs['id']}"
    for method, url, body in [
        ("get", sub, None),
        ("patch", sub, {"description": "mine now"}),
        ("delete", sub, None),
        ("post", sub + "/rotate-secret", None),
        ("post", sub + "/test", None),
        ("post", sub + "/recover", {"since": "2026-01-01T00:00:00Z"}),
        ("get", f"{BASE}/deliveries/{delivery.pk}", None),
        ("post", f"{BASE}/deliveries/{delivery.pk}/redeliver", None),
        ("get", f"{BASE}/deliveries?subscription={theirs['id']}", None),
    ]:
        body = call(client, method, url, auth, body, status=404)
        assert body["error"]["code"] == "not_found", url
    assert Subscription.objects.get(pk=theirs["id"]).description == ""
    for url in (f"{BASE}/subscriptions/x1", f"{BASE}/subscriptions/99999999999999999999"):
        assert call(client, "get", url, auth, status=404)["error"]["code"] == "not_found"
    call(client, "post", f"{BASE}/deliveries/null/redeliver", auth, status=404)
    listed = call(client, "get", f"{BASE}/subscriptions", auth)
    assert [s["id"] for s in listed["results"]] == [mine["id"]]
    assert call(client, "get", f"{BASE}/deliveries", auth)["count"] == 0


def test_the_plan_limits_the_endpoints(client, loopback, receiver):
    free = key_for(make_org("small", plan="free"))
    create(client, free, receiver.url)
    refused = create(client, free, receiver.url + "/2", status=403)["error"]
    assert refused["code"] == "plan_required"
    assert "pro plan" in refused["message"] and "free" in refused["message"]
    assert Subscription.objects.count() == 1


@pytest.mark.parametrize(
    "url,problem",
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://10.0.0.7/hook", "10.0.0.7"),
        ("ftp://example.org/hook", "http"),
    ],
)
def test_refused_addresses_are_a_400_on_url(client, auth, settings, url, problem):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    settings.WEBHOOK_REQUIRE_HTTPS = False
    error = create(client, auth, url, status=400)["error"]
    assert error["code"] == "invalid_parameter"
    assert list(error["fields"]) == ["url"]
    assert problem in error["fields"]["url"][0].lower()
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    "body,field",
    [
        ({"url": "http://127.0.0.1:1/", "event_types": ["model.nonsense"]}, "event_types"),
        ({"url": "http://127.0.0.1:1/", "event_types": "snapshot.completed"}, "event_types"),
        ({"event_types": []}, "url"),
        ({"url": "http://127.0.0.1:1/", "secret": "whsec_mine"}, "secret"),
        ({"url": "http://127.0.0.1:1/", "description": "x" * 201}, "description"),
        ([1, 2], None),
    ],
)
def test_bad_bodies_are_a_400_naming_the_field(client, auth, loopback, body, field):
    error = call(client, "post", f"{BASE}/subscriptions", auth, body, status=400)["error"]
    if field is None:
        assert error["code"] == "invalid_body"
    else:
        assert list(error["fields"]) == [field]
    assert not Subscription.objects.exists()


def test_malformed_json_is_a_400(client, auth):
    error = call(client, "post", f"{BASE}/subscriptions", auth, "{nope", status=400)["error"]
    assert error["code"] == "parse_error"


def test_patch_changes_what_it_names(client, auth, loopback, receiver):
    created = create(client, auth, receiver.url)
    url = f"{BASE}/subscriptions/{created['id']}"
    changed = call(
        client,
        "patch",
        url,
        auth,
        {"event_types": ["model.anomaly", "snapshot.completed"], "description": "both"},
    )
    assert changed["event_types"] == ["model.anomaly", "snapshot.completed"]
    assert changed["description"] == "both" and changed["url"] == receiver.url

    paused = call(client, "patch", url, auth, {"active": False})
    assert paused["active"] is False and paused["disabled_reason"] == "paused through the API"
    assert paused["disabled_at"] is not None
    assert paused["description"] == "both" and len(paused["event_types"]) == 2
    refused = call(client, "post", f"{url}/test", auth, status=400)["error"]
    assert list(refused["fields"]) == ["subscription"]
    assert not Event.objects.exists()
    resumed = call(client, "patch", url, auth, {"active": True, "url": receiver.url + "/v2"})
    assert resumed["active"] is True and resumed["disabled_at"] is None
    assert resumed["url"] == receiver.url + "/v2"

    error = call(client, "patch", url, auth, {"url": "http://10.1.2.3/", "active": False}, 400)
    assert list(error["error"]["fields"]) == ["url"]
    sub = Subscription.objects.get(pk=created["id"])
    assert sub.url == receiver.url + "/v2" and sub.is_active


def test_delete_removes_it_and_its_log(client, auth, loopback, receiver):
    created = create(client, auth, receiver.url)
    delivery = event_send_test(subscription=Subscription.objects.get(pk=created["id"]))
    call(client, "delete", f"{BASE}/subscriptions/{created['id']}", auth, status=204)
    call(client, "get", f"{BASE}/subscriptions/{created['id']}", auth, status=404)
    assert not Subscription.objects.exists()
    assert not Delivery.objects.filter(pk=delivery.pk).exists()


def test_rotation_shows_the_new_secret_once_and_both_sign_for_the_overlap(
    client, auth, loopback, receiver, django_capture_on_commit_callbacks
):
    created = create(client, auth, receiver.url)
    url = f"{BASE}/subscriptions/{created['id']}"
    before = timezone.now()
    rotated = call(client, "post", f"{url}/rotate-secret", auth)
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert rotated["overlap_hours"] == 24
    expires = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert before + timedelta(hours=24) <= expires <= timezone.now() + timedelta(hours=24)
    shown = call(client, "get", url, auth)
    assert shown["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]
    assert rotated["secret"] not in json.dumps(shown)

    with django_capture_on_commit_callbacks(execute=True):
        call(client, "post", f"{url}/test", auth, status=202)
    [request] = receiver.requests
    for secret in (created["secret"], rotated["secret"]):
        assert Webhook(secret).verify(request.body, request.headers)["type"] == "webhook.test"
    assert len(request.headers["webhook-signature"].split()) == 2


def test_recover_sends_again_what_failed_since_then(client, auth, acme, loopback, receiver):
    created = create(client, auth, receiver.url)
    sub = Subscription.objects.get(pk=created["id"])
    events = [events_publish(type=EventType.SNAPSHOT_COMPLETED, data={"n": i}) for i in range(4)]
    old, failed, waiting, fine = (e.deliveries.get() for e in events)
    now = timezone.now()
    Delivery.objects.filter(pk=old.pk).update(
        status=Delivery.Status.FAILED, created_at=now - timedelta(days=3)
    )
    Delivery.objects.filter(pk=failed.pk).update(status=Delivery.Status.FAILED, attempts=9)
    Delivery.objects.filter(pk=waiting.pk).update(
        attempts=2, next_attempt_at=now + timedelta(hours=1)
    )
    Delivery.objects.filter(pk=fine.pk).update(status=Delivery.Status.SUCCEEDED)
    since = (now - timedelta(days=1)).astimezone(UTC).isoformat().replace("+00:00", "Z")

    body = call(client, "post", f"{BASE}/subscriptions/{sub.pk}/recover", auth, {"since": since})
    assert (body["reopened"], body["hastened"]) == (1, 1)
    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert statuses == {
        old.pk: "failed",
        failed.pk: "pending",
        waiting.pk: "pending",
        fine.pk: "succeeded",
    }
    for bad in ({}, {"since": "yesterday"}):
        error = call(client, "post", f"{BASE}/subscriptions/{sub.pk}/recover", auth, bad, 400)
        assert list(error["error"]["fields"]) == ["since"]


# --- The delivery log ---------------------------------------------------------------------


@pytest.fixture
def log(client, auth, acme, loopback, receiver):
    """Two subscriptions; five snapshot events each wants, one test event: 11 deliveries."""
    a = Subscription.objects.get(pk=create(client, auth, receiver.url + "/a")["id"])
    b = Subscription.objects.get(pk=create(client, auth, receiver.url + "/b")["id"])
    base = timezone.now() - timedelta(hours=10)
    for i in range(5):
        event = events_publish(type=EventType.SNAPSHOT_COMPLETED, data={"n": i})
        event.deliveries.update(created_at=base + timedelta(hours=i))
    test = event_send_test(subscription=a)
    Delivery.objects.filter(pk=test.pk).update(
        status=Delivery.Status.FAILED, created_at=base + timedelta(hours=8)
    )
    return {"a": a, "b": b, "base": base, "test": test}


def ids(body: dict) -> list[int]:
    return [row["id"] for row in body["results"]]


def test_the_log_is_newest_first_and_filtered(client, auth, log):
    everything = call(client, "get", f"{BASE}/deliveries", auth)
    assert everything["count"] == 11
    times = [row["created_at"] for row in everything["results"]]
    assert times == sorted(times, reverse=True)
    assert everything["results"][0]["id"] == log["test"].pk

    def listed(query: str) -> dict:
        return call(client, "get", f"{BASE}/deliveries?{query}", auth)

    assert listed(f"subscription={log['b'].pk}")["count"] == 5
    assert {r["subscription"] for r in listed(f"subscription={log['b'].pk}")["results"]} == {
        log["b"].pk
    }
    assert ids(listed("status=failed")) == [log["test"].pk]
    assert ids(listed("event_type=webhook.test")) == [log["test"].pk]
    assert listed("event_type=snapshot.completed&status=pending")["count"] == 10
    assert ids(listed(f"msg_id={log['test'].msg_id}")) == [log["test"].pk]
    since = (log["base"] + timedelta(hours=3)).isoformat()
    until = (log["base"] + timedelta(hours=4)).isoformat()
    window = listed(f"since={since.replace('+', '%2B')}&until={until.replace('+', '%2B')}")
    assert window["count"] == 2
    assert {r["event"]["type"] for r in window["results"]} == {"snapshot.completed"}

    for query, name in [
        ("status=lost", "status"),
        ("event_type=nope", "event_type"),
        ("since=yesterday", "since"),
        ("subscription=x", "subscription"),
        ("order=asc", "order"),
        ("cursor=garbage", "cursor"),
        (f"since={until.replace('+', '%2B')}&until={since.replace('+', '%2B')}", "until"),
    ]:
        error = call(client, "get", f"{BASE}/deliveries?{query}", auth, status=400)["error"]
        assert list(error["fields"]) == [name], query


def test_the_log_pages_by_cursor_without_skipping_or_repeating(client, auth, log):
    everything = ids(call(client, "get", f"{BASE}/deliveries", auth))
    seen, pages = [], []
    url = f"{BASE}/deliveries?limit=4"
    while url:
        page = call(client, "get", url, auth)
        pages.append(page)
        seen += ids(page)
        url = page["next"]
    assert seen == everything and len(pages) == 3
    back = call(client, "get", pages[-1]["previous"], auth)
    assert ids(back) == ids(pages[1])
    assert pages[0]["previous"] is None and pages[0]["count"] == 11


def test_the_log_query_count_does_not_grow_with_the_page(client, auth, log):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        call(client, "get", f"{BASE}/deliveries?limit=2", auth)
    with CaptureQueriesContext(connection) as large:
        call(client, "get", f"{BASE}/deliveries?limit=11", auth)
    assert len(small) == len(large)


def test_redeliver_sends_the_same_webhook_id_again(
    client, auth, loopback, receiver, django_capture_on_commit_callbacks
):
    created = create(client, auth, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        sent = call(client, "post", f"{BASE}/subscriptions/{created['id']}/test", auth, status=202)
    with django_capture_on_commit_callbacks(execute=True):
        again = call(
            client, "post", f"{BASE}/deliveries/{sent['delivery_id']}/redeliver", auth, status=202
        )
    assert again["id"] == sent["delivery_id"] and again["msg_id"] == sent["msg_id"]
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == sent["msg_id"]
    assert first.body == second.body
    assert Webhook(created["secret"]).verify(second.body, second.headers)
    detail = call(client, "get", f"{BASE}/deliveries/{sent['delivery_id']}", auth)
    assert detail["status"] == "succeeded" and len(detail["log"]) == 2


def test_a_description_must_be_text_not_a_number(client, auth, loopback, receiver):
    body = call(
        client, "post", f"{BASE}/subscriptions", auth, {"url": receiver.url, "description": 0}, 400
    )
    assert body["error"]["fields"] == {"description": ["Not a valid string."]}


@pytest.mark.parametrize(
    "url",
    ["https://[fd]/hook", "https://example.org:65536/", "https://ex ample.org/", "http://k/|"],
)
def test_a_url_the_schema_does_not_describe_is_a_400_on_url(client, auth, url):
    body = call(client, "post", f"{BASE}/subscriptions", auth, {"url": url}, 400)
    assert body["error"]["fields"] == {
        "url": ["must be an http(s):// URL: a host, a port, a path (percent-encoded)"]
    }


def test_a_msg_id_longer_than_any_is_a_400(client, auth):
    body = call(client, "get", f"{BASE}/deliveries?msg_id={'0' * 41}", auth, status=400)
    assert body["error"]["fields"] == {"msg_id": ["must be at most 40 characters"]}
