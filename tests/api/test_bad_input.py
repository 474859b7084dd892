"""Input no database can hold is a 400 in the API's error format, never a 500.

PostgreSQL refuses NUL in text, and text that is not UTF-8 (a percent-encoded
surrogate such as %ED%A0%80) cannot even be sent to it. Every text parameter of
every GET endpoint, v3 and v4, is tried with such values; and every list's
cursor is tampered with (other JSON shapes, other kinds, numbers no column
holds, NUL and surrogates inside) while keeping the binding to its list, so
the tampered values reach as far as a query would take them.
"""

from __future__ import annotations

import base64
import json
import runpy
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings

from api.query import MAX_QUERY_LENGTH
from registry.models import Family, FamilyRule, Organization
from tests.api.callers import on_plan
from tests.api.test_schemathesis import generated_schema
from tests.factories import T0, hub_record, published_snapshot

pytestmark = pytest.mark.django_db

# What a path's parameters are filled with: a model, a family and ids that exist or not
# (the query string is refused before any of them is looked up).
PATH_VALUES = {"hub_id": "acme/one", "slug": "acme", "subscription_id": "1", "delivery_id": "1"}
V3_GETS = {"/api/v3/leaderboard": ["limit", "offset"], "/api/v3/models/{hub_id}": []}


def get_operations() -> dict[str, list[str]]:
    """Every GET endpoint (v4 as its schema lists them, and v3) with its query parameters."""
    found = dict(V3_GETS)
    for path, operations in generated_schema()["paths"].items():
        if "get" in operations and not path.endswith(("/schema/", "/docs/")):
            found[path] = [
                p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "query"
            ]
    return found


OPERATIONS = get_operations()
BAD_VALUES = {
    "nul": "%00",
    "nul-inside": "chat%00code",
    "surrogate": "%ED%A0%80",  # U+D800 as UTF-8 would spell it: not UTF-8
    "overlong-nul": "%C0%80",
    "not-utf8": "%FF",
}


@pytest.fixture
def board(settings):
    """One snapshot of two models, and a family of them."""
    settings.RATE_LIMIT_ENABLED = False
    family = Family.objects.create(slug="acme", name="Acme")
    FamilyRule.objects.create(family=family, kind="author", pattern="acme")
    return published_snapshot(
        [hub_record("acme/one", downloads=900), hub_record("acme/two", downloads=800)],
        taken_at=T0,
    )


@pytest.fixture
def enterprise() -> dict:
    """An API key that may do everything, so that requests get as far as they can."""
    return on_plan("enterprise")


