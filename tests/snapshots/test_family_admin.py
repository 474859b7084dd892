"""The curators' family screens: edits re-assign at once, bad rules are refused,
and the popular models no family covers are listed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from registry.models import Family, FamilyMember, FamilyRule
from snapshots.models import FamilyRollup
from tests.factories import T0, days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(client):
    user = User.objects.create_user("cora", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="curator"))
    client.force_login(user)
    return user


@pytest.fixture
def board(db):
    """One family with one rule, and a latest snapshot with mapped and unmapped models."""
    Family.objects.all().delete()
    llama = Family.objects.create(slug="llama", name="Llama")
    FamilyRule.objects.create(family=llama, kind="author", pattern="meta-llama")
    # An older snapshot where "old/top" led: the view must use the latest one.
    published_snapshot([hub_record("old/top", downloads=10**9)], taken_at=T0 - days(1))
    snapshot = published_snapshot(
        [
            hub_record("meta-llama/Llama-3.1-8B", downloads=9000),
            hub_record("acme/widget", downloads=8000),
            hub_record("x/tune", downloads=7000, tags=["base_model:finetune:acme/widget"]),
            hub_record("secret/thing", downloads=6500, private=True),
            hub_record("y/tune", downloads=6000, tags=["base_model:meta-llama/Llama-3.1-8B"]),
            hub_record("z/other", downloads=5000),
        ]
    )
    return {"llama": llama, "snapshot": snapshot}


def family_of(hub_id: str) -> str | None:
    return (
        FamilyMember.objects.filter(model__hub_id=hub_id)
        .values_list("family__slug", flat=True)
        .first()
    )


def test_the_curator_group_may_edit_families_and_rules_and_view_memberships():
    perms = set(
        Group.objects.get(name="curator")
        .permissions.filter(content_type__app_label="registry")
        .values_list("codename", flat=True)
    )
    for model in ("family", "familyrule"):
        assert {f"{verb}_{model}" for verb in ("view", "add", "change", "delete")} <= perms
    assert "view_familymember" in perms
    assert not {"add_familymember", "change_familymember", "delete_familymember"} & perms


def test_the_unmapped_view_lists_popular_public_models_in_no_family(client, curator, board):
    response = client.get("/admin/registry/family/unmapped/")
    assert response.status_code == 200
    rows = response.context["rows"]
    # Llama and its finetune are mapped; the private model is never listed.
    assert [(r["observation"].rank, r["model"].hub_id) for r in rows] == [
        (2, "acme/widget"),
        (3, "x/tune"),
        (6, "z/other"),
    ]
    assert rows[1]["bases"] == ["acme/widget"]
    assert b"/admin/registry/familyrule/add/?kind=author&amp;pattern=acme" in response.content
    limited = client.get("/admin/registry/family/unmapped/?limit=1")
    assert [r["model"].hub_id for r in limited.context["rows"]] == ["acme/widget"]
    assert client.get("/admin/registry/family/unmapped/?limit=junk").status_code == 200


def test_adding_a_rule_in_the_admin_maps_models_and_rolls_up_at_once(client, curator, board):
    response = client.post(
        "/admin/registry/familyrule/add/",
        {
            "family": board["llama"].pk,
            "kind": "author",
            "pattern": "acme",
            "priority": 100,
            "is_active": "on",
        },  # fmt: skip
        follow=True,
    )
    assert response.status_code == 200
    assert "Families re-assigned" in response.content.decode()
    # The rule's model, and its finetune through the base_model link.
    assert family_of("acme/widget") == family_of("x/tune") == "llama"
    rollup = FamilyRollup.objects.get(snapshot=board["snapshot"], family=board["llama"])
    assert (rollup.members, rollup.downloads) == (4, 9000 + 8000 + 7000 + 6000)
    unmapped = client.get("/admin/registry/family/unmapped/")
    assert [r["model"].hub_id for r in unmapped.context["rows"]] == ["z/other"]


def test_a_new_family_with_an_inline_rule_applies_and_bad_regexes_are_refused(
    client, curator, board
):
    form = {
        "name": "Others",
        "slug": "others",
        "description": "",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-0-kind": "id_regex",
        "rules-0-pattern": "other(",
        "rules-0-priority": "100",
        "rules-0-is_active": "on",
    }
    refused = client.post("/admin/registry/family/add/", form)
    assert refused.status_code == 200
    assert "Not a valid regular expression" in refused.content.decode()
    assert not Family.objects.filter(slug="others").exists()
    client.post("/admin/registry/family/add/", {**form, "rules-0-pattern": "^z/oth"})
    assert family_of("z/other") == "others"
    assert FamilyRollup.objects.filter(snapshot=board["snapshot"], family__slug="others").exists()


def test_deleting_a_family_unmaps_its_models(client, curator, board):
    client.post(f"/admin/registry/family/{board['llama'].pk}/delete/", {"post": "yes"})
    assert not FamilyMember.objects.exists()
    assert not FamilyRollup.objects.exists()


def test_the_family_list_counts_members_and_rules_and_reassigns_on_demand(client, curator, board):
    FamilyMember.objects.all().delete()  # as if the assignment were stale
    listing = client.get("/admin/registry/family/")
    assert listing.status_code == 200
    assert listing.context["cl"].result_list[0].n_members == 0
    assert b"Popular models in no family" in listing.content
    response = client.post("/admin/registry/family/reassign/", follow=True)
    assert "Families re-assigned" in response.content.decode()
    listing = client.get("/admin/registry/family/")
    family = listing.context["cl"].result_list[0]
    assert (family.n_rules, family.n_members) == (1, 2)
    assert client.get("/admin/registry/familymember/?family__id__exact=1").status_code == 200


def test_the_unmapped_view_needs_the_view_permission_and_a_snapshot(client, curator):
    response = client.get("/admin/registry/family/unmapped/")
    assert b"No complete snapshot yet" in response.content
    user = User.objects.create_user("nobody", password="x", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/registry/family/unmapped/").status_code == 403
    assert client.post("/admin/registry/family/reassign/").status_code in (302, 403)
