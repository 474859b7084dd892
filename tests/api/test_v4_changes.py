"""/api/v4/changes: the delta feed, its errors, and a client that applies it exactly."""

from __future__ import annotations

import json
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api import gate
from api.v4.changes_codec import (
    COLUMNS,
    ResyncNeeded,
    changes_apply,
    corrected,
    correction,
    key_gaps,
    keys_from_gaps,
)
from api.v4.serializers import without_scores
from registry.models import HubModel, Plan
from snapshots.models import Observation, Snapshot
from tests.factories import T0, days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _uncached(settings):
    # Publishing retires cached responses on commit, which a test's
    # transaction never reaches: read every answer fresh (one test caches).
    settings.RESPONSE_CACHE_ENABLED = False
    # The full list is fetched in pages of 500, which free's page size is not.
    Plan.objects.filter(slug="free").update(max_page_size=500)
    gate.forget()  # an update() sends no signal


def get_json(client, url: str, status: int = 200) -> dict:
    response = client.get(url)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


def full_list(client) -> dict[int, dict]:
    """The public list as a client refetches it, keyed by `key`."""
    rows, url = {}, "/api/v4/models?limit=500"
    while url:
        body = get_json(client, url)
        # The feed leaves the score fields out: they are read from the list.
        rows.update({row["key"]: without_scores(row) for row in body["results"]})
        url = body["next"]
    return rows


def key(hub_id: str) -> int:
    return HubModel.objects.get(hub_id=hub_id).pk


@pytest.fixture
def two_days():
    """Yesterday and today: one model steady, one moving, one gone, one new, one private."""
    yesterday = published_snapshot(
        [
            hub_record("acme/steady", downloads=5000, likes=50, trendingScore=3),
            hub_record("acme/moving", downloads=9000, likes=90, trendingScore=7),
            hub_record("acme/leaving", downloads=100, likes=1),
            hub_record("acme/secret", downloads=99_999, private=True),
        ],
        taken_at=T0,
    )
    today = published_snapshot(
        [
            hub_record("acme/steady", downloads=5000, likes=50, trendingScore=3),
            hub_record(
                "acme/moving", downloads=9400, downloadsAllTime=50_400, likes=92, trendingScore=7
            ),
            hub_record("acme/arriving", downloads=20, likes=0, pipeline_tag="fill-mask"),
            hub_record("acme/secret", downloads=123_456, private=True),
        ],
        taken_at=T0 + days(1),
    )
    return yesterday, today


def test_it_sends_what_changed_and_nothing_else(client, two_days):
    yesterday, today = two_days
    feed = get_json(client, f"/api/v4/changes?since={yesterday.pk}")
    assert feed["since"] == {"id": yesterday.pk, "taken_at": "2026-03-01T12:00:00Z"}
    assert feed["snapshot"] == {"id": today.pk, "taken_at": "2026-03-02T12:00:00Z"}
    assert (feed["next_since"], feed["baseline_24h"], feed["count"]) == (today.pk, yesterday.pk, 3)
    assert feed["removed"] == key_gaps([key("acme/leaving")])
    [added] = feed["added"]
    assert (added["id"], added["key"], added["downloads"]) == (
        "acme/arriving",
        key("acme/arriving"),
        20,
    )
    assert added["pipeline_tag"] == "fill-mask" and added["delta_24h"]["new"] is True
    assert feed["updated"] == []
    moving = key("acme/moving")
    # Only the moving model's figures; its rank, rank change and 24h deltas
    # follow from them and are not sent; the steady model is not named at all.
    assert feed["changed"] == {
        "downloads": [[moving], [400]],
        "downloads_all_time": [[moving], [400]],
        "likes": [[moving], [2]],
    }


def test_private_models_never_appear(client, two_days):
    yesterday, _ = two_days
    body = json.dumps(get_json(client, f"/api/v4/changes?since={yesterday.pk}"))
    secret = key("acme/secret")
    assert "acme/secret" not in body
    feed = json.loads(body)
    named = {k for gaps, _ in feed["changed"].values() for k in keys_from_gaps(gaps)}
    assert secret not in named
    assert secret not in keys_from_gaps(feed["removed"])


