"""API keys: stored hashed, shown once, known by their prefix, revoked, refused with 401."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from api import gate
from api.models import ApiKey, key_prefix
from api.services import api_key_create, api_key_revoke
from registry.models import Organization, Plan
from tests.factories import hub_record, published_snapshot

pytestmark = pytest.mark.django_db

URL = "/api/v4/tags"
KEY_FORMAT = re.compile(r"^mb_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def org():
    return Organization.objects.create(name="Acme", slug="acme", plan=Plan.objects.get(slug="pro"))


def bearer(plaintext: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def error_of(response) -> dict:
    return json.loads(response.content)["error"]


def test_a_new_key_is_kept_only_as_its_hash(org):
    key, plaintext = api_key_create(organization=org, name="nightly")
    assert KEY_FORMAT.match(plaintext)
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.prefix == plaintext[:11] == key_prefix(plaintext)
    assert stored.secret_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    secret = plaintext[12:]
    assert not any(secret in str(value) for value in vars(stored).values())
    other, other_plaintext = api_key_create(organization=org, name="second")
    assert other.prefix != key.prefix and other_plaintext != plaintext


def test_it_serves_a_key_on_its_organizations_plan(client, org):
    key, plaintext = api_key_create(organization=org, name="nightly")
    response = client.get(URL, **bearer(plaintext))
    assert response.status_code == 200
    assert response["X-Plan"] == "pro"
    also = client.get(URL, HTTP_X_API_KEY=plaintext)
    assert also.status_code == 200 and also["X-Plan"] == "pro"
    assert client.get(URL)["X-Plan"] == "free"  # no key: anonymous


@pytest.mark.parametrize(
    "presented",
    [
        "mb_nothere1_" + "x" * 43,  # our format, no such key
        "not-a-key",
        "",
    ],
)
def test_it_refuses_a_key_it_does_not_know_with_401(client, org, presented):
    response = client.get(URL, **bearer(presented))
    assert response.status_code == 401
    assert error_of(response) == {
        "code": "invalid_api_key",
        "message": "The API key is unknown, revoked or expired.",
    }
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response["Content-Type"] == "application/json"


def test_it_refuses_a_known_prefix_with_the_wrong_secret(client, org):
    _, plaintext = api_key_create(organization=org, name="nightly")
    forged = plaintext[:12] + ("A" if plaintext[12] != "A" else "B") + plaintext[13:]
    assert client.get(URL, **bearer(forged)).status_code == 401
    assert client.get(URL, **bearer(plaintext)).status_code == 200


def test_a_revoked_key_is_refused_at_once(client, org, django_capture_on_commit_callbacks):
    key, plaintext = api_key_create(organization=org, name="nightly")
    assert client.get(URL, **bearer(plaintext)).status_code == 200  # now in the gate's memo
    with django_capture_on_commit_callbacks(execute=True):
        assert api_key_revoke(key=key) is True
    assert key.revoked_at is not None
    response = client.get(URL, **bearer(plaintext))
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_api_key"
    assert api_key_revoke(key=key) is False  # already revoked


def test_other_processes_notice_a_revocation_within_the_memo_period(client, org, settings):
    key, plaintext = api_key_create(organization=org, name="nightly")
    assert client.get(URL, **bearer(plaintext)).status_code == 200
    # Revoked elsewhere: this process's memo is not told.
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    assert client.get(URL, **bearer(plaintext)).status_code == 200
    settings.API_KEY_CACHE_SECONDS = 0  # the memo period has passed
    assert client.get(URL, **bearer(plaintext)).status_code == 401


def test_an_expired_key_is_refused(client, org):
    _, plaintext = api_key_create(
        organization=org, name="old", expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client.get(URL, **bearer(plaintext)).status_code == 401
    _, fresh = api_key_create(
        organization=org, name="new", expires_at=timezone.now() + timedelta(days=1)
    )
    assert client.get(URL, **bearer(fresh)).status_code == 200


def test_it_records_the_last_use_at_most_once_a_minute(client, org):
    key, plaintext = api_key_create(organization=org, name="nightly")
    assert key.last_used_at is None
    client.get(URL, **bearer(plaintext))
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    gate.forget()  # as if the memo had expired: the key is read again
    client.get(URL, **bearer(plaintext))
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    gate.forget()
    client.get(URL, **bearer(plaintext))
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


def test_a_remembered_key_costs_no_query(client, org, django_assert_num_queries):
    published_snapshot([hub_record("acme/one")])
    _, plaintext = api_key_create(organization=org, name="nightly")
    client.get(URL, **bearer(plaintext))
    client.get(URL, **bearer(plaintext))  # the response is cached now
    with django_assert_num_queries(0):
        assert client.get(URL, **bearer(plaintext))["X-Cache"] == "HIT"


# --- In the admin ----------------------------------------------------------------


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client


def test_the_admin_makes_a_key_and_shows_it_once(admin_client, org):
    response = admin_client.post(
        "/admin/api/apikey/add/", {"organization": org.pk, "name": "dashboard", "expires_at": ""}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    shown = re.search(rb'value="(mb_[^"]+)"', response.content).group(1).decode()
    key = ApiKey.objects.get()
    assert key.name == "dashboard" and key.organization == org
    assert (
        key.prefix == shown[:11] and key.secret_hash == hashlib.sha256(shown.encode()).hexdigest()
    )
    # Not in a message for the next page, nor anywhere after.
    for url in ("/admin/api/apikey/", f"/admin/api/apikey/{key.pk}/change/"):
        page = admin_client.get(url)
        assert page.status_code == 200
        assert key.prefix.encode() in page.content and shown[12:].encode() not in page.content
    assert admin_client.get(URL, **bearer(shown))["X-Plan"] == "pro"


def test_the_admin_lists_searches_filters_and_revokes_keys(admin_client, org):
    live, live_plaintext = api_key_create(organization=org, name="live")
    other = Organization.objects.create(
        name="Other", slug="other", plan=Plan.objects.get(slug="free")
    )
    other_key, _ = api_key_create(organization=other, name="theirs")
    listing = admin_client.get("/admin/api/apikey/?q=acme")
    assert (
        live.prefix.encode() in listing.content and other_key.prefix.encode() not in listing.content
    )
    assert b"pro" in listing.content
    response = admin_client.post(
        "/admin/api/apikey/",
        {"action": "revoke", "_selected_action": [live.pk]},
        follow=True,
    )
    assert b"1 key(s) revoked." in response.content
    assert ApiKey.objects.get(pk=live.pk).revoked_at is not None
    assert ApiKey.objects.get(pk=other_key.pk).revoked_at is None
    revoked = admin_client.get("/admin/api/apikey/?status=revoked")
    assert live.prefix.encode() in revoked.content
    assert other_key.prefix.encode() not in revoked.content
    assert admin_client.get(URL, **bearer(live_plaintext)).status_code == 401


def test_the_organization_page_lists_its_keys(admin_client, org):
    key, _ = api_key_create(organization=org, name="nightly")
    page = admin_client.get(f"/admin/registry/organization/{org.pk}/change/")
    assert page.status_code == 200 and key.prefix.encode() in page.content


def test_the_free_plan_is_edited_but_not_renamed_or_deleted(admin_client):
    free = Plan.objects.get(slug="free")
    page = admin_client.get(f"/admin/registry/plan/{free.pk}/change/")
    assert b'name="slug"' not in page.content and b'name="rate_limit_per_minute"' in page.content
    assert (
        admin_client.post(f"/admin/registry/plan/{free.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    form = {
        "name": "Free",
        "rate_limit_per_minute": 0,
        "max_page_size": 100,
        "filter_depth": 3,
        "export_rows": 1000,
        "webhook_endpoints": 1,
        "webhook_concurrency": 1,
    }
    refused = admin_client.post(f"/admin/registry/plan/{free.pk}/change/", form)
    assert refused.status_code == 200 and b"Must be at least 1" in refused.content
    assert Plan.objects.get(pk=free.pk).rate_limit_per_minute == 60
    saved = admin_client.post(
        f"/admin/registry/plan/{free.pk}/change/", {**form, "rate_limit_per_minute": 30}
    )
    assert saved.status_code == 302
    assert Plan.objects.get(pk=free.pk).rate_limit_per_minute == 30
    assert admin_client.get(URL)["X-RateLimit-Limit"] == "30"  # applied at once


def test_curators_do_not_handle_api_keys(client, org):
    cora = User.objects.create_user("cora", password="x", is_staff=True)
    cora.groups.add(Group.objects.get(name="curator"))
    client.force_login(cora)
    assert client.get("/admin/api/apikey/").status_code == 403
    assert client.get("/admin/api/apikey/add/").status_code == 403
