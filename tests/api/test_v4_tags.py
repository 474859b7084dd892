"""/api/v4/tags: the curated tags in order, with how many public models carry each."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tagging.models import Tag
from tagging.services import tags_apply
from tests.factories import hub_record, published_snapshot

pytestmark = pytest.mark.django_db


def test_it_lists_the_seeded_tags_in_curated_order_with_model_counts(client):
    published_snapshot(
        [
            hub_record("acme/chatty", pipeline_tag="text-generation"),
            hub_record("acme/talker", pipeline_tag="text-generation"),
            hub_record("acme/hidden", pipeline_tag="text-generation", private=True),
            hub_record("acme/embedder", pipeline_tag="feature-extraction", tags=[]),
        ]
    )
    tags_apply()
    response = client.get("/api/v4/tags")
    assert response.status_code == 200
    body = json.loads(response.content)
    slugs = [row["slug"] for row in body["results"]]
    assert slugs == list(Tag.objects.order_by("position", "name").values_list("slug", flat=True))
    assert body["count"] == len(slugs) >= 8
    chat = next(row for row in body["results"] if row["slug"] == "chat")
    seeded = Tag.objects.get(slug="chat")
    # The private model carries the tag but is never counted in public.
    assert chat == {
        "slug": "chat",
        "name": seeded.name,
        "description": seeded.description,
        "model_count": 2,
    }
    assert {row["slug"]: row["model_count"] for row in body["results"]}["speech"] == 0


def test_it_lists_tags_in_a_constant_number_of_queries(client):
    for n in range(5):
        Tag.objects.create(slug=f"extra-{n}", name=f"Extra {n}")
    published_snapshot([hub_record("acme/chatty")])
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/v4/tags").status_code == 200
    assert len(captured) == 2  # the version memo, then the tags with their counts


def test_it_refuses_parameters(client):
    response = client.get("/api/v4/tags?slug=chat")
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["code"] == "unknown_parameter"
