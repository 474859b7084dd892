"""Every /api/v4 operation, called with generated input, answers as the schema says.

schemathesis calls the WSGI application a server runs (the response cache in
front of Django included) and runs all its checks on every answer: no 5xx,
and no status code, content type, header or body the schema does not
describe. Bounded and derandomized, so the run is the same each time.
"""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import schemathesis
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.query import MAX_QUERY_LENGTH
from registry.wsgi import application
from snapshots.filters import LeaderboardFilter, data_dependent
from tests.api.wsgi import wsgi_app  # noqa: F401  (a fixture)
from tests.factories import api_key, days, hub_record, published_snapshot
from webhooks import ssrf

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


@pytest.fixture(params=["anonymous", "enterprise"])
def caller(request, monkeypatch, settings) -> dict:
    """Headers of the caller: anonymous (on free), or an enterprise organization's key.

    With the key, the webhook operations do their work: subscriber URLs
    resolve, without any lookup, to loopback, which is allowed (and http://
    with it, as on a development server).
    """
    if request.param == "anonymous":
        return {}
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_REQUIRE_HTTPS = False

    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port or 443))]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", resolve)
    return {"Authorization": f"Bearer {api_key('enterprise')}"}


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_the_schema_says(case, board, caller, wsgi_app):  # noqa: F811
    # Bodies are checked as JSON: compression has tests of its own.
    excluded = []
    if says_nothing_of_validity(case.query or {}):
        # A cursor is opaque: only one the API gave is valid; tags, providers,
        # licenses, profiles … are valid when the catalog has them. No schema can list
        # either, and a value the API does not know is a 400 naming what it
        # takes (tests/api/test_v4_filters.py, test_v4_pagination.py). Every
        # other check still runs on those answers.
        excluded.append(positive_data_acceptance)
    headers = {"Accept-Encoding": "identity", **caller}
    case.call_and_validate(headers=headers, excluded_checks=excluded)


# The widest a character of a value can be once percent-encoded: an unreserved
# ASCII character as it is, other ASCII as %XX, anything as up to four %XX.
UNRESERVED_ONLY = re.compile(r"\^\[[-A-Za-z0-9_]+\]\+\$")


def widest(schema: dict) -> int:
    """The most characters a value of `schema` can take in a query string."""
    if "enum" in schema:
        return max(len(quote(str(value), safe="")) for value in schema["enum"])
    if schema.get("type") == "integer":
        return 20
    if schema.get("format") in ("date", "date-time"):
        return 3 * 40
    assert "maxLength" in schema, f"a text parameter without a maxLength: {schema}"
    pattern = schema.get("pattern")
    per_character = 12 if pattern is None else 1 if UNRESERVED_ONLY.fullmatch(pattern) else 3
    return schema["maxLength"] * per_character


def test_no_schema_valid_query_string_is_too_long():
    # Every parameter of an operation at its widest still fits the API's limit,
    # so a 414 only ever answers a request the schema does not allow.
    for path, operations in generated_schema()["paths"].items():
        for method, operation in operations.items():
            query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
            width = sum(len(p["name"]) + 2 + widest(p["schema"]) for p in query)
            assert width <= MAX_QUERY_LENGTH, (method, path, width)


def test_the_schema_describes_limits_and_cursors_as_the_server_reads_them():
    document = generated_schema()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "414" in operation["responses"], (method, path)
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "limit":
                    assert parameter["schema"]["maximum"] == 1000, path
                if parameter["name"] == "cursor":
                    assert parameter["schema"]["pattern"] == "^[A-Za-z0-9_-]+$", path
                if parameter["name"] == "profile":
                    assert parameter["schema"]["pattern"] == "^[-A-Za-z0-9_]+$", path
    # Request bodies take only their members (another is a 400 unknown_parameter).
    components = document["components"]["schemas"]
    for name in ("SubscriptionCreateRequest", "PatchedSubscriptionChangeRequest"):
        assert components[name]["additionalProperties"] is False, name


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
