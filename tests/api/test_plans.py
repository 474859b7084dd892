"""A request beyond the caller's plan is refused with 403 naming the plan it needs."""

from __future__ import annotations

import json

import pytest
from django.forms.models import model_to_dict
from rest_framework.test import APIRequestFactory

from api import gate
from api.access import Caller, caller_for, plan_required
from api.errors import ApiError
from api.services import api_key_create
from registry.models import Family, FamilyRule, Organization, Plan
from tests.factories import T0, api_key, days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs():
    for i in range(3):
        published_snapshot([hub_record("acme/one")], taken_at=T0 + days(i))


def key_on(plan: str) -> dict:
    org = Organization.objects.create(
        name=f"Org {plan}", slug=f"org-{plan}", plan=Plan.objects.get(slug=plan)
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(organization=org, name='k')[1]}"}


def test_a_page_beyond_the_free_plan_names_the_plan_that_allows_it(client, runs):
    response = client.get("/api/v4/snapshots?limit=200")
    assert response.status_code == 403
    assert response["X-Plan"] == "free"
    assert json.loads(response.content) == {
        "error": {
            "code": "plan_required",
            "message": "A page of 200 snapshots needs the pro plan (you are on free).",
        }
    }
    assert client.get("/api/v4/snapshots?limit=100").status_code == 200


def test_a_key_on_a_bigger_plan_gets_the_bigger_page(client, runs):
    response = client.get("/api/v4/snapshots?limit=200", **key_on("pro"))
    assert response.status_code == 200 and response["X-Plan"] == "pro"
    assert json.loads(response.content)["limit"] == 200


def test_a_refusal_is_not_served_to_another_plan_from_the_cache(client, runs):
    assert client.get("/api/v4/snapshots?limit=200").status_code == 403
    pro = key_on("pro")
    assert client.get("/api/v4/snapshots?limit=200", **pro).status_code == 200
    assert client.get("/api/v4/snapshots?limit=200").status_code == 403


def test_the_plan_named_follows_the_curators_figures(client, runs):
    Plan.objects.filter(slug="pro").update(max_page_size=150)
    gate.forget()
    message = json.loads(client.get("/api/v4/snapshots?limit=200").content)["error"]["message"]
    assert message == "A page of 200 snapshots needs the enterprise plan (you are on free)."


def test_plan_required_names_the_cheapest_plan_that_passes():
    free = Caller(plan=Plan.objects.get(slug="free"), ident="ip:1.2.3.4")
    plan_required(free, feature="Listing", test=lambda plan: True)  # allowed: no error
    with pytest.raises(ApiError) as refused:
        plan_required(free, feature="Priority delivery", test=lambda plan: plan.priority_delivery)
    assert refused.value.status_code == 403 and refused.value.error_code == "plan_required"
    assert refused.value.message == "Priority delivery needs the enterprise plan (you are on free)."
    with pytest.raises(ApiError) as nowhere:
        plan_required(free, feature="Time travel", test=lambda plan: False)
    assert nowhere.value.message == "Time travel needs a plan that allows it (you are on free)."


def test_caller_for_gives_the_gate_s_caller_or_an_anonymous_one():
    request = APIRequestFactory().get("/anything", REMOTE_ADDR="192.0.2.7")
    caller = caller_for(request)
    assert caller.anonymous and caller.plan.slug == "free" and caller.ident == "ip:192.0.2.7"
    assert caller_for(request) is caller


# --- Plan edits and the response cache ------------------------------------------------
# On Redis (REDIS_URL) as served, else on the embedded cache: the keys are the same.

BIG_PAGE = "/api/v4/models?limit=400"  # within pro's 500


@pytest.fixture
def board():
    return published_snapshot([hub_record("acme/one"), hub_record("acme/two")])


def test_a_plan_edit_retires_answers_cached_under_the_old_figures(client, board):
    pro = key_on("pro")
    assert client.get(BIG_PAGE, **pro)["X-Cache"] == "MISS"
    cached = client.get(BIG_PAGE, **pro)
    assert cached.status_code == 200 and cached["X-Cache"] == "HIT"
    plan = Plan.objects.get(slug="pro")
    plan.max_page_size = 300
    plan.save()
    refused = client.get(BIG_PAGE, **pro)
    assert refused.status_code == 403
    assert json.loads(refused.content)["error"]["message"] == (
        "A page of 400 models needs the enterprise plan (you are on pro)."
    )
    # Back to the old figures: what was computed under them is good again.
    plan.max_page_size = 500
    plan.save()
    again = client.get(BIG_PAGE, **pro)
    assert again.status_code == 200 and again["X-Cache"] == "HIT"