def test_a_model_turned_private_is_never_named_and_the_client_resyncs(client, two_days):
    _, today = two_days
    held = full_list(client)
    later = published_snapshot(
        [
            hub_record("acme/steady", downloads=5000, likes=50, trendingScore=3, private=True),
            hub_record("acme/moving", downloads=9400, downloadsAllTime=50_400, likes=92),
        ],
        taken_at=T0 + days(2),
    )
    feed = get_json(client, f"/api/v4/changes?since={today.pk}")
    assert feed["snapshot"]["id"] == later.pk
    # Privacy is the catalog's as it stands: the feed cannot tell the model
    # was public then, so it does not name it at all, not even its key ...
    assert keys_from_gaps(feed["removed"]) == [key("acme/arriving")]
    assert "acme/steady" not in json.dumps(feed)
    # ... and the count tells the client its list no longer fits.
    assert feed["count"] == 1
    with pytest.raises(ResyncNeeded, match="2 models after applying, the feed says 1"):
        changes_apply(held, feed)


def test_an_empty_feed_leaves_the_list_as_it_is(client, two_days):
    yesterday, _ = two_days
    current = full_list(client)
    feed = get_json(client, f"/api/v4/changes?since={yesterday.pk}")
    empty = get_json(client, f"/api/v4/changes?since={feed['next_since']}")
    assert changes_apply(current, empty) == current


def test_since_the_latest_is_an_empty_change_set(client, two_days):
    _, today = two_days
    feed = get_json(client, f"/api/v4/changes?since={today.pk}")
    assert feed == {
        "since": {"id": today.pk, "taken_at": "2026-03-02T12:00:00Z"},
        "snapshot": {"id": today.pk, "taken_at": "2026-03-02T12:00:00Z"},
        "next_since": today.pk,
        "baseline_24h": today.baseline_24h_id,
        "baseline_7d": None,
        "count": 3,
        "removed": [],
        "added": [],
        "updated": [],
        "changed": {},
    }


def assert_resync(client, since, latest: Snapshot, reason: str) -> None:
    error = get_json(client, f"/api/v4/changes?since={since}", status=410)["error"]
    assert error["code"] == "resync_required"
    assert error["fields"] == {"since": [reason]}
    assert error["latest_snapshot"] == {"id": latest.pk, "taken_at": "2026-03-02T12:00:00Z"}
    assert "/api/v4/models" in error["message"] and f"since {latest.pk}" in error["message"]


def test_an_unknown_since_asks_for_a_resync(client, two_days):
    _, today = two_days
    assert_resync(client, today.pk + 100, today, "no such snapshot")


@pytest.mark.parametrize("status", ["running", "partial", "failed"])
def test_a_snapshot_never_published_asks_for_a_resync(client, two_days, status):
    _, today = two_days
    run = Snapshot.objects.create(status=status, taken_at=T0, started_at=T0)
    assert_resync(client, run.pk, today, "it is not complete")


def test_a_pruned_since_asks_for_a_resync(client, two_days):
    yesterday, today = two_days
    Observation.objects.filter(snapshot=yesterday).delete()
    assert_resync(client, yesterday.pk, today, "its observations were pruned")


