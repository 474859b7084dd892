"""/api/v4/models filters and sorts: values, combinations, errors, plan gating."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.v4.filtering import LIST_MAX_LENGTH
from tests.api.boards import catalog_board
from tests.api.callers import on_plan

pytestmark = pytest.mark.django_db

LLAMA = "meta-llama/Llama-3.1-8B"
MISTRAL = "mistralai/Mistral-7B-v0.1"
BERT = "google-bert/bert-base-uncased"
GEMMA = "google/gemma-2-2b-it"
QWEN = "Qwen/Qwen2.5-Coder-7B"


@pytest.fixture
def board():
    return catalog_board()


def get(client, query: str, status: int = 200, **kwargs) -> dict:
    response = client.get(f"/api/v4/models?{query}", **kwargs)
    assert response.status_code == status, response.content
    return json.loads(response.content)


def ids(client, query: str, **kwargs) -> list[str]:
    body = get(client, query, **kwargs)
    assert body["count"] == len(body["results"])
    return [m["id"] for m in body["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [LLAMA, MISTRAL, BERT, GEMMA, QWEN]),
        ("tag=code", [LLAMA, QWEN]),
        ("tag=chat,code", [LLAMA, QWEN]),  # all of them
        ("tag=chat&tag=code", [LLAMA, QWEN]),  # repeated is the same
        ("provider=google", [BERT, GEMMA]),
        ("provider=meta,mistral", [LLAMA, MISTRAL]),  # any of them
        ("license_class=permissive", [MISTRAL, BERT]),
        ("license_class=open-weights,non-commercial", [LLAMA, GEMMA, QWEN]),
        ("param_class=3-8B", [MISTRAL, QWEN]),
        ("param_class=<1B,1-3B", [BERT, GEMMA]),
        ("pipeline_tag=fill-mask", [BERT]),
        ("search=GOOGLE", [BERT, GEMMA]),  # any case, anywhere in the id
        ("search=coder", [QWEN]),
        ("min_downloads=300000", [LLAMA, MISTRAL, BERT]),
        ("min_downloads=0", [LLAMA, MISTRAL, BERT, GEMMA, QWEN]),
        ("new=24h", [QWEN]),
        ("new=7d", []),  # no 7d baseline: nothing is known to be new
        ("provider=google&param_class=1-3B", [GEMMA]),
        ("tag=chat&license_class=permissive&min_downloads=1", [MISTRAL]),
    ],
)
def test_it_filters(client, board, query, expected):
    assert ids(client, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort=rank", [LLAMA, MISTRAL, BERT, GEMMA, QWEN]),
        ("sort=-rank", [QWEN, GEMMA, BERT, MISTRAL, LLAMA]),
        ("sort=downloads", [QWEN, GEMMA, BERT, MISTRAL, LLAMA]),
        ("sort=-likes", [LLAMA, MISTRAL, BERT, GEMMA, QWEN]),
        # Unknown deltas (QWEN is new) and trending scores (GEMMA) come last
        # in either direction.
        ("sort=-delta_24h", [BERT, LLAMA, MISTRAL, GEMMA, QWEN]),
        ("sort=delta_24h", [GEMMA, MISTRAL, LLAMA, BERT, QWEN]),
        ("sort=-trending_score", [QWEN, LLAMA, MISTRAL, BERT, GEMMA]),
        ("sort=trending_score", [BERT, MISTRAL, LLAMA, QWEN, GEMMA]),
    ],
)
def test_it_sorts_with_unknown_values_last(client, board, query, expected):
    body = get(client, query)
    assert [m["id"] for m in body["results"]] == expected
    assert body["sort"] == query.removeprefix("sort=")


def test_it_breaks_ties_by_id(client, board):
    # Every model has the same last modification time: the id decides.
    assert ids(client, "sort=-last_modified&provider=google,meta,mistral") == [
        BERT,
        GEMMA,
        LLAMA,
        MISTRAL,
    ]


def test_it_matches_values_case_insensitively(client, board):
    assert ids(client, "license_class=PERMISSIVE&provider=Mistral") == [MISTRAL]


@pytest.mark.parametrize(
    ("query", "name", "problem"),
    [
        (
            "license_class=free",
            "license_class",
            "unknown license class 'free'; allowed: permissive, copyleft, open-weights, "
            "non-commercial, unknown",
        ),
        (
            "param_class=7B",
            "param_class",
            "unknown parameter class '7B'; allowed: <1B, 1-3B, 3-8B, 8-15B, 15-40B, 40-100B, "
            "100B+, unknown",
        ),
        (
            "pipeline_tag=text-generation,chat,vision",
            "pipeline_tag",
            "unknown pipeline tags 'chat', 'vision'; allowed: fill-mask, text-generation",
        ),
        ("min_downloads=-1", "min_downloads", "must be a whole number from 0"),
        ("min_downloads=many", "min_downloads", "must be a whole number from 0"),
        ("new=yes", "new", "must be one of: 24h, 7d"),
        ("search=" + "x" * 101, "search", "at most 100 characters"),
        ("tag=" + ",".join(f"t{i}" for i in range(21)), "tag", "at most 20 values"),
    ],
)
def test_it_rejects_bad_values_naming_the_parameter_and_what_it_takes(
    client, board, query, name, problem
):
    error = get(client, query, status=400)["error"]
    assert error == {
        "code": "invalid_parameter",
        "message": f"Invalid value for '{name}': {problem}",
        "fields": {name: [problem]},
    }


def test_it_lists_the_tags_and_providers_it_knows(client, board):
    tag_error = get(client, "tag=chat,poetry", status=400)["error"]["fields"]["tag"][0]
    assert tag_error.startswith("unknown tag 'poetry'; allowed: chat, reasoning, code, ")
    provider_error = get(client, "provider=acme", status=400)["error"]["fields"]["provider"][0]
    assert provider_error.startswith("unknown provider 'acme'; allowed: baai, bfl, deepseek, ")


def test_it_rejects_a_bad_sort_with_the_sorts_it_takes(client, board):
    error = get(client, "sort=popularity", status=400)["error"]
    assert error["fields"] == {
        "sort": [
            "must be one of: rank, -rank, downloads, -downloads, likes, -likes, delta_24h, "
            "-delta_24h, delta_7d, -delta_7d, daily_downloads, -daily_downloads, "
            "weekly_downloads, -weekly_downloads, trending_score, -trending_score, last_modified, "
            "-last_modified, score, -score"
        ]
    }


def test_it_names_every_bad_parameter_at_once(client, board):
    error = get(client, "new=1&license_class=x&sort=up", status=400)["error"]
    assert set(error["fields"]) == {"new", "license_class", "sort"}
    assert error["message"].startswith("Invalid values for ")


# --- Plans -------------------------------------------------------------------------------


def test_free_combines_three_filters_and_no_more(client, board):
    three = "provider=google&param_class=1-3B&min_downloads=1"
    assert ids(client, three) == [GEMMA]
    error = get(client, three + "&search=gemma", status=403)["error"]
    assert error == {
        "code": "plan_required",
        "message": "Combining 4 filters (search, provider, param_class, min_downloads) needs "
        "the pro plan (you are on free).",
    }
    # Sorting and paging are not filters.
    assert ids(client, three + "&sort=-likes&limit=5") == [GEMMA]
    assert ids(client, three + "&search=gemma", **on_plan("pro")) == [GEMMA]


def test_a_list_of_values_counts_as_one_filter(client, board):
    assert ids(client, "provider=google,meta&param_class=1-3B,8-15B&tag=chat") == [LLAMA, GEMMA]


@pytest.mark.parametrize(
    ("query", "feature"),
    [
        ("license=apache-2.0", "The filter 'license'"),
        ("library=keras", "The filter 'library'"),
        ("sort=-delta_7d", "Sorting by -delta_7d"),
    ],
)
def test_premium_filters_need_a_plan_that_has_them(client, board, query, feature):
    error = get(client, query, status=403)["error"]
    assert error == {
        "code": "plan_required",
        "message": f"{feature} needs the pro plan (you are on free).",
    }


def test_premium_filters_work_on_pro(client, board):
    pro = on_plan("pro")
    assert ids(client, "license=apache-2.0", **pro) == [MISTRAL, BERT]
    assert ids(client, "license=GEMMA,llama3.1", **pro) == [LLAMA, GEMMA]
    assert ids(client, "library=keras", **pro) == [GEMMA]
    # Every 7d delta is unknown: by id.
    assert ids(client, "sort=-delta_7d&provider=google", **pro) == [BERT, GEMMA]
    error = get(client, "license=wtfpl", status=400, **pro)["error"]
    assert error["fields"]["license"] == [
        "unknown license 'wtfpl'; allowed: apache-2.0, cc-by-nc-4.0, gemma, llama3.1"
    ]


def test_a_plan_with_premium_filters_but_little_depth_is_still_held_to_it(client, board):
    narrow = on_plan("pro", filter_depth=3)
    four = "library=keras&tag=chat&provider=google&min_downloads=1"
    assert ids(client, "library=keras&tag=chat&provider=google", **narrow) == [GEMMA]
    error = get(client, four, status=403, **narrow)["error"]
    assert error["message"] == (
        "Combining 4 filters (tag, provider, library, min_downloads) needs the enterprise plan "
        "(you are on pro)."
    )


def test_answers_are_stored_per_plan_so_free_never_gets_a_paid_answer(client, board):
    pro = on_plan("pro")
    paid = client.get("/api/v4/models?library=keras", **pro)
    assert paid.status_code == 200 and paid["Cache-Control"] == "private, max-age=60"
    assert client.get("/api/v4/models?library=keras", **pro)["X-Cache"] == "HIT"
    assert client.get("/api/v4/models?library=keras").status_code == 403
    client.get("/api/v4/models?tag=chat", **pro)
    assert client.get("/api/v4/models?tag=chat")["X-Cache"] == "MISS"
    assert client.get("/api/v4/models?tag=chat")["X-Cache"] == "HIT"


def test_it_filters_in_a_constant_number_of_queries(client, board):
    query = "tag=chat,code&provider=meta,qwen&license_class=open-weights,non-commercial"
    with CaptureQueriesContext(connection) as captured:
        assert ids(client, query) == [LLAMA, QWEN]
    # Version memo, profile, snapshot, the allowed tags, providers (the license
    # classes are fixed), count, page, tags and anomalies of the page; the gate
    # knows the plan.
    assert len(captured) == 9


def test_the_filters_describe_themselves_for_the_schema():
    from api.v4.filtering import filter_parameters

    parameters = {p.name: p for p in filter_parameters()}
    assert list(parameters) == [
        "search",
        "tag",
        "provider",
        "family",
        "license_class",
        "license",
        "param_class",
        "pipeline_tag",
        "library",
        "min_downloads",
        "new",
        "sort",
    ]
    assert parameters["min_downloads"].type == {
        "type": "integer",
        "minimum": 0,
        "maximum": 10**15,
    }
    assert parameters["new"].type["enum"] == ["24h", "7d"]
    sorts = parameters["sort"].type["enum"]
    assert "-delta_7d" in sorts and "rank" in sorts
    assert parameters["search"].type == {"type": "string", "maxLength": 100}
    assert parameters["library"].description.endswith("Needs a plan with premium filters.")
    assert parameters["tag"].description.startswith(
        "Capability tag slugs; models having all of them. Comma-separated;"
    )

    # The patterns take what the FilterSet takes: any case, blanks, empty items.
    def matches(name: str, value: str) -> bool:
        return re.fullmatch(parameters[name].type["pattern"], value) is not None

    assert matches("license_class", "Permissive, copyleft,,")
    assert not matches("license_class", "permissive,\u3000copyleft")  # spaces only
    assert matches("param_class", "<1B,100B+")
    assert not matches("license_class", "permissivecopyleft")
    assert not matches("param_class", "7B")
    assert matches("tag", "chat,Code") and not matches("tag", "chat code")
    assert matches("license", "apache-2.0,cc-by-4.0") and not matches("license", "a\x00")
    assert all(
        parameters[name].type["maxLength"] == LIST_MAX_LENGTH
        for name in ("tag", "provider", "family", "license", "license_class", "param_class")
    )


def test_a_list_longer_than_the_schema_says_is_refused(client, board):
    body = get(client, "tag=" + "chat," * 30, status=400)
    assert body["error"]["fields"] == {"tag": [f"must be at most {LIST_MAX_LENGTH} characters"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("family=llama", [LLAMA]),
        ("family=qwen,gemma", [GEMMA, QWEN]),  # any of them, in rank order
        ("family=Mistral&family=llama", [LLAMA, MISTRAL]),  # case as the catalog has it
        ("family=phi", []),  # a family without a model in the snapshot
        ("family=llama&tag=code", [LLAMA]),
    ],
)
def test_it_filters_by_family(client, board, query, expected):
    assert ids(client, query) == expected


def test_an_unknown_family_is_a_400_listing_the_families(client, board):
    error = get(client, "family=llamas", status=400)["error"]
    assert error["fields"]["family"][0].startswith("unknown family 'llamas'; allowed: deepseek, ")
    assert "llama" in error["fields"]["family"][0]


def test_the_family_filter_is_free_and_counts_toward_the_filter_depth(client, board):
    assert ids(client, "family=llama&tag=code&provider=meta") == [LLAMA]
    body = get(client, "family=llama&tag=code&provider=meta&search=llama", status=403)
    assert body["error"]["message"] == (
        "Combining 4 filters (search, tag, provider, family) needs the pro plan (you are on free)."
    )
