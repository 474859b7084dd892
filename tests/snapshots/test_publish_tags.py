"""Capability tags on publish: decided again only for models new or changed in the catalog."""

import pytest
from django.db import transaction

from registry.models import HubModel
from snapshots import services
from snapshots.models import Snapshot
from tagging.models import ModelTag, Tag, TagOverride, TagRule
from tests.factories import T0, days, hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def robotics():
    """A tag of our own with one rule: pipeline tag "robotics" (no seeded rule matches it)."""
    tag = Tag.objects.create(slug="robotics", name="Robotics")
    TagRule.objects.create(tag=tag, kind=TagRule.Kind.PIPELINE_TAG, value="robotics")
    return tag


def tags_of(hub_id: str) -> dict[str, str]:
    return dict(ModelTag.objects.filter(model__hub_id=hub_id).values_list("tag__slug", "source"))


def test_a_new_model_gets_its_tags_on_publish(robotics):
    published_snapshot([hub_record("acme/arm", pipeline_tag="robotics")])
    assert tags_of("acme/arm")["robotics"] == ModelTag.Source.RULE


def test_a_model_whose_catalog_changed_gets_its_tags_decided_again(robotics):
    published_snapshot([hub_record("acme/arm", pipeline_tag="text-generation")])
    assert "robotics" not in tags_of("acme/arm")
    published_snapshot(
        [hub_record("acme/arm", pipeline_tag="robotics", sha="b" * 40)], taken_at=T0 + days(1)
    )
    assert tags_of("acme/arm")["robotics"] == ModelTag.Source.RULE
    published_snapshot(
        [hub_record("acme/arm", pipeline_tag="text-generation", sha="c" * 40)],
        taken_at=T0 + days(2),
    )
    assert "robotics" not in tags_of("acme/arm")


def test_a_model_whose_catalog_did_not_change_keeps_its_tags_as_they_were(robotics):
    published_snapshot([hub_record("acme/arm")])
    # An override added without re-applying: applying it is the admin's re-apply's job.
    TagOverride.objects.create(
        tag=robotics,
        model=HubModel.objects.get(hub_id="acme/arm"),
        action=TagOverride.Action.INCLUDE,
    )
    published_snapshot([hub_record("acme/arm", downloads=5000)], taken_at=T0 + days(1))
    assert "robotics" not in tags_of("acme/arm")  # only its metrics moved: not decided again
    published_snapshot([hub_record("acme/arm", sha="d" * 40)], taken_at=T0 + days(2))
    assert tags_of("acme/arm")["robotics"] == ModelTag.Source.OVERRIDE


def test_publish_applies_tags_to_exactly_the_models_created_or_changed(monkeypatch):
    records = hub_records(6)
    published_snapshot(records)
    calls = []
    monkeypatch.setattr(services, "tags_apply", lambda **kwargs: calls.append(kwargs))
    records[2] = {**records[2], "library_name": "peft"}
    records[4] = {**records[4], "likes": 999}  # a metric, not the catalog
    published_snapshot([*records, hub_record("new/one")], taken_at=T0 + days(1))
    expected = set(
        HubModel.objects.filter(hub_id__in=["new/one", records[2]["id"]]).values_list(
            "pk", flat=True
        )
    )
    assert len(calls) == 1 and set(calls[0]["model_ids"]) == expected
    assert len(calls[0]["model_ids"]) == 2


def test_publish_skips_tags_when_nothing_in_the_catalog_changed(monkeypatch):
    records = hub_records(4)
    published_snapshot(records)
    calls = []
    monkeypatch.setattr(services, "tags_apply", lambda **kwargs: calls.append(kwargs))
    published_snapshot(records, taken_at=T0 + days(1))
    assert calls == []


def test_publish_without_touched_ids_decides_every_model_of_the_snapshot(robotics):
    published_snapshot(
        [hub_record("acme/arm", pipeline_tag="robotics"), hub_record("acme/leg")], taken_at=T0
    )
    ModelTag.objects.all().delete()
    snapshot = Snapshot.objects.get()
    snapshot.status = Snapshot.Status.RUNNING
    snapshot.save(update_fields=["status"])
    with transaction.atomic():
        services.snapshot_publish(snapshot=snapshot)
    assert tags_of("acme/arm")["robotics"] == ModelTag.Source.RULE
    assert Snapshot.objects.get().status == Snapshot.Status.COMPLETE