def url_for(path: str, query: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace(f"{{{name}}}", value)
    return f"{path}?{query}"


@pytest.mark.parametrize("value", list(BAD_VALUES.values()), ids=list(BAD_VALUES))
@pytest.mark.parametrize("path", list(OPERATIONS))
def test_text_no_database_holds_is_a_400_naming_the_parameter(
    client, board, enterprise, path, value
):
    # Each of the endpoint's own parameters, and one it does not take.
    for name in [*OPERATIONS[path], "other"]:
        response = client.get(url_for(path, f"{name}={value}"), **enterprise)
        assert response.status_code == 400, (name, response.content)
        assert response["Content-Type"] == "application/json"
        error = json.loads(response.content)["error"]
        assert error["code"] == "invalid_parameter"
        assert list(error["fields"]) == [name]
        assert error["message"].startswith(f"Invalid value for '{name}': must ")


def test_a_parameter_name_with_nul_is_refused_too(client, board):
    response = client.get("/api/v4/models?sort=rank&a%00b=1")
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["fields"] == {
        "a\x00b": ["must not contain NUL characters"]
    }


def test_text_that_is_fine_still_passes(client, board):
    # The check reads the bytes as sent: UTF-8 beyond ASCII, '+' and escapes are text.
    response = client.get("/api/v4/models?search=%C3%BCn+i")
    assert response.status_code == 200, response.content
    assert json.loads(response.content)["count"] == 0


# --- Cursors ---------------------------------------------------------------------------


def cursor(payload) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def lists(board) -> dict[str, tuple[str, dict, object, object]]:
    """Each cursor-paged list: its URL, the binding its cursors carry, a real key (value, tie)."""
    organization = Organization.objects.get(slug="org-enterprise")
    anomaly_filters = ("profile", "metric", "model", "snapshot", "since", "until")
    time = "2026-03-02T12:00:00+00:00"
    return {
        "models": (
            "/api/v4/models",
            {
                "snapshot": board.pk,
                "sort": "rank",
                "profile": django_settings.SCORING_DEFAULT_PROFILE,
            },
            1,
            "acme/one",
        ),
        "models-by-time": (
            "/api/v4/models?sort=-last_modified",
            {
                "snapshot": board.pk,
                "sort": "-last_modified",
                "profile": django_settings.SCORING_DEFAULT_PROFILE,
            },
            time,
            "acme/one",
        ),
        "snapshots": ("/api/v4/snapshots", {"status": "complete"}, time, board.pk),
        "families": ("/api/v4/families", {"snapshot": board.pk}, 900, 1),
        "family-members": (
            "/api/v4/families/acme",
            {"snapshot": board.pk, "family": "acme"},
            1,
            "acme/one",
        ),
        "anomalies": (
            "/api/v4/anomalies",
            {name: "" for name in anomaly_filters},
            ["2026-03-02", 4.5],
            1,
        ),
        "deliveries": (
            "/api/v4/webhooks/deliveries",
            {"organization": organization.pk},
            time,
            1,
        ),
    }


BIG = 10**40
TAMPERED = {
    # Other JSON shapes.
    "an-object": lambda b, v, t: {"a": 1},
    "too-short": lambda b, v, t: [b, "n", v],
    "no-binding": lambda b, v, t: [[], "n", v, t],
    "other-direction": lambda b, v, t: [b, "sideways", v, t],
    "not-json": lambda b, v, t: b"\xff\xfe not json",
    "nested-deep": lambda b, v, t: ("[" * 300 + "]" * 300).encode(),
    # Other kinds.
    "value-text": lambda b, v, t: [b, "n", "x", t],
    "value-list": lambda b, v, t: [b, "n", [], t],
    "value-bool": lambda b, v, t: [b, "n", True, t],
    "tie-list": lambda b, v, t: [b, "n", v, []],
    "tie-other-kind": lambda b, v, t: [b, "n", v, "x" if isinstance(t, int) else 7],
    # Numbers no column holds.
    "value-huge": lambda b, v, t: [b, "n", BIG, t],
    "value-huge-negative": lambda b, v, t: [b, "n", -BIG, t],
    "tie-huge": lambda b, v, t: [b, "n", v, BIG],
    "value-infinite": lambda b, v, t: json.dumps([b, "n", 0, t]).replace("0,", "1e999,").encode(),
    "value-nan": lambda b, v, t: json.dumps([b, "n", 0, t]).replace("0,", "NaN,").encode(),
    "in-a-list-huge": lambda b, v, t: [b, "n", ["2026-03-02", BIG], t],
    # Times at the calendar's edge, which leave it once in UTC.
    "time-before-year-1": lambda b, v, t: [b, "n", "0001-01-01T00:00:00+14:00", t],
    "time-after-9999": lambda b, v, t: [b, "n", "9999-12-31T23:59:59-14:00", t],
    # Text no database holds.
    "tie-nul": lambda b, v, t: [b, "n", v, "acme/\u0000"],
    "tie-surrogate": lambda b, v, t: [b, "n", v, "\ud800"],
    "value-nul": lambda b, v, t: [b, "n", "\u0000", t],
    "value-surrogate": lambda b, v, t: [b, "n", "\udfff", t],
    "binding-surrogate": lambda b, v, t: [{k: "\ud800" for k in b}, "n", v, t],
    "binding-nul": lambda b, v, t: [{k: "\u0000" for k in b}, "n", v, t],
}


@pytest.mark.parametrize("which", list(TAMPERED))
def test_a_tampered_cursor_is_a_400_naming_it(client, board, enterprise, which):
    for name, (url, binding, value, tie) in lists(board).items():
        join = "&" if "?" in url else "?"
        # The untampered key is taken as it is: the binding is the list's own.
        genuine = client.get(
            f"{url}{join}cursor={cursor([binding, 'n', value, tie])}", **enterprise
        )
        assert genuine.status_code == 200, (name, genuine.content)
        tampered = cursor(TAMPERED[which](binding, value, tie))
        response = client.get(f"{url}{join}cursor={quote(tampered)}", **enterprise)
        assert response.status_code == 400, (name, response.content)
        error = json.loads(response.content)["error"]
        assert error["code"] == "invalid_parameter", name
        assert list(error["fields"]) == ["cursor"], name


# --- Over-long query strings ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v4/models", "/api/v4/webhooks/deliveries", "/api/v3/leaderboard"]
)
def test_a_query_string_over_the_limit_is_a_json_414(client, board, path):
    query = "search=" + "a" * (MAX_QUERY_LENGTH - len("search="))
    # At the limit the endpoint reads it (and says what is wrong with it) …
    at_limit = client.get(f"{path}?{query}")
    assert at_limit.status_code != 414
    # … one character more, and it is refused before any parameter is read.
    response = client.get(f"{path}?{query}a")
    assert response.status_code == 414
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "error": {
            "code": "query_too_long",
            "message": f"The query string is {MAX_QUERY_LENGTH + 1} characters; the API "
            f"reads at most {MAX_QUERY_LENGTH}. Ask for fewer values at once.",
        }
    }


def test_the_limit_counts_characters_as_sent(client, board):
    # 'ü' is sent as %C3%BC: six characters of query string, not one.
    assert client.get("/api/v4/models?search=" + "%C3%BC" * 1000).status_code == 414
    assert client.get("/api/v4/models?search=" + "%C3%BC" * 990).status_code == 400  # > 100 chars


def test_gunicorn_reads_request_lines_longer_than_the_api_s_limit():
    config = runpy.run_path(str(Path(django_settings.BASE_DIR) / "deploy" / "gunicorn.conf.py"))
    # The method, a path of a few hundred characters and the protocol fit beside the query.
    assert config["limit_request_line"] >= MAX_QUERY_LENGTH + 1000


def test_the_server_s_whole_application_refuses_them_too(board, front):
    # Through the response cache in front of Django, as a server runs it.
    status, headers, body = front("/api/v4/anomalies?model=%00")
    assert status == 400 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["fields"] == {"model": ["must not contain NUL characters"]}
    status, _, body = front("/api/v4/models?search=" + "a" * MAX_QUERY_LENGTH)
    assert status == 414
    assert json.loads(body)["error"]["code"] == "query_too_long"
