"""Cursor pagination of /api/v4/models: every sort walks without gaps or repeats."""

from __future__ import annotations

import base64
import json

import pytest

from snapshots.filters import SORT_CHOICES
from tests.api.callers import on_plan
from tests.factories import T0, days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db


def get(client, url: str, status: int = 200, **kwargs) -> tuple[dict, object]:
    response = client.get(url, **kwargs)
    assert response.status_code == status, response.content
    return json.loads(response.content), response


@pytest.fixture
def board():
    """23 models with many ties and unknowns in every sortable figure.

    15 are in the baseline a day before; the other 8 are new, with unknown
    deltas. Downloads, likes, trending scores and modification times repeat.
    """

    def record(i: int, *, later: bool) -> dict:
        return hub_record(
            f"org{i % 4}/model-{i:02d}",
            downloads=(i % 5) * 100 + (7 if later and i % 2 else 0),
            likes=i % 3,
            trendingScore=None if i % 4 == 0 else (i % 6) / 2,
            lastModified=None if i % 5 == 0 else f"2026-02-0{1 + i % 3}T10:00:00.000Z",
        )

    published_snapshot([record(i, later=False) for i in range(15)], taken_at=T0)
    return published_snapshot([record(i, later=True) for i in range(23)], taken_at=T0 + days(1))


def walk(client, first_url: str, **kwargs) -> list[list[str]]:
    pages = []
    url = first_url
    while url:
        body, response = get(client, url, **kwargs)
        pages.append([m["id"] for m in body["results"]])
        url = body["next"]
        assert (body["next"] is not None) == ('rel="next"' in response.get("Link", ""))
    return pages


@pytest.mark.parametrize("sort", SORT_CHOICES)
def test_it_walks_every_sort_without_gaps_or_repeats(client, board, sort):
    pro = on_plan("pro")  # sorting by delta_7d is premium
    everything, _ = get(client, f"/api/v4/models?sort={sort}&limit=100", **pro)
    expected = [m["id"] for m in everything["results"]]
    assert len(expected) == 23

    pages = walk(client, f"/api/v4/models?sort={sort}&limit=4", **pro)
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 3]
    assert [model for page in pages for model in page] == expected

    # And back again from the last page, through the `previous` links.
    url = get(client, f"/api/v4/models?sort={sort}&limit=4", **pro)[0]["next"]
    for _ in range(4):
        url = get(client, url, **pro)[0]["next"]
    backwards = []
    while url:
        body, response = get(client, url, **pro)
        backwards.insert(0, [m["id"] for m in body["results"]])
        url = body["previous"]
        assert (url is not None) == ('rel="prev"' in response.get("Link", ""))
    assert backwards == pages


def test_the_order_is_the_sort_then_the_id_with_unknowns_last(client, board):
    body, _ = get(client, "/api/v4/models?sort=-trending_score&limit=100")
    scores = [(m["trending_score"], m["id"]) for m in body["results"]]
    known = [s for s in scores if s[0] is not None]
    assert scores[len(known) :] == sorted(s for s in scores if s[0] is None)
    assert known == sorted(known, key=lambda s: (-s[0], s[1]))


def test_it_filters_as_it_pages(client, board):
    pages = walk(client, "/api/v4/models?sort=-downloads&limit=2&new=24h")
    assert sum(len(page) for page in pages) == 8
    body, _ = get(client, "/api/v4/models?sort=-downloads&limit=2&new=24h")
    assert body["count"] == 8


def test_the_links_keep_the_other_parameters(client, board):
    body, response = get(client, "/api/v4/models?sort=likes&limit=5&min_downloads=100")
    assert body["next"].startswith("http://testserver/api/v4/models?cursor=")
    assert body["next"].endswith("&limit=5&min_downloads=100&sort=likes")
    assert response["Link"] == f'<{body["next"]}>; rel="next"'
    second, response = get(client, body["next"])
    assert response["Link"] == f'<{second["next"]}>; rel="next", <{second["previous"]}>; rel="prev"'


def cursor_of(url: str) -> str:
    return url.split("cursor=")[1].split("&")[0]


