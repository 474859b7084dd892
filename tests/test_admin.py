"""The curators' admin: providers, models, snapshots, and the curator group."""

import pytest
from django.contrib.auth.models import Group, Permission, User

from registry.models import HubModel, Provider
from snapshots.models import Snapshot
from tests.factories import hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(client):
    user = User.objects.create_user("cora", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="curator"))
    client.force_login(user)
    return user


def test_the_curator_group_holds_only_curation_permissions():
    perms = set(
        Group.objects.get(name="curator").permissions.values_list(
            "content_type__app_label", "codename"
        )
    )
    assert ("registry", "change_provider") in perms
    assert ("snapshots", "run_refresh") in perms
    assert ("registry", "change_plan") not in perms
    assert not any(app == "auth" for app, _ in perms)
    assert not any(
        code.startswith(("change_", "delete_")) and app == "snapshots" for app, code in perms
    )


def test_a_curator_browses_models_and_snapshots_but_cannot_edit_them(client, curator):
    snapshot = published_snapshot(hub_records(3))
    model = HubModel.objects.first()
    assert client.get("/admin/registry/hubmodel/?q=org1").status_code == 200
    assert (
        client.get("/admin/registry/hubmodel/?license_class__exact=permissive").status_code == 200
    )
    page = client.get(f"/admin/registry/hubmodel/{model.pk}/change/")
    assert page.status_code == 200 and b'name="hub_id"' not in page.content  # read-only
    listing = client.get("/admin/snapshots/snapshot/")
    assert listing.status_code == 200 and b"Refresh now" in listing.content
    detail = client.get(f"/admin/snapshots/snapshot/{snapshot.pk}/change/")
    assert detail.status_code == 200 and b'name="status"' not in detail.content
    assert client.post(f"/admin/snapshots/snapshot/{snapshot.pk}/delete/").status_code == 403
    assert client.get("/admin/registry/plan/1/change/").status_code == 200  # view only
    assert client.post("/admin/registry/plan/1/change/", {"name": "Hacked"}).status_code == 403


def test_changing_a_providers_aliases_repoints_its_models_at_once(client, curator):
    published_snapshot([hub_record("acme-ai/one"), hub_record("acme-labs/two")])
    response = client.post(
        "/admin/registry/provider/add/",
        {
            "slug": "acme",
            "name": "Acme",
            "website": "",
            "aliases-TOTAL_FORMS": "2",
            "aliases-INITIAL_FORMS": "0",
            "aliases-0-author": "acme-ai",
            "aliases-1-author": "ACME-LABS",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    acme = Provider.objects.get(slug="acme")
    assert set(acme.models.values_list("hub_id", flat=True)) == {"acme-ai/one", "acme-labs/two"}
    client.post(f"/admin/registry/provider/{acme.pk}/delete/", {"post": "yes"})
    assert not HubModel.objects.filter(provider__isnull=False, author__startswith="acme").exists()


def test_refresh_now_takes_a_snapshot(
    client, curator, replay_hub, settings, django_capture_on_commit_callbacks
):
    hub = replay_hub(hub_records(8))
    settings.HF_ENDPOINT = hub.url
    settings.HOT_TIER_SIZE = 8
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = client.post("/admin/snapshots/snapshot/refresh/", follow=True)
    assert queued, "the refresh is queued on commit"
    assert b"Refresh queued" in response.content
    snapshot = Snapshot.objects.get()
    assert snapshot.status == Snapshot.Status.COMPLETE and snapshot.models_seen == 8


def test_someone_without_the_permission_cannot_start_a_refresh(client):
    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_snapshot"))
    client.force_login(user)
    assert b"Refresh now" not in client.get("/admin/snapshots/snapshot/").content
    response = client.post("/admin/snapshots/snapshot/refresh/", follow=True)
    assert b"may not start a refresh" in response.content
    assert not Snapshot.objects.exists()