def test_a_plan_edited_in_the_admin_is_applied_at_once(client, admin_user, board):
    pro = key_on("pro")
    client.get(BIG_PAGE, **pro)
    assert client.get(BIG_PAGE, **pro)["X-Cache"] == "HIT"
    plan = Plan.objects.get(slug="pro")
    form = {k: v for k, v in model_to_dict(plan).items() if k != "id"}
    client.force_login(admin_user)
    edited = client.post(f"/admin/registry/plan/{plan.pk}/change/", {**form, "max_page_size": 300})
    assert edited.status_code == 302
    assert Plan.objects.get(slug="pro").max_page_size == 300
    refused = client.get(BIG_PAGE, **pro)
    assert refused.status_code == 403 and refused["X-Plan"] == "pro"


def test_a_plan_edit_is_applied_in_front_of_django_too(front, board):
    pro = key_on("pro")
    front(BIG_PAGE, **pro)  # Django learns the key, the wrapper stores the answer
    status, headers, _ = front(BIG_PAGE, **pro)
    assert status == 200 and headers["X-Cache"] == "HIT"
    calls = len(front.django_calls)
    plan = Plan.objects.get(slug="pro")
    plan.max_page_size = 300
    plan.save()
    status, headers, body = front(BIG_PAGE, **pro)
    assert status == 403 and json.loads(body)["error"]["code"] == "plan_required"
    assert len(front.django_calls) == calls + 1  # Django decided, with the new figures


def test_the_cache_key_names_the_plan_and_changes_with_its_figures():
    plan = Plan.objects.get(slug="pro")
    before = gate.plan_cache_key(plan)
    assert before.startswith("pro:") and gate.plan_cache_key(plan) == before
    edited = Plan.objects.get(slug="pro")
    edited.filter_depth += 1
    assert gate.plan_cache_key(edited) != before
    assert gate.plan_cache_key(Plan.objects.get(slug="pro")) == before  # same figures, same key


# --- Every list applies the plan's page size alike -------------------------------------


def list_paths() -> list[str]:
    """The v4 GET operations that page (they take `limit`), as the schema lists them."""
    from tests.api.test_schemathesis import generated_schema

    return sorted(
        path
        for path, operations in generated_schema()["paths"].items()
        if any(p["name"] == "limit" for p in operations.get("get", {}).get("parameters", []))
    )


LIST_PATHS = list_paths()


def test_every_cursor_paged_list_is_in_the_plan_test():
    assert LIST_PATHS == [
        "/api/v4/anomalies",
        "/api/v4/families",
        "/api/v4/families/{slug}",
        "/api/v4/models",
        "/api/v4/snapshots",
        "/api/v4/webhooks/deliveries",
    ]


@pytest.fixture
def family_board(runs):
    family = Family.objects.create(slug="acme", name="Acme")
    FamilyRule.objects.create(family=family, kind="author", pattern="acme")


@pytest.mark.parametrize("path", LIST_PATHS)
def test_every_list_refuses_a_page_beyond_the_free_plan(client, family_board, path):
    url = path.replace("{slug}", "acme")
    # Anonymous callers are on free; the delivery log needs a key (of a free organization).
    caller = {"HTTP_AUTHORIZATION": f"Bearer {api_key('free')}"} if "webhooks" in path else {}
    free = Plan.objects.get(slug="free").max_page_size
    assert free == 100

    response = client.get(f"{url}?limit={free + 1}", **caller)
    assert response.status_code == 403, response.content
    error = json.loads(response.content)["error"]
    assert error["code"] == "plan_required"
    assert error["message"].startswith(f"A page of {free + 1} ")
    assert error["message"].endswith(" needs the pro plan (you are on free).")

    response = client.get(f"{url}?limit={free}", **caller)
    assert response.status_code == 200, response.content
    assert json.loads(response.content)["limit"] == free


def test_a_page_beyond_every_plan_says_the_largest_any_plan_allows(client, runs):
    response = client.get("/api/v4/snapshots?limit=1001")
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["fields"] == {
        "limit": ["must be an integer from 1 to 1000"]
    }
    # Curators lowered every plan below the ceiling: no plan to name, so say the most there is.
    Plan.objects.filter(slug="enterprise").update(max_page_size=600)
    gate.forget()
    response = client.get("/api/v4/snapshots?limit=800")
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == {
        "code": "invalid_parameter",
        "message": "Invalid value for 'limit': must be an integer from 1 to 600, "
        "the largest page any plan allows",
        "fields": {"limit": ["must be an integer from 1 to 600, the largest page any plan allows"]},
    }
    # Within some plan's page: the plan to move to is named.
    response = client.get("/api/v4/snapshots?limit=550")
    assert response.status_code == 403
    assert "needs the enterprise plan" in json.loads(response.content)["error"]["message"]
