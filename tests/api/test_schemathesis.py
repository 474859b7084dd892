"""Every /api/v4 operation, called with generated input, answers as the schema says.

schemathesis calls the WSGI application a server runs (the response cache in
front of Django included) and runs all its checks on every answer: no 5xx,
and no status code, content type, header or body the schema does not
describe. Bounded and derandomized, so the run is the same each time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import schemathesis
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from registry.wsgi import application
from snapshots.filters import LeaderboardFilter, data_dependent
from tests.api.wsgi import wsgi_app  # noqa: F401  (a fixture)
from tests.factories import days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db


def generated_schema() -> dict:
    """The document /api/v4/schema/ serves, as JSON types."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


schema = schemathesis.openapi.from_dict(generated_schema())
SAYS_NOTHING_OF_VALIDITY = [
    "cursor",
    "profile",  # the curated ones and an organization's own: the catalog's
    *(name for name in LeaderboardFilter.base_filters if data_dependent(name)),
]
schema.app = application


def _moment(raw: str) -> datetime:
    moment = datetime.fromisoformat(raw)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def says_nothing_of_validity(query: dict) -> bool:
    """Whether the schema cannot tell if this query is valid (see schemathesis.toml)."""
    if any(query.get(name) for name in SAYS_NOTHING_OF_VALIDITY):
        return True
    # OpenAPI has no constraint between two parameters: `until` before
    # `since` is a 400 naming 'until' (anomalies, the delivery log).
    since, until = query.get("since"), query.get("until")
    if isinstance(since, str) and isinstance(until, str) and since and until:
        try:
            return _moment(until) < _moment(since)
        except ValueError:
            return False
    return False


@pytest.fixture
def board(settings):
    """Two snapshots a day apart, the latest fresh (so health answers 200, not 503)."""
    settings.RATE_LIMIT_ENABLED = False
    now = timezone.now()
    published_snapshot(
        [
            hub_record("acme/one", downloads=900),
            hub_record("acme/two", downloads=800, pipeline_tag="feature-extraction"),
            hub_record("gpt2", downloads=700),
        ],
        taken_at=now - days(1),
    )
    return published_snapshot(
        [
            hub_record("acme/one", downloads=1900, likes=12),
            hub_record("acme/two", downloads=700, downloadsAllTime=None, safetensors=None),
            hub_record("gpt2", downloads=750),
            hub_record("google-bert/bert-base-uncased", downloads=5000),
            hub_record("zoë/ünïcode-model", downloads=10),
        ],
        taken_at=now,
    )


def test_the_schema_served_is_the_one_tested(client):
    response = client.get("/api/v4/schema/?format=json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert json.loads(response.content) == generated_schema()


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_the_schema_says(case, board, wsgi_app):  # noqa: F811
    # Bodies are checked as JSON: compression has tests of its own.
    excluded = []
    if says_nothing_of_validity(case.query or {}):
        # A cursor is opaque: only one the API gave is valid; tags, providers,
        # licenses, profiles … are valid when the catalog has them. No schema can list
        # either, and a value the API does not know is a 400 naming what it
        # takes (tests/api/test_v4_filters.py, test_v4_pagination.py). Every
        # other check still runs on those answers.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers={"Accept-Encoding": "identity"}, excluded_checks=excluded)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v4/models/acme%00one",
        "/api/v4/models/%00",
        "/api/v4/models/" + "a" * 5000,
        "/api/v4/models/zo%C3%AB/%C3%BCn",
        "/api/v3/models/acme%00one",
        "/models/acme%00one",
    ],
)
def test_ids_no_model_can_have_are_not_found_not_a_server_error(client, board, path):
    # PostgreSQL refuses NUL in text: such an id used to reach the query and fail there.
    assert client.get(path).status_code == 404
