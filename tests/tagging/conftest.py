"""Fixtures for tagging: a clean slate of rules, and models made through the real ingest."""

from __future__ import annotations

import pytest

from registry.models import HubModel
from tagging.models import ModelTag, Tag
from tests.factories import hub_record, published_snapshot


@pytest.fixture
def no_seeded_tags(db):
    """Tests of rule mechanics start from no tags and no rules (the seed is tested apart)."""
    Tag.objects.all().delete()  # rules, overrides and applied tags go with them


@pytest.fixture
def make_tag(db):
    def make(slug: str, *, position: int = 100) -> Tag:
        return Tag.objects.create(slug=slug, name=slug.replace("-", " ").title(), position=position)

    return make


@pytest.fixture
def make_models(db):
    """Publish one snapshot of these records (id -> fields); returns {hub_id: HubModel}."""

    def make(spec: dict[str, dict], **kwargs) -> dict[str, HubModel]:
        published_snapshot(
            [hub_record(hub_id, **fields) for hub_id, fields in spec.items()], **kwargs
        )
        # Publishing may apply tags itself; these tests decide when tags are applied.
        ModelTag.objects.all().delete()
        return {m.hub_id: m for m in HubModel.objects.filter(hub_id__in=spec)}

    return make
