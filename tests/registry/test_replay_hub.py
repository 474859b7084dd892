"""The replay hub over real loopback HTTP, alone and with the real HubClient."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.management import CommandError, call_command

from registry.hub import CallBudget, HubClient, HubError, ModelNotFound, parse_ratelimit
from registry.management.commands.hub_replay import Command as HubReplayCommand
from registry.replay import FaultPlan, ReplayHub, decode_cursor, encode_cursor, load_records


def make_records(count: int) -> list[dict]:
    """Hub-shaped records; every fifth has no downloads, to test missing-last sorting."""
    result = []
    for i in range(count):
        record = {
            "id": f"org{i % 3}/model-{i:03d}",
            "author": f"org{i % 3}",
            "likes": (i * 7) % 50,
            "trendingScore": i % 11,
            "createdAt": f"2026-01-{1 + i % 28:02d}T00:00:00.000Z",
            "lastModified": f"2026-02-{1 + i % 28:02d}T00:00:00.000Z",
            "sha": f"{i:040x}",
            "tags": ["transformers", "license:mit" if i % 2 else "license:apache-2.0"],
            "pipeline_tag": "text-generation" if i % 4 else "text-to-image",
            "library_name": "transformers",
            "private": False,
            "gated": False,
            "cardData": {"license": "mit"},
        }
        if i % 5:
            record["downloads"] = i * 100
        result.append(record)
    return result


RECORDS = make_records(25)


@pytest.fixture
def hub() -> Iterator[ReplayHub]:
    with ReplayHub(RECORDS) as running:
        yield running


def get(hub: ReplayHub, path: str, **kwargs: object) -> requests.Response:
    return requests.get(f"{hub.url}{path}", timeout=5, **kwargs)


def next_link(response: requests.Response) -> str | None:
    return response.links.get("next", {}).get("url")


def page_all(hub: ReplayHub, path: str) -> tuple[list[dict], list[requests.Response]]:
    responses = [get(hub, path)]
    while next_link(responses[-1]):
        responses.append(requests.get(next_link(responses[-1]), timeout=5))
    return [record for r in responses for record in r.json()], responses


def no_sleep(seconds: float) -> None:
    pass


# --------------------------------------------------------------------------- listing


def test_it_pages_through_every_record_exactly_once(hub: ReplayHub) -> None:
    records, responses = page_all(hub, "/api/models?limit=10&sort=likes&expand=likes")

    assert [len(r.json()) for r in responses] == [10, 10, 5]
    assert sorted(r["id"] for r in records) == sorted(r["id"] for r in RECORDS)
    assert len({r["id"] for r in records}) == 25
    # The next link keeps the other parameters.
    query = parse_qs(urlsplit(next_link(responses[0])).query)
    assert query["limit"] == ["10"]
    assert query["sort"] == ["likes"]
    assert query["expand"] == ["likes"]
    assert decode_cursor(query["cursor"][0]) == 10


def test_it_returns_only_id_and_the_expanded_fields(hub: ReplayHub) -> None:
    body = get(hub, "/api/models?limit=3&expand=downloads&expand=sha&expand=gated").json()

    assert {tuple(sorted(r)) for r in body} <= {
        ("_id", "downloads", "gated", "id", "sha"),
        ("_id", "gated", "id", "sha"),  # a record without downloads leaves it out
    }
    first = RECORDS[0]
    assert body[0]["id"] == first["id"]
    assert body[0]["sha"] == first["sha"]
    assert len(body[0]["_id"]) == 24
    # _id is stable for an id.
    again = get(hub, "/api/models?limit=1&expand=sha").json()
    assert again[0]["_id"] == body[0]["_id"]


def test_it_returns_the_light_default_fields_without_expand(hub: ReplayHub) -> None:
    body = get(hub, "/api/models?limit=2").json()

    assert set(body[1]) == {
        "_id",
        "id",
        "author",
        "likes",
        "downloads",
        "trendingScore",
        "pipeline_tag",
        "library_name",
        "private",
        "tags",
        "createdAt",
        "lastModified",
    }
    assert "sha" not in body[1] and "cardData" not in body[1]


def test_it_sorts_descending_with_missing_values_last(hub: ReplayHub) -> None:
    records, _ = page_all(hub, "/api/models?sort=downloads&expand=downloads&limit=7")

    values = [r.get("downloads") for r in records]
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=True)
    assert values[: len(present)] == present
    assert values[len(present) :] == [None] * 5
    assert present[0] == 2400


def test_it_sorts_ascending_with_missing_values_still_last(hub: ReplayHub) -> None:
    body = get(hub, "/api/models?sort=downloads&direction=1&expand=downloads&limit=1000").json()

    values = [r.get("downloads") for r in body]
    assert values[:3] == [100, 200, 300]
    assert values[-5:] == [None] * 5


def test_it_sorts_by_dates(hub: ReplayHub) -> None:
    body = get(hub, "/api/models?sort=createdAt&expand=createdAt").json()

    dates = [r["createdAt"] for r in body]
    assert dates == sorted(dates, reverse=True)


def test_it_searches_ids_case_insensitively(hub: ReplayHub) -> None:
    body = get(hub, "/api/models?search=ORG1/MODEL-01").json()

    assert [r["id"] for r in body] == [
        "org1/model-010",
        "org1/model-013",
        "org1/model-016",
        "org1/model-019",
    ]


def test_it_filters_by_author_and_all_tags(hub: ReplayHub) -> None:
    body = get(
        hub, "/api/models?author=org2&filter=license:mit&filter=text-generation&expand=tags"
    ).json()

    ids = [r["id"] for r in body]
    expected = [
        r["id"]
        for r in RECORDS
        if r["author"] == "org2"
        and "license:mit" in r["tags"]
        and r["pipeline_tag"] == "text-generation"
    ]
    assert ids == expected
    assert ids  # the query is not vacuous


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=abc", "Invalid limit"),
        ("limit=0", "Invalid limit"),
        ("cursor=!!!", "Invalid cursor"),
        (f"cursor={encode_cursor(5)[:-3]}", "Invalid cursor"),
        ("sort=stars", "Invalid sort"),
        ("direction=up", "Invalid direction"),
    ],
)
def test_it_rejects_bad_parameters_with_a_json_400(
    hub: ReplayHub, query: str, message: str
) -> None:
    response = get(hub, f"/api/models?{query}")

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert parse_ratelimit(response.headers).remaining == 499


def test_it_caps_the_page_size_at_1000() -> None:
    with ReplayHub(make_records(1200)) as hub:
        response = get(hub, "/api/models?limit=5000")

    assert len(response.json()) == 1000
    assert decode_cursor(parse_qs(urlsplit(next_link(response)).query)["cursor"][0]) == 1000


# --------------------------------------------------------------------------- details


def test_it_serves_a_full_record_by_id(hub: ReplayHub) -> None:
    body = get(hub, "/api/models/org1/model-004").json()

    assert body["id"] == "org1/model-004"
    assert body["cardData"] == {"license": "mit"}
    assert body["sha"] == RECORDS[4]["sha"]
    assert body["_id"] == get(hub, "/api/models?search=model-004").json()[0]["_id"]


def test_it_serves_an_expanded_record_and_ids_without_an_org() -> None:
    with ReplayHub([{"id": "gpt2", "downloads": 5, "likes": 1, "sha": "x"}]) as hub:
        body = get(hub, "/api/models/gpt2?expand=likes").json()

    assert body == {"_id": body["_id"], "id": "gpt2", "likes": 1}


def test_it_answers_404_for_an_unknown_model(hub: ReplayHub) -> None:
    response = get(hub, "/api/models/org1/nope")

    assert response.status_code == 404
    assert response.json() == {"error": "Repository not found"}
    assert parse_ratelimit(response.headers).limit == 500


def test_it_shows_private_models_only_with_a_token() -> None:
    records = [{"id": "me/secret", "private": True}, {"id": "me/public", "private": False}]
    with ReplayHub(records) as hub:
        anonymous = [r["id"] for r in get(hub, "/api/models").json()]
        with_token = get(hub, "/api/models", headers={"Authorization": "Bearer hf_x"}).json()
        detail = get(hub, "/api/models/me/secret")

    assert anonymous == ["me/public"]
    assert [r["id"] for r in with_token] == ["me/secret", "me/public"]
    assert detail.status_code == 404


def test_it_serves_new_records_after_set_records(hub: ReplayHub) -> None:
    hub.set_records(lambda: [{"id": "new/model", "likes": 3}])

    assert get(hub, "/api/models").json() == [
        {"_id": get(hub, "/api/models").json()[0]["_id"], "id": "new/model", "likes": 3}
    ]


# --------------------------------------------------------------------------- rate limits


def test_it_counts_every_request_in_its_ratelimit_headers(hub: ReplayHub) -> None:
    first = get(hub, "/api/models?limit=1")
    second = get(hub, "/api/models/org1/nope")

    assert first.headers["RateLimit-Policy"] == '"fixed window";"api";q=500;w=300'
    assert first.headers["RateLimit"].startswith('"api";r=499;t=')
    one, two = parse_ratelimit(first.headers), parse_ratelimit(second.headers)
    assert (one.remaining, two.remaining) == (499, 498)
    assert 0 < two.reset_seconds <= 300
    assert hub.requests_served == 2


def test_it_answers_429_past_the_quota_until_the_window_resets() -> None:
    now = [1000.0]
    with ReplayHub(RECORDS, quota=2, window_seconds=60, clock=lambda: now[0]) as hub:
        statuses = [get(hub, "/api/models?limit=1").status_code for _ in range(2)]
        now[0] += 15
        refused = get(hub, "/api/models?limit=1")
        now[0] += 45  # the next window
        again = get(hub, "/api/models?limit=1")

    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "45"
    assert refused.headers["RateLimit"] == '"api";r=0;t=45'
    assert "rate limit" in refused.json()["error"]
    assert again.status_code == 200
    assert parse_ratelimit(again.headers).remaining == 1


# --------------------------------------------------------------------------- faults


def test_it_injects_each_fault_kind_by_request_number() -> None:
    faults = FaultPlan(status_429={1}, status_5xx={2}, malformed={3}, truncated={4}, retry_after=9)
    with ReplayHub(RECORDS, faults=faults) as hub:
        answers = [get(hub, "/api/models?limit=5") for _ in range(5)]

    too_many, unavailable, malformed, truncated, fine = answers
    assert too_many.status_code == 429
    assert too_many.headers["Retry-After"] == "9"
    assert unavailable.status_code == 503
    assert malformed.status_code == 200
    assert malformed.text == '{"oops'
    assert truncated.status_code == 200
    assert truncated.text.startswith('[{"_id": ')
    assert fine.text.startswith(truncated.text)  # the same page, cut short
    with pytest.raises(ValueError):
        json.loads(truncated.text)
    assert len(fine.json()) == 5
    # Faulty answers still count and still carry the rate-limit headers.
    assert [parse_ratelimit(a.headers).remaining for a in answers] == [499, 498, 497, 496, 495]


def test_it_answers_slowly_when_told() -> None:
    faults = FaultPlan(slow={1}, slow_seconds=0.3)
    with ReplayHub(RECORDS, faults=faults) as hub:
        started = time.monotonic()
        slow = get(hub, "/api/models?limit=2")
        slow_elapsed = time.monotonic() - started
        started = time.monotonic()
        get(hub, "/api/models?limit=2")
        fast_elapsed = time.monotonic() - started

    assert slow_elapsed >= 0.3
    assert fast_elapsed < 0.3
    assert len(slow.json()) == 2


def test_it_repeats_the_last_two_records_on_each_later_page() -> None:
    with ReplayHub(RECORDS, faults=FaultPlan(duplicate_ids=True)) as hub:
        records, responses = page_all(hub, "/api/models?limit=10&sort=likes")

    pages = [[r["id"] for r in response.json()] for response in responses]
    assert pages[1][:2] == pages[0][-2:]
    assert pages[2][:2] == pages[1][-2:]
    assert len(records) == 29
    assert {r["id"] for r in records} == {r["id"] for r in RECORDS}


def test_it_draws_probabilistic_faults_reproducibly_from_the_seed() -> None:
    plan = FaultPlan(rate_429=0.2, rate_5xx=0.2, rate_malformed=0.1, rate_slow=0.3, seed=5)
    same = FaultPlan(rate_429=0.2, rate_5xx=0.2, rate_malformed=0.1, rate_slow=0.3, seed=5)
    other = FaultPlan(rate_429=0.2, rate_5xx=0.2, rate_malformed=0.1, rate_slow=0.3, seed=6)

    draws = [plan.faults_for(n) for n in range(1, 201)]
    kinds = [fault for fault, _ in draws]

    assert draws == [same.faults_for(n) for n in range(1, 201)]
    assert draws != [other.faults_for(n) for n in range(1, 201)]
    assert 20 <= kinds.count("429") <= 60
    assert 15 <= kinds.count("5xx") <= 55
    assert "truncated" not in kinds
    assert 30 <= sum(slow for _, slow in draws) <= 90


def test_it_rejects_rates_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="rate_5xx"):
        FaultPlan(rate_5xx=1.5)


# --------------------------------------------------------------------------- with the real client


def test_it_lets_the_real_client_page_through_every_fault() -> None:
    records = make_records(230)
    faults = FaultPlan(
        status_429={2},
        status_5xx={3, 4},
        malformed={6},
        truncated={8},
        rate_429=0.1,
        rate_5xx=0.1,
        rate_malformed=0.05,
        rate_truncated=0.05,
        retry_after=0,
        seed=3,
    )
    with ReplayHub(records, faults=faults) as hub:
        client = HubClient(endpoint=hub.url, sleep=no_sleep, max_retries=8, budget=CallBudget(100))
        pages = list(client.iter_model_pages(sort="likes", limit=20, expand=["likes", "sha"]))
        served = hub.requests_served

    ids = [r["id"] for page in pages for r in page.records]
    assert sorted(ids) == sorted(r["id"] for r in records)
    assert len(ids) == len(set(ids)) == 230
    assert len(pages) == 12
    assert client.calls_made == served > 12  # the faults cost retries
    assert client.budget.used == served
    assert client.last_ratelimit.remaining == 500 - served


def test_it_lets_the_real_client_honour_the_quota_and_give_up() -> None:
    with ReplayHub(RECORDS, quota=3, window_seconds=600) as hub:
        waits: list[float] = []
        client = HubClient(endpoint=hub.url, sleep=waits.append, max_retries=2, max_wait=900)
        pages = client.iter_model_pages(limit=5)
        first_three = [next(pages) for _ in range(3)]
        with pytest.raises(HubError, match="429"):
            next(pages)

    assert [len(p.records) for p in first_three] == [5, 5, 5]
    assert first_three[-1].ratelimit.remaining == 0
    # It waited for the reset before sending into a spent window, then per Retry-After.
    assert len(waits) == 3
    assert all(590 <= wait <= 600 for wait in waits)


def test_it_lets_the_real_client_refuse_a_wait_beyond_max_wait() -> None:
    with ReplayHub(RECORDS, quota=1, window_seconds=3600) as hub:
        client = HubClient(endpoint=hub.url, sleep=no_sleep, max_wait=60)
        list(client.iter_model_pages(limit=100))
        with pytest.raises(HubError, match="max_wait"):
            client.model_info("org0/model-000")
        served = hub.requests_served

    assert served == 1  # it did not spend a call it knew would be refused


def test_it_lets_the_real_client_fetch_details_and_miss() -> None:
    with ReplayHub(RECORDS, faults=FaultPlan(status_5xx={1}, truncated={2})) as hub:
        client = HubClient(endpoint=hub.url, sleep=no_sleep)
        info = client.model_info("org2/model-005", expand=["sha", "cardData"])
        with pytest.raises(ModelNotFound):
            client.model_info("org2/missing")

    assert info == {
        "_id": info["_id"],
        "id": "org2/model-005",
        "sha": RECORDS[5]["sha"],
        "cardData": {"license": "mit"},
    }
    assert client.calls_made == 4


def test_it_survives_a_client_that_times_out_on_a_slow_answer() -> None:
    faults = FaultPlan(slow={1}, slow_seconds=0.5)
    with ReplayHub(RECORDS, faults=faults) as hub:
        client = HubClient(endpoint=hub.url, sleep=no_sleep, timeout=(1.0, 0.2))
        pages = list(client.iter_model_pages(limit=100))

    assert len(pages[0].records) == 25
    assert client.calls_made == 2


def test_it_serves_concurrent_clients_and_counts_every_request() -> None:
    with ReplayHub(RECORDS) as hub:

        def fetch() -> None:
            for _ in range(10):
                get(hub, "/api/models?limit=1")

        threads = [threading.Thread(target=fetch) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        last = get(hub, "/api/models?limit=1")

    assert hub.requests_served == 81
    assert parse_ratelimit(last.headers).remaining == 500 - 81


# --------------------------------------------------------------------------- archives


def write_archive(directory: Path, name: str, fetched_at: str | None, ids: list[str]) -> Path:
    path = directory / name
    models = [{"id": model_id, "downloads": 1} for model_id in ids]
    document = {"fetched_at": fetched_at, "models": models} if fetched_at else models
    path.write_text(json.dumps(document))
    return path


def test_it_loads_the_latest_archive_from_a_directory(tmp_path: Path) -> None:
    pytest.importorskip("registry.archive")
    write_archive(tmp_path, "a.json", "2026-03-02T12:00:00Z", ["old/model"])
    write_archive(tmp_path, "b.json", "2026-03-04T12:00:00+02:00", ["newest/model"])
    write_archive(tmp_path, "c.json", "2026-03-03T12:00:00Z", ["middle/model"])

    assert [r["id"] for r in load_records(tmp_path)] == ["newest/model"]
    at = datetime(2026, 3, 3, 23, 0, tzinfo=UTC)
    assert [r["id"] for r in load_records(tmp_path, at=at)] == ["middle/model"]
    naive = datetime(2026, 3, 2, 12, 0)  # taken as UTC
    assert [r["id"] for r in load_records(tmp_path, at=naive)] == ["old/model"]
    with pytest.raises(FileNotFoundError, match="at or before"):
        load_records(tmp_path, at=datetime(2026, 1, 1, tzinfo=UTC))


def test_it_loads_a_single_archive_file(tmp_path: Path) -> None:
    pytest.importorskip("registry.archive")
    path = write_archive(tmp_path, "bare.json", None, ["a/1", "a/2"])

    assert [r["id"] for r in load_records(path)] == ["a/1", "a/2"]


# --------------------------------------------------------------------------- the command


def test_it_rejects_bad_command_arguments(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such archive"):
        call_command("hub_replay", "--data", str(tmp_path / "missing"), "--port", "0")
    with pytest.raises(CommandError, match="--port"):
        call_command("hub_replay", "--data", str(tmp_path), "--port", "70000")
    with pytest.raises(CommandError, match="--at"):
        call_command("hub_replay", "--demo", "--at", "2026-03-01")
    with pytest.raises(CommandError, match="between 0 and 1"):
        call_command("hub_replay", "--data", str(tmp_path), "--fault-5xx", "2")
    with pytest.raises(CommandError, match="one of the arguments --data --demo"):
        call_command("hub_replay", "--port", "0")


def test_it_serves_an_archive_from_the_command_until_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("registry.archive")
    write_archive(tmp_path, "2026-03-02T1200Z.json", "2026-03-02T12:00:00Z", ["a/1", "b/2"])
    seen: dict[str, object] = {}

    def serve_briefly(self: HubReplayCommand, hub: ReplayHub) -> None:
        seen["body"] = get(hub, "/api/models?expand=downloads").json()
        seen["ratelimit"] = parse_ratelimit(get(hub, "/api/models/a/1").headers)
        raise KeyboardInterrupt

    monkeypatch.setattr(HubReplayCommand, "serve_until_interrupted", serve_briefly)

    call_command("hub_replay", "--data", str(tmp_path), "--port", "0", "--quota", "50")

    out = capsys.readouterr().out
    assert [r["id"] for r in seen["body"]] == ["a/1", "b/2"]
    assert seen["ratelimit"].limit == 50
    assert "serving 2 models" in out
    assert "HF_ENDPOINT=http://127.0.0.1:" in out
    assert "Stopped after 2 requests." in out