def test_a_half_pruned_since_asks_for_a_resync(client, two_days):
    yesterday, today = two_days
    Observation.objects.filter(snapshot=yesterday, model__hub_id="acme/steady").delete()
    assert_resync(client, yesterday.pk, today, "its observations were pruned")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "invalid_parameter"),
        ("since=", "invalid_parameter"),
        ("since=abc", "invalid_parameter"),
        ("since=1.5", "invalid_parameter"),
        ("since=0", "invalid_parameter"),
        ("since=-3", "invalid_parameter"),
        ("since=1&since=2", "invalid_parameter"),
        ("since=1&until=2", "unknown_parameter"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(client, two_days, query, code):
    error = get_json(client, f"/api/v4/changes?{query}", status=400)["error"]
    assert error["code"] == code
    assert set(error["fields"]) == ({"since"} if code == "invalid_parameter" else {"until"})


def test_before_any_snapshot_it_is_a_503(client):
    assert get_json(client, "/api/v4/changes?since=1", status=503)["error"]["code"] == "no_snapshot"


def test_a_new_revision_sends_the_catalog_again(client, two_days):
    _, today = two_days
    published_snapshot(
        [
            hub_record("acme/steady", downloads=5000, likes=50, trendingScore=3),
            hub_record(
                "acme/moving",
                downloads=9400,
                downloadsAllTime=50_400,
                likes=92,
                trendingScore=7,
                lastModified="2026-03-02T20:00:00.000Z",
                cardData={"license": "mit"},
                tags=["transformers", "license:mit"],
            ),
            hub_record("acme/arriving", downloads=20, likes=0, pipeline_tag="fill-mask"),
        ],
        taken_at=T0 + days(2),
    )
    feed = get_json(client, f"/api/v4/changes?since={today.pk}")
    [updated] = feed["updated"]
    assert updated["key"] == key("acme/moving")
    assert (updated["license"], updated["license_class"]) == ("mit", "permissive")
    assert "downloads" not in updated  # figures travel in `changed`
    moving = key("acme/moving")
    assert feed["changed"]["last_modified"] == [[moving], [["2026-03-02T20:00:00Z"]]]


def daily_records(rng: random.Random, day: int, population: list[dict]) -> list[dict]:
    """Move every model a little, now and then a lot; drop, add, hide and revise some."""
    records = []
    for index, model in enumerate(population):
        if model.get("gone_on") == day:
            continue
        if model["born"] > day:
            continue
        move = rng.choice((0, 0, 1, 5, 40, 3000, -200))
        model["downloads"] = max(0, model["downloads"] + move) if model["downloads"] else None
        if rng.random() < 0.1:
            model["downloads"] = None if model["downloads"] else rng.randrange(10, 10_000)
        model["likes"] += rng.choice((0, 0, 0, 1, 2, -1))
        model["trending"] = rng.choice((model["trending"], model["trending"] + 1, 2.5, 0.0))
        if model["all_time"] is not None:
            model["all_time"] += rng.randrange(0, 500)
        if rng.random() < 0.1:
            model["revision"] += 1
            model["license"] = rng.choice(("mit", "apache-2.0", "llama3.1", None))
        records.append(
            hub_record(
                model["id"],
                downloads=model["downloads"],
                downloadsAllTime=model["all_time"],
                likes=model["likes"],
                trendingScore=model["trending"],
                lastModified=f"2026-02-{model['revision']:02d}T10:00:00.000Z",
                cardData={"license": model["license"]} if model["license"] else {},
                tags=["transformers"] + ([f"license:{model['license']}"] * bool(model["license"])),
                private=model.get("private_from", 99) <= day,
                pipeline_tag=("text-generation", "fill-mask")[index % 2],
            )
        )
    return records


def test_applying_the_feed_from_any_earlier_snapshot_gives_the_list_exactly(client):
    rng = random.Random(2026)
    population = [
        {
            "id": f"org{i % 4}/model-{i:03d}",
            "born": 0 if i < 30 else rng.randrange(1, 9),
            "downloads": rng.choice((None, rng.randrange(0, 100_000))),
            "all_time": rng.choice((None, rng.randrange(100_000, 1_000_000))),
            "likes": rng.randrange(0, 300),
            "trending": float(rng.randrange(0, 20)),
            "revision": 1,
            "license": "apache-2.0",
        }
        for i in range(40)
    ]
    population[3]["gone_on"] = 4
    population[5]["private_from"] = 3
    population[6]["downloads"] = population[7]["downloads"] = 777  # a tie, broken by id
    lists: dict[int, dict] = {}
    taken, exact, hidden = T0, 0, None
    for day in range(9):
        # Mostly a day apart, once two days and once a few hours: the
        # client's snapshot is not always the 24h baseline.
        taken += {4: days(2), 6: days(1) / 4}.get(day, days(1))
        snapshot = published_snapshot(daily_records(rng, day, population), taken_at=taken)
        hidden = key(population[5]["id"])
        now = full_list(client)
        for since, held in lists.items():
            feed = get_json(client, f"/api/v4/changes?since={since}")
            assert feed["snapshot"]["id"] == feed["next_since"] == snapshot.pk
            if hidden in held and hidden not in now:  # turned private since: resync
                with pytest.raises(ResyncNeeded):
                    changes_apply(held, feed)
                continue
            assert changes_apply(held, feed) == now, f"day {day}, since {since}"
            exact += 1
        lists[snapshot.pk] = now
    assert len(lists) == 9 and exact == 36 - 3 * 6
    # Some of those feeds had to carry what a daily client derives.
    feed = get_json(client, f"/api/v4/changes?since={min(lists)}")
    assert {"rank_change_24h", "delta_24h.downloads"} <= feed["changed"].keys()


def test_a_daily_sync_sends_no_rank_or_24h_figures_that_follow(client):
    rng = random.Random(7)
    population = [
        {
            "id": f"org/model-{i:03d}",
            "born": 0,
            "downloads": rng.randrange(0, 100_000),
            "all_time": rng.randrange(100_000, 1_000_000),
            "likes": rng.randrange(0, 300),
            "trending": 1.0,
            "revision": 1,
            "license": "mit",
        }
        for i in range(30)
    ]
    first = published_snapshot(daily_records(rng, 0, population), taken_at=T0)
    held = full_list(client)
    published_snapshot(daily_records(rng, 1, population), taken_at=T0 + days(1))
    feed = get_json(client, f"/api/v4/changes?since={first.pk}")
    assert feed["baseline_24h"] == first.pk
    assert "downloads" in feed["changed"]
    assert not {"rank", "rank_change_24h", "delta_24h.downloads", "delta_24h.likes"} & set(
        feed["changed"]
    )
    new = changes_apply(held, feed)
    assert new == full_list(client)
    assert any(row["rank_change_24h"] for row in new.values())


def test_a_feed_that_does_not_fit_the_state_is_refused(client, two_days):
    yesterday, _ = two_days
    feed = get_json(client, f"/api/v4/changes?since={yesterday.pk}")
    with pytest.raises(ResyncNeeded):
        changes_apply({}, feed)


def test_it_reads_in_a_fixed_number_of_queries(client):
    client.get("/api/v4/tags")  # the gate reads the free plan once, then remembers it

    def feed_queries(models: int) -> int:
        records = [hub_record(f"q{models}/m-{i}", downloads=1000 + i) for i in range(models)]
        first = published_snapshot(records, taken_at=T0 + days(models))
        moved = [
            hub_record(r["id"], downloads=r["downloads"] + 7, lastModified="2026-02-03T00:00:00Z")
            for r in records[1:]
        ] + [hub_record(f"q{models}/new-{i}") for i in range(3)]
        published_snapshot(moved, taken_at=T0 + days(models + 1))
        with CaptureQueriesContext(connection) as captured:
            feed = get_json(client, f"/api/v4/changes?since={first.pk}")
        assert len(feed["added"]) == 3 and len(feed["updated"]) == models - 1
        return len(captured)

    # latest, since, both sides' figures, the added and updated rows, their tags
    assert feed_queries(5) == feed_queries(40) == 6


def test_it_is_cached_like_the_other_v4_answers(client, two_days, settings):
    settings.RESPONSE_CACHE_ENABLED = True
    yesterday, _ = two_days
    url = f"/api/v4/changes?since={yesterday.pk}"
    first = client.get(url)
    with CaptureQueriesContext(connection) as captured:
        second = client.get(url)
    assert (first["X-Cache"], second["X-Cache"], len(captured)) == ("MISS", "HIT", 0)
    assert second.content == first.content
    other = client.get(f"/api/v4/changes?since={yesterday.pk + 1}")
    assert other["X-Cache"] == "MISS"  # the query string is part of the key


@pytest.mark.parametrize(
    ("actual", "predicted", "fix"),
    [
        (1500, 1000, 500),
        (3, 7, -4),
        (None, 7, [None]),
        (7, None, [7]),
        (15.0, 12.0, 3),
        (2.5, 12.0, [2.5]),
        (True, False, [True]),
        ("2026-03-02T20:00:00Z", "2026-02-01T10:00:00Z", ["2026-03-02T20:00:00Z"]),
        (2.0**60, 1.0, [2.0**60]),
    ],
)
def test_a_correction_turns_the_prediction_into_the_value(actual, predicted, fix):
    assert correction(actual, predicted) == fix
    result = corrected(predicted, fix)
    assert result == actual and type(result) is type(actual)
    assert correction(actual, actual) is None


def test_keys_travel_as_gaps():
    assert key_gaps([45, 3, 5, 4]) == [3, 1, 1, 40]
    assert keys_from_gaps([3, 1, 1, 40]) == [3, 4, 5, 45]
    assert COLUMNS.index("rank") > max(COLUMNS.index("downloads"), COLUMNS.index("likes"))


def test_the_figures_compared_are_the_ones_the_list_shows(client, two_days):
    from api.v4.changes_codec import FIGURES, field_value
    from api.v4.selectors import snapshot_figures

    _, today = two_days
    shown = {
        key: (row["key"], row["id"], *(field_value(row, name) for name in FIGURES[2:]))
        for key, row in full_list(client).items()
    }
    figures = snapshot_figures(snapshot=today)
    assert figures.rows == shown
    assert figures.observations == 4  # the private model counted, not shown


def example_row(key_: int, hub_id: str, *, downloads: int, likes: int, rank: int) -> dict:
    return {
        "id": hub_id,
        "key": key_,
        "downloads": downloads,
        "downloads_all_time": None,
        "likes": likes,
        "trending_score": 1.0,
        "last_modified": None,
        "rank": rank,
        "rank_change_24h": None,
        "delta_24h": {"downloads": None, "likes": None, "new": None},
        "delta_7d": {"downloads": None, "likes": None, "new": None},
        "snapshot": {"id": 34, "taken_at": "2026-03-01T12:00:00Z"},
    }


def test_the_worked_example_of_the_format_holds():
    from api.v4.changes_codec import FIGURES, changes_encode, field_value

    held = {
        7: example_row(7, "acme/seven", downloads=1000, likes=10, rank=2),
        9: example_row(9, "acme/nine", downloads=1200, likes=10, rank=1),
    }
    then = {
        7: example_row(7, "acme/seven", downloads=1500, likes=10, rank=1),
        9: example_row(9, "acme/nine", downloads=1300, likes=10, rank=2),
    }
    then[7].update(rank_change_24h=1, delta_24h={"downloads": 500, "likes": 0, "new": False})
    then[9].update(rank_change_24h=-1, delta_24h={"downloads": 100, "likes": 0, "new": False})

    def figures(rows):
        return {
            k: tuple(field_value(r, n) if "." in n else r[n] for n in FIGURES)
            for k, r in rows.items()
        }

    removed, added, updated, changed = changes_encode(
        old=figures(held), new=figures(then), derive_24h=True
    )
    assert (removed, added, updated) == ([], [], [])
    assert changed == {"downloads": [[7, 2], [500, 100]]}
    snapshot = {"id": 35, "taken_at": "2026-03-02T12:00:00Z"}
    feed = {
        "since": {"id": 34},
        "snapshot": snapshot,
        "baseline_24h": 34,
        "count": 2,
        "removed": [],
        "added": [],
        "updated": [],
        "changed": changed,
    }
    applied = changes_apply(held, feed)
    assert applied == {k: {**row, "snapshot": snapshot} for k, row in then.items()}
    assert held[7]["downloads"] == 1000  # the state given is left as it was
