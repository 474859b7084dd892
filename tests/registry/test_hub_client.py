"""HubClient against canned responses: paging, retries, waits, budget, headers."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from registry.hub import (
    BudgetExhausted,
    CallBudget,
    HubClient,
    HubError,
    ModelNotFound,
    RateLimited,
    RateLimitInfo,
    parse_link_header,
    parse_ratelimit,
    parse_retry_after,
)

HUB = "https://hub.test"
LIST_URL = f"{HUB}/api/models"
RATELIMIT = {
    "RateLimit": '"api";r=489;t=189',
    "RateLimit-Policy": '"fixed window";"api";q=500;w=300',
}


class TopOfRange(random.Random):
    """Full jitter picks uniformly in [0, ceiling]; this picks the ceiling, so waits are exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps) -> HubClient:
    return HubClient(endpoint=HUB, token="", sleep=sleeps, rng=TopOfRange())


def records(*ids: str) -> list[dict]:
    return [{"id": model_id, "downloads": 10} for model_id in ids]


def query_of(call: responses.Call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def serve_pages(pages: dict[str | None, tuple[list[dict], str | None]], **headers: str) -> None:
    """Answer /api/models by its cursor: ``{cursor: (records, Link header or None)}``."""

    def answer(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        cursor = parse_qs(urlsplit(request.url).query).get("cursor", [None])[0]
        body, link = pages[cursor]
        extra = {"Link": link} if link else {}
        return 200, {**headers, **extra}, json.dumps(body)

    responses.add_callback(responses.GET, LIST_URL, callback=answer)


# --------------------------------------------------------------------------- paging


@responses.activate
def test_it_pages_through_every_record_in_order(client: HubClient) -> None:
    page2 = f"{LIST_URL}?limit=2&cursor=c2"
    page3 = "/api/models?limit=2&cursor=c3"  # relative links resolve against the page URL
    serve_pages(
        {
            None: (records("a/1", "a/2"), f'<{LIST_URL}>; rel="first", <{page2}>; rel="next"'),
            "c2": (records("a/3", "a/4"), f'<{page3}>; rel="next"'),
            "c3": (records("a/5"), f'<{LIST_URL}>; rel="first"'),
        },
        **RATELIMIT,
    )

    pages = list(client.iter_model_pages(limit=2))

    assert [[r["id"] for r in page.records] for page in pages] == [
        ["a/1", "a/2"],
        ["a/3", "a/4"],
        ["a/5"],
    ]
    assert [page.next_url for page in pages] == [page2, f"{HUB}{page3}", None]
    assert pages[1].ratelimit == RateLimitInfo(489, 189, 500, 300, "api")
    assert [call.request.url for call in responses.calls][1:] == [page2, f"{HUB}{page3}"]
    assert client.calls_made == 3
    assert client.budget.used == 3


@responses.activate
def test_it_sends_sort_limit_and_repeated_expand_and_filter(client: HubClient) -> None:
    responses.get(LIST_URL, json=[])

    list(
        client.iter_model_pages(
            sort="trendingScore",
            limit=50,
            expand=["downloads", "likes", "sha"],
            filter=["text-generation", "license:mit"],
            search="llama",
            author="meta-llama",
        )
    )

    assert query_of(responses.calls[0]) == {
        "sort": ["trendingScore"],
        "direction": ["-1"],
        "limit": ["50"],
        "expand": ["downloads", "likes", "sha"],
        "filter": ["text-generation", "license:mit"],
        "search": ["llama"],
        "author": ["meta-llama"],
    }
    assert responses.calls[0].request.headers["User-Agent"] == "modelboard/0.1"


@responses.activate
def test_it_omits_sort_and_direction_when_sort_is_none(client: HubClient) -> None:
    responses.get(LIST_URL, json=[])

    list(client.iter_model_pages(sort=None, limit=10))

    assert query_of(responses.calls[0]) == {"limit": ["10"]}


@responses.activate
def test_it_stops_at_max_models_and_truncates_the_last_page(client: HubClient) -> None:
    page3 = f"{LIST_URL}?cursor=3"
    serve_pages(
        {
            None: (records("a/1", "a/2", "a/3"), f'<{LIST_URL}?cursor=2>; rel="next"'),
            "2": (records("a/4", "a/5", "a/6"), f'<{page3}>; rel="next"'),
            "3": (records("a/7"), None),
        }
    )

    pages = list(client.iter_model_pages(limit=3, max_models=5))

    assert [[r["id"] for r in page.records] for page in pages] == [
        ["a/1", "a/2", "a/3"],
        ["a/4", "a/5"],
    ]
    assert len(responses.calls) == 2  # page 3 is never fetched
    assert pages[-1].next_url == page3


@responses.activate
def test_it_asks_for_no_more_than_max_models(client: HubClient) -> None:
    responses.get(LIST_URL, json=records("a/1", "a/2"))

    pages = list(client.iter_model_pages(limit=1000, max_models=2))

    assert query_of(responses.calls[0])["limit"] == ["2"]
    assert sum(len(page.records) for page in pages) == 2


def test_it_makes_no_call_for_max_models_zero(client: HubClient) -> None:
    assert list(client.iter_model_pages(max_models=0)) == []
    assert client.calls_made == 0


@responses.activate
def test_it_refuses_a_pagination_loop(client: HubClient) -> None:
    loop = f'<{LIST_URL}?cursor=same>; rel="next"'
    serve_pages({None: (records("a/1"), loop), "same": (records("a/2"), loop)})

    with pytest.raises(HubError, match="pagination loop"):
        list(client.iter_model_pages())
    assert client.calls_made == 2


# --------------------------------------------------------------------------- retries and waits


@responses.activate
def test_it_honours_retry_after_seconds_on_429(client: HubClient, sleeps: Sleeps) -> None:
    responses.get(LIST_URL, status=429, headers={"Retry-After": "7", **RATELIMIT})
    responses.get(LIST_URL, json=records("a/1"))

    pages = list(client.iter_model_pages())

    assert sleeps == [7.0]
    assert [r["id"] for r in pages[0].records] == ["a/1"]
    assert client.calls_made == 2


@responses.activate
def test_it_honours_retry_after_as_an_http_date(client: HubClient, sleeps: Sleeps) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    responses.get(LIST_URL, status=429, headers={"Retry-After": when})
    responses.get(LIST_URL, json=[])

    list(client.iter_model_pages())

    assert len(sleeps) == 1
    assert 115 <= sleeps[0] <= 120


@responses.activate
def test_it_waits_for_the_ratelimit_reset_without_retry_after(
    client: HubClient, sleeps: Sleeps
) -> None:
    responses.get(
        LIST_URL,
        status=429,
        headers={
            "RateLimit": '"api";r=0;t=42',
            "RateLimit-Policy": '"fixed window";"api";q=500;w=300',
        },
    )
    responses.get(LIST_URL, json=[])

    list(client.iter_model_pages())

    assert sleeps == [42.0]


@responses.activate
def test_it_backs_off_exponentially_on_a_bare_429(client: HubClient, sleeps: Sleeps) -> None:
    responses.get(LIST_URL, status=429)
    responses.get(LIST_URL, status=429)
    responses.get(LIST_URL, json=[])

    list(client.iter_model_pages())

    assert sleeps == [1.0, 2.0]


@responses.activate
def test_it_backs_off_with_full_jitter_on_5xx(sleeps: Sleeps) -> None:
    for status in (500, 502, 503, 504):
        responses.get(LIST_URL, status=status)
    responses.get(LIST_URL, json=records("a/1"))
    client = HubClient(endpoint=HUB, backoff_base=0.5, sleep=sleeps, rng=random.Random(7))

    pages = list(client.iter_model_pages())

    ceilings = [0.5, 1.0, 2.0, 4.0]
    assert len(sleeps) == 4
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(sleeps, ceilings, strict=True))
    assert len(set(sleeps)) == 4  # jittered, not a fixed schedule
    assert pages[0].records == records("a/1")
    assert client.calls_made == 5


@responses.activate
def test_it_gives_up_after_max_retries(client: HubClient, sleeps: Sleeps) -> None:
    responses.get(LIST_URL, status=503)

    with pytest.raises(HubError) as excinfo:
        list(client.iter_model_pages(limit=10))

    message = str(excinfo.value)
    assert "after 5 attempts" in message
    assert "503" in message
    assert f"{LIST_URL}?sort=downloads" in message
    assert excinfo.value.status == 503
    assert client.calls_made == 5
    assert len(responses.calls) == 5
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


@responses.activate
def test_it_retries_connection_errors_and_timeouts(client: HubClient, sleeps: Sleeps) -> None:
    responses.get(LIST_URL, body=requests.ConnectionError("connection refused"))
    responses.get(LIST_URL, body=requests.ReadTimeout("read timed out"))
    responses.get(LIST_URL, json=records("a/1"))

    pages = list(client.iter_model_pages())

    assert pages[0].records == records("a/1")
    assert sleeps == [1.0, 2.0]
    assert client.calls_made == 3


@responses.activate
def test_it_sends_a_timeout_with_every_call(sleeps: Sleeps) -> None:
    responses.get(LIST_URL, json=[])
    client = HubClient(endpoint=HUB, timeout=(1.5, 9.0), sleep=sleeps)

    list(client.iter_model_pages())

    assert responses.calls[0].request.req_kwargs["timeout"] == (1.5, 9.0)


@responses.activate
@pytest.mark.parametrize(
    "body",
    ['{"oops', '[{"id": "a/1"}, {"id": "a/', '{"error": "not a list"}', "[1, 2, 3]", '"text"'],
)
def test_it_retries_a_malformed_listing(client: HubClient, sleeps: Sleeps, body: str) -> None:
    responses.get(LIST_URL, body=body, content_type="application/json")
    responses.get(LIST_URL, json=records("a/1"))

    pages = list(client.iter_model_pages())

    assert pages[0].records == records("a/1")
    assert sleeps == [1.0]
    assert client.calls_made == 2


@responses.activate
def test_it_raises_at_once_on_other_4xx(client: HubClient, sleeps: Sleeps) -> None:
    responses.get(LIST_URL, status=400, json={"error": "Invalid sort"})

    with pytest.raises(HubError) as excinfo:
        list(client.iter_model_pages(sort="bogus"))

    assert "400" in str(excinfo.value)
    assert "Invalid sort" in str(excinfo.value)
    assert not isinstance(excinfo.value, ModelNotFound)
    assert client.calls_made == 1
    assert sleeps == []


@responses.activate
def test_it_refuses_to_wait_longer_than_max_wait(sleeps: Sleeps) -> None:
    responses.get(LIST_URL, status=429, headers={"Retry-After": "3600"})
    client = HubClient(endpoint=HUB, max_wait=300, sleep=sleeps)

    with pytest.raises(RateLimited) as excinfo:
        list(client.iter_model_pages())

    assert excinfo.value.wait_seconds == 3600
    assert "3600s" in str(excinfo.value)
    assert "max_wait 300s" in str(excinfo.value)
    assert sleeps == []
    assert client.calls_made == 1


@responses.activate
def test_it_caps_jittered_backoff_at_max_wait(sleeps: Sleeps) -> None:
    for _ in range(3):
        responses.get(LIST_URL, status=500)
    responses.get(LIST_URL, json=[])
    client = HubClient(endpoint=HUB, backoff_base=10, max_wait=15, sleep=sleeps, rng=TopOfRange())

    list(client.iter_model_pages())

    assert sleeps == [10.0, 15.0, 15.0]


@responses.activate
def test_it_waits_for_the_window_reset_when_a_success_says_the_quota_is_spent(
    client: HubClient, sleeps: Sleeps
) -> None:
    serve_pages(
        {None: (records("a/1"), f'<{LIST_URL}?cursor=2>; rel="next"'), "2": (records("a/2"), None)},
        RateLimit='"api";r=0;t=30',
    )

    pages = list(client.iter_model_pages())

    assert len(pages) == 2
    assert len(sleeps) == 1  # once, before page 2; not again after it
    assert 29 <= sleeps[0] <= 30
    assert client.calls_made == 2


# --------------------------------------------------------------------------- budget


def test_it_counts_calls_against_a_budget() -> None:
    budget = CallBudget(2)
    budget.spend()
    assert (budget.used, budget.remaining) == (1, 1)
    budget.spend()
    with pytest.raises(BudgetExhausted, match="budget of 2 calls"):
        budget.spend()
    assert budget.used == 2
    assert budget.remaining == 0


def test_it_treats_a_none_budget_as_unlimited() -> None:
    budget = CallBudget(None)
    for _ in range(1000):
        budget.spend()
    assert budget.used == 1000
    assert budget.remaining is None


def test_it_rejects_a_negative_budget() -> None:
    with pytest.raises(ValueError):
        CallBudget(-1)


@responses.activate
def test_it_charges_retries_to_the_budget_and_stops_when_spent(sleeps: Sleeps) -> None:
    responses.get(LIST_URL, status=503)
    budget = CallBudget(3)
    client = HubClient(endpoint=HUB, budget=budget, max_retries=10, sleep=sleeps)

    with pytest.raises(BudgetExhausted):
        list(client.iter_model_pages())

    assert budget.used == 3
    assert client.calls_made == 3
    assert len(responses.calls) == 3  # the fourth call was never sent


@responses.activate
def test_it_shares_one_budget_across_listing_and_details(sleeps: Sleeps) -> None:
    responses.get(LIST_URL, json=records("a/1"))
    responses.get(f"{HUB}/api/models/a/1", json={"id": "a/1", "sha": "abc"})
    budget = CallBudget(2)
    client = HubClient(endpoint=HUB, budget=budget, sleep=sleeps)

    list(client.iter_model_pages())
    assert client.model_info("a/1")["sha"] == "abc"
    with pytest.raises(BudgetExhausted):
        client.model_info("a/1")

    assert len(responses.calls) == 2


# --------------------------------------------------------------------------- model_info


@responses.activate
def test_it_fetches_model_info_with_repeated_expand(client: HubClient) -> None:
    url = f"{HUB}/api/models/meta-llama/Llama-3.1-8B"
    responses.get(url, json={"_id": "x", "id": "meta-llama/Llama-3.1-8B", "sha": "abc"})

    info = client.model_info("meta-llama/Llama-3.1-8B", expand=["sha", "cardData"])

    assert info == {"_id": "x", "id": "meta-llama/Llama-3.1-8B", "sha": "abc"}
    assert urlsplit(responses.calls[0].request.url).path == "/api/models/meta-llama/Llama-3.1-8B"
    assert query_of(responses.calls[0]) == {"expand": ["sha", "cardData"]}


@responses.activate
def test_it_raises_model_not_found_on_404(client: HubClient) -> None:
    responses.get(f"{HUB}/api/models/a/gone", status=404, json={"error": "Repository not found"})

    with pytest.raises(ModelNotFound, match="Repository not found") as excinfo:
        client.model_info("a/gone")

    assert excinfo.value.status == 404
    assert client.calls_made == 1


@responses.activate
def test_it_treats_the_anonymous_401_repo_not_found_as_not_found(client: HubClient) -> None:
    responses.get(
        f"{HUB}/api/models/a/hidden",
        status=401,
        json={"error": "Invalid username or password."},
        headers={"X-Error-Code": "RepoNotFound"},
    )

    with pytest.raises(ModelNotFound):
        client.model_info("a/hidden")


@responses.activate
def test_it_retries_a_model_info_body_that_is_not_an_object(
    client: HubClient, sleeps: Sleeps
) -> None:
    url = f"{HUB}/api/models/a/1"
    responses.get(url, json=[{"id": "a/1"}])
    responses.get(url, json={"id": "a/1"})

    assert client.model_info("a/1") == {"id": "a/1"}
    assert client.calls_made == 2


@pytest.mark.parametrize("bad", ["", "a/b/c", "../../api/whoami", "a/..", "a b", "a/b?x=1"])
def test_it_rejects_ids_that_are_not_model_ids(client: HubClient, bad: str) -> None:
    with pytest.raises(ValueError):
        client.model_info(bad)
    assert client.calls_made == 0


@responses.activate
def test_it_follows_a_redirect_for_a_renamed_model_charging_each_hop(client: HubClient) -> None:
    responses.get(
        f"{HUB}/api/models/old/name", status=307, headers={"Location": "/api/models/new/name"}
    )
    responses.get(f"{HUB}/api/models/new/name", json={"id": "new/name"})

    assert client.model_info("old/name") == {"id": "new/name"}
    assert client.calls_made == 2
    assert client.budget.used == 2


# --------------------------------------------------------------------------- auth, endpoint


@responses.activate
def test_it_sends_the_token_only_when_set(sleeps: Sleeps) -> None:
    responses.get(LIST_URL, json=[])

    list(HubClient(endpoint=HUB, token="hf_secret", sleep=sleeps).iter_model_pages())
    list(HubClient(endpoint=HUB, token="", sleep=sleeps).iter_model_pages())

    assert responses.calls[0].request.headers["Authorization"] == "Bearer hf_secret"
    assert "Authorization" not in responses.calls[1].request.headers


@responses.activate
def test_it_never_sends_the_token_to_another_host(sleeps: Sleeps) -> None:
    elsewhere = "https://elsewhere.test/api/models?cursor=2"
    responses.get(elsewhere, json=[])
    responses.get(LIST_URL, json=records("a/1"), headers={"Link": f'<{elsewhere}>; rel="next"'})
    client = HubClient(endpoint=HUB, token="hf_secret", sleep=sleeps)

    list(client.iter_model_pages())

    assert responses.calls[0].request.headers["Authorization"] == "Bearer hf_secret"
    assert "Authorization" not in responses.calls[1].request.headers


def test_it_falls_back_to_the_hub_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9999/")
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    client = HubClient()
    assert (client.endpoint, client.token) == ("http://127.0.0.1:9999", "hf_env")

    monkeypatch.delenv("HF_ENDPOINT")
    monkeypatch.delenv("HF_TOKEN")
    client = HubClient()
    assert (client.endpoint, client.token) == ("https://huggingface.co", None)

    # Explicit settings win over the environment, even an empty token.
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert HubClient(endpoint="https://hub.test/", token="").token == ""


@responses.activate
def test_it_keeps_the_ratelimit_of_the_last_response_even_an_error(client: HubClient) -> None:
    responses.get(
        f"{HUB}/api/models/a/gone",
        status=404,
        headers={
            "RateLimit": '"api";r=12;t=5',
            "RateLimit-Policy": '"fixed window";"api";q=500;w=300',
        },
    )

    with pytest.raises(ModelNotFound):
        client.model_info("a/gone")

    assert client.last_ratelimit == RateLimitInfo(12, 5, 500, 300, "api")


# --------------------------------------------------------------------------- header parsing


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (RATELIMIT, RateLimitInfo(489, 189, 500, 300, "api")),
        (
            {
                "ratelimit": ' "api" ; r = 7 ; t = 3 ',
                "ratelimit-policy": '"fixed window"; "api"; q=1000; w=300',
            },
            RateLimitInfo(7, 3, 1000, 300, "api"),
        ),
        (
            # Extra parameters and several policies: the "api" one is ours.
            {
                "RateLimit": '"resolvers";r=2999;t=10, "api";r=5;t=20;pk=:abc=:',
                "RateLimit-Policy": '"fixed window";"resolvers";q=3000;w=300, '
                '"fixed window";"api";q=500;w=300;qu="requests"',
            },
            RateLimitInfo(5, 20, 500, 300, "api"),
        ),
        # The IETF draft's own shape puts the name first.
        (
            {"RateLimit-Policy": '"default";q=100;w=10'},
            RateLimitInfo(None, None, 100, 10, "default"),
        ),
        ({"RateLimit": '"api";r=489;t=189'}, RateLimitInfo(489, 189, None, None, "api")),
        ({"RateLimit": '"api";r=oops;t=12'}, RateLimitInfo(None, 12, None, None, "api")),
        (
            {"RateLimit-Limit": "100", "RateLimit-Remaining": "99", "RateLimit-Reset": "30"},
            RateLimitInfo(99, 30, 100, None, None),
        ),
        ({"Content-Type": "application/json"}, None),
        ({}, None),
        (None, None),
        ({"RateLimit": ""}, None),
    ],
)
def test_it_parses_ratelimit_headers(headers: dict | None, expected: RateLimitInfo | None) -> None:
    assert parse_ratelimit(headers) == expected


def test_it_parses_ratelimit_from_a_requests_response_headers() -> None:
    response = requests.Response()
    response.headers.update({"ratelimit": '"api";r=1;t=2'})
    assert parse_ratelimit(response.headers) == RateLimitInfo(1, 2, None, None, "api")


def test_it_parses_retry_after_in_both_forms() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert parse_retry_after("17", now=now) == 17.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after("Mon, 02 Mar 2026 12:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("Mon, 02 Mar 2026 11:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


def test_it_parses_link_headers_with_several_links() -> None:
    header = (
        '<https://hub.test/api/models?cursor=a,b>; rel="next last", '
        '<https://hub.test/api/models>; rel=first; title="x", '
        "<https://hub.test/other>; rel=next"
    )
    assert parse_link_header(header) == {
        "next": "https://hub.test/api/models?cursor=a,b",
        "last": "https://hub.test/api/models?cursor=a,b",
        "first": "https://hub.test/api/models",
    }
    assert parse_link_header(None) == {}
    assert parse_link_header("garbage") == {}
