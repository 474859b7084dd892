"""/api/v4/profiles, and `?profile=` with custom profiles gated by plan."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIRequestFactory

from api.access import Caller
from api.services import api_key_create
from api.v4.profiles import resolve_profile
from registry.models import Organization, Plan
from snapshots.models import ScoringProfile

pytestmark = pytest.mark.django_db


def caller_of(plan: str, organization: Organization | None = None) -> Caller:
    """A Caller as the gate leaves it, for resolve_profile itself."""
    return Caller(
        plan=Plan.objects.get(slug=plan),
        ident="key:test",
        api_key_id=1 if organization else None,
        organization_id=organization.pk if organization else None,
    )


def caller(plan: str, organization: Organization | None = None) -> dict:
    """Headers of a caller on `plan`: a key of `organization` (its plan set), or anonymous."""
    if organization is None:
        return {}
    Organization.objects.filter(pk=organization.pk).update(plan=Plan.objects.get(slug=plan))
    organization.refresh_from_db()
    return {
        "HTTP_AUTHORIZATION": f"Bearer {api_key_create(organization=organization, name='t')[1]}"
    }


def get(client, url: str, who: dict | None = None, status: int = 200) -> dict:
    response = client.get(url, **(who or {}))
    assert response.status_code == status, response.content
    return json.loads(response.content)


@pytest.fixture
def acme():
    org = Organization.objects.create(name="Acme", slug="acme", plan=Plan.objects.get(slug="pro"))
    ScoringProfile.objects.create(
        slug="acme-fresh", name="Acme fresh", organization=org, weight_recency=100, position=1
    )
    return org


def test_it_lists_the_curated_profiles_with_weights_and_thresholds(client, acme):
    body = get(client, "/api/v4/profiles")
    assert [p["slug"] for p in body["results"]] == ["research", "production", "community"]
    production = body["results"][1]
    assert production == {
        "slug": "production",
        "name": "Production",
        "description": "Proven adoption and a license you can ship.",
        "custom": False,
        "weights": {
            "downloads": 35,
            "likes": 10,
            "downloads_growth": 10,
            "likes_growth": 0,
            "recency": 10,
            "trending": 5,
            "license": 30,
        },
        "anomaly_thresholds": {"z": 5.0, "min_downloads": 10000, "min_likes": 50},
    }
    assert all(sum(p["weights"].values()) == 100 for p in body["results"])


def test_an_organization_sees_its_own_profiles_too(client, acme):
    body = get(client, "/api/v4/profiles", caller("pro", acme))
    assert [p["slug"] for p in body["results"]][-1] == "acme-fresh"
    assert body["results"][-1]["custom"] is True
    other = Organization.objects.create(name="Other", slug="other", plan=acme.plan)
    body = get(client, "/api/v4/profiles", caller("pro", other))
    assert "acme-fresh" not in [p["slug"] for p in body["results"]]


def test_it_refuses_parameters(client):
    body = get(client, "/api/v4/profiles?x=1", status=400)
    assert body["error"]["code"] == "unknown_parameter"


def resolve(query: str, who: Caller):
    from rest_framework.request import Request

    return resolve_profile(Request(APIRequestFactory().get("/api/v4/models" + query)), who)


def test_curated_profiles_are_free_and_custom_ones_need_a_plan(acme):
    assert resolve("?profile=community", caller_of("free")).slug == "community"
    assert resolve("", caller_of("free")) is None
    assert resolve("?profile=acme-fresh", caller_of("pro", acme)).slug == "acme-fresh"
    acme.plan = Plan.objects.get(slug="free")
    from api.errors import ApiError

    with pytest.raises(ApiError) as refused:
        resolve("?profile=acme-fresh", caller_of("free", acme))
    assert refused.value.status_code == 403 and refused.value.error_code == "plan_required"
    assert "needs the pro plan (you are on free)" in refused.value.message
    # Another organization's profile does not exist as far as others know.
    with pytest.raises(ApiError) as unknown:
        resolve("?profile=acme-fresh", caller_of("enterprise"))
    assert unknown.value.status_code == 400
    assert "no profile 'acme-fresh'; choose one of: research, production, community" in (
        unknown.value.message
    )