def test_it_refuses_a_cursor_made_for_another_sort(client, board):
    body, _ = get(client, "/api/v4/models?sort=-likes&limit=5")
    error, _ = get(client, f"/api/v4/models?sort=likes&cursor={cursor_of(body['next'])}", 400)
    assert error["error"] == {
        "code": "invalid_parameter",
        "message": "Invalid value for 'cursor': this cursor is for sort=-likes, not sort=likes; "
        "start again without a cursor",
        "fields": {
            "cursor": [
                "this cursor is for sort=-likes, not sort=likes; start again without a cursor"
            ]
        },
    }


def test_it_refuses_a_cursor_from_an_older_snapshot(client, board):
    body, _ = get(client, "/api/v4/models?limit=5")
    newer = published_snapshot([hub_record("late/arrival")], taken_at=T0 + days(2))
    error, _ = get(client, f"/api/v4/models?cursor={cursor_of(body['next'])}", 400)
    assert error["error"]["fields"]["cursor"] == [
        f"this cursor is for snapshot {board.pk}, not snapshot {newer.pk}; "
        "start again without a cursor"
    ]


def forged(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def bound(pk: int, *rest) -> str:
    return forged([{"snapshot": pk, "sort": "rank", "profile": "community"}, *rest])


@pytest.mark.parametrize(
    "make",
    [
        lambda pk: "garbage",
        lambda pk: "%%%",
        lambda pk: "x" * 2000,
        lambda pk: forged({"snapshot": pk}),
        lambda pk: forged([{}, "n", 1, "a/b"]),
        lambda pk: bound(pk, "x", 1, "a/b"),  # no such direction
        lambda pk: bound(pk, "n", "one", "a/b"),  # a rank is a number
        lambda pk: bound(pk, "n", True, "a/b"),
        lambda pk: bound(pk, "n", 1, ["a/b"]),  # the id is text
        lambda pk: bound(pk, "n", 1),
    ],
)
def test_it_refuses_garbled_cursors_by_name(client, board, make):
    error, _ = get(client, f"/api/v4/models?cursor={make(board.pk)}", 400)
    assert error["error"]["code"] == "invalid_parameter"
    assert error["error"]["fields"] == {
        "cursor": ["not a cursor from this list; follow the 'next' or 'previous' link as given"]
    }


def test_a_well_formed_cursor_is_followed_wherever_it_points(client, board):
    good = bound(board.pk, "n", 20, "zzz")
    body, _ = get(client, f"/api/v4/models?cursor={good}")
    assert [m["rank"] for m in body["results"]] == [21, 22, 23]


def test_the_page_size_is_capped_by_plan(client, board):
    body, _ = get(client, "/api/v4/models")
    assert body["limit"] == 100
    error, _ = get(client, "/api/v4/models?limit=101", 403)
    assert error["error"] == {
        "code": "plan_required",
        "message": "A page of 101 models needs the pro plan (you are on free).",
    }
    error, _ = get(client, "/api/v4/models?limit=501", 403, **on_plan("pro"))
    assert "needs the enterprise plan (you are on pro)" in error["error"]["message"]
    # No plan to name beyond the largest page any plan allows: say what that is.
    error, _ = get(client, "/api/v4/models?limit=1001", 400, **on_plan("enterprise"))
    assert error["error"]["fields"] == {"limit": ["must be an integer from 1 to 1000"]}
    body, _ = get(client, "/api/v4/models?limit=1000", **on_plan("enterprise"))
    assert body["limit"] == 1000 and body["count"] == 23


def test_a_plan_with_small_pages_gets_them_by_default(client, board):
    body, response = get(client, "/api/v4/models", **on_plan("pro", max_page_size=10))
    assert body["limit"] == 10 and len(body["results"]) == 10
    # Not free's answer to the same URL: stored for pro only.
    assert response["Cache-Control"] == "private, max-age=60"
    body, response = get(client, "/api/v4/models")
    assert body["limit"] == 100 and response["X-Cache"] == "MISS"


def test_it_answers_an_empty_board_with_no_links(client):
    published_snapshot([hub_record("only/one")], taken_at=T0)
    body, response = get(client, "/api/v4/models?search=nothing")
    assert (body["count"], body["results"], body["next"], body["previous"]) == (0, [], None, None)
    assert "Link" not in response
