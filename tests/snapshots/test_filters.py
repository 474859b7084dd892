"""snapshots.filters.LeaderboardFilter: each filter, combinations, sorts, bad values."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from snapshots.filters import (
    FILTER_NAMES,
    LeaderboardFilter,
    ValuesFilter,
    filter_form,
    filter_options,
    sort_named,
)
from snapshots.selectors import leaderboard_rows
from tests.api.boards import catalog_board

pytestmark = pytest.mark.django_db

LLAMA = "meta-llama/Llama-3.1-8B"
MISTRAL = "mistralai/Mistral-7B-v0.1"
BERT = "google-bert/bert-base-uncased"
GEMMA = "google/gemma-2-2b-it"
QWEN = "Qwen/Qwen2.5-Coder-7B"


@pytest.fixture
def board():
    return catalog_board()


def apply(board, query: str, cls=LeaderboardFilter) -> LeaderboardFilter:
    return cls(QueryDict(query), queryset=leaderboard_rows(snapshot=board))


def ids(board, query: str) -> list[str]:
    filterset = apply(board, query)
    assert filterset.is_valid(), filterset.problems()
    return [o.model.hub_id for o in filterset.qs]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [LLAMA, MISTRAL, BERT, GEMMA, QWEN]),
        ("search=mistral", [MISTRAL]),
        ("tag=chat", [LLAMA, MISTRAL, GEMMA, QWEN]),
        ("tag=chat,code", [LLAMA, QWEN]),
        ("tag=code&tag=chat", [LLAMA, QWEN]),
        ("provider=qwen", [QWEN]),
        ("provider=google,,qwen,", [BERT, GEMMA, QWEN]),  # empty items are dropped
        ("license=apache-2.0", [MISTRAL, BERT]),
        ("license_class=non-commercial", [QWEN]),
        ("param_class=8-15B", [LLAMA]),
        ("pipeline_tag=text-generation", [LLAMA, MISTRAL, GEMMA, QWEN]),
        ("library=keras", [GEMMA]),
        ("library=transformers&provider=google", [BERT]),
        ("min_downloads=400000", [LLAMA, MISTRAL]),
        ("new=24h", [QWEN]),
        ("new=", [LLAMA, MISTRAL, BERT, GEMMA, QWEN]),
        ("tag=&provider=&search=", [LLAMA, MISTRAL, BERT, GEMMA, QWEN]),
    ],
)
def test_each_filter(board, query, expected):
    assert ids(board, query) == expected


def test_the_default_order_is_rank_then_id(board):
    filterset = apply(board, "")
    filterset.is_valid()
    assert filterset.ordering == sort_named("rank")
    assert str(filterset.qs.query).endswith(
        '"rank" ASC NULLS LAST, "registry_hubmodel"."hub_id" ASC'
    )


def test_sorts_are_named_by_the_row_fields_with_a_minus_for_descending(board):
    sort = sort_named("-delta_24h")
    assert (sort.field, sort.descending, sort.key, sort.kind) == (
        "delta_downloads_24h",
        True,
        "delta_24h",
        int,
    )
    assert sort_named("last_modified").kind is str and sort_named("trending_score").kind is float
    assert ids(board, "sort=-delta_24h") == [BERT, LLAMA, MISTRAL, GEMMA, QWEN]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("tag=chat,nope", "tag", "unknown tag 'nope'; allowed: chat, reasoning"),
        ("provider=x,y", "provider", "unknown providers 'x', 'y'; allowed: baai"),
        ("license=gpl", "license", "unknown license 'gpl'; allowed: apache-2.0, cc-by-nc-4.0"),
        ("library=jax", "library", "unknown library 'jax'; allowed: keras, transformers"),
        ("min_downloads=1.5", "min_downloads", "must be a whole number from 0"),
        ("min_downloads=" + "9" * 20, "min_downloads", "too large"),
        ("new=1d", "new", "must be one of: 24h, 7d"),
        ("sort=-name", "sort", "must be one of: rank, -rank, downloads"),
    ],
)
def test_bad_values_say_what_is_allowed(board, query, field, message):
    filterset = apply(board, query)
    assert not filterset.is_valid()
    problems = filterset.problems()
    assert list(problems) == [field]
    assert problems[field][0].startswith(message)


def test_it_counts_filters_and_premium_ones_but_not_the_sort(board):
    filterset = apply(board, "tag=chat,code&provider=meta&license=mit&sort=-delta_7d&limit=5")
    assert filterset.used_filters() == ["tag", "provider", "license"]
    assert filterset.premium_used() == ["license", "sort=-delta_7d"]
    assert apply(board, "sort=delta_7d").used_filters() == []
    assert apply(board, "tag=&search=").used_filters() == []


def test_it_normalizes_lists_and_order_so_equal_questions_look_equal(board):
    one = apply(board, "sort=-likes&tag=chat&tag=code&provider=meta")
    other = apply(board, "provider=meta&tag=chat,code&sort=-likes&page=3")
    assert (
        one.normalized()
        == other.normalized()
        == [
            ("tag", "chat,code"),
            ("provider", "meta"),
            ("sort", "-likes"),
        ]
    )


def test_it_reads_the_catalog_only_for_the_parameters_given(board, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert apply(board, "license_class=permissive&param_class=<1B").is_valid()
    with django_assert_num_queries(1):
        assert apply(board, "tag=chat,code").is_valid()


def test_one_more_filter_is_one_line(board):
    class WithAuthor(LeaderboardFilter):
        author = ValuesFilter(
            field_name="model__author", allowed=lambda: ["google", "google-bert"], noun="author"
        )

    filterset = apply(board, "author=google-bert", cls=WithAuthor)
    assert filterset.is_valid()
    assert [o.model.hub_id for o in filterset.qs] == [BERT]
    assert "author" not in FILTER_NAMES and "author" in WithAuthor.base_filters


def test_the_form_shows_the_values_given_and_the_options(board):
    filterset = apply(board, "tag=code&sort=-likes&param_class=huge&license=mit")
    filterset.is_valid()
    form = filter_form(filterset, filter_options())
    fields = {field["name"]: field for field in form["fields"]}
    assert ("code", "Code", True) in fields["tag"]["options"]
    assert fields["tag"]["options"][0] == ("", "Any", False)
    assert fields["sort"]["options"][0] == ("rank", "Rank", False)
    assert ("-likes", "Likes", True) in fields["sort"]["options"]
    assert fields["param_class"]["invalid"] and not fields["tag"]["invalid"]
    assert fields["param_class"]["options"][-1] == ("huge", "huge", True)
    assert form["hidden"] == [("license", "mit")]
