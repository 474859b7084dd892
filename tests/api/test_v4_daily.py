"""v4's daily and weekly downloads: differences of all-time counts, from the daily history."""

import csv
import io
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from registry.models import HubModel
from snapshots.daily import daily_rows_write
from snapshots.models import DailyObservation, Snapshot
from tests.api.callers import on_plan
from tests.factories import T0, days, hub_record, published_snapshot
from tests.snapshots.hub_days import all_time_by_day, expected_difference, hub_days

pytestmark = pytest.mark.django_db


def get_json(client, url: str, status: int = 200, **extra) -> dict:
    response = client.get(url, **extra)
    assert response.status_code == status, response.content
    return json.loads(response.content)


def every_row(client, query: str = "") -> list[dict]:
    """The whole list, page by page through the `next` links."""
    rows, url = [], f"/api/v4/models?limit=100{query}"
    while url:
        body = get_json(client, url)
        rows.extend(body["results"])
        url = body["next"]
    return rows


def seen(hub_id: str, all_time: int | None, **fields) -> dict:
    return hub_record(hub_id, downloadsAllTime=all_time, **fields)


# --- Exact on synthetic consecutive days --------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return hub_days(tmp_path_factory.mktemp("hub-days"), models=300, days=9)


def test_daily_and_weekly_downloads_are_the_differences_of_all_time_counts(
    client, generated, django_capture_on_commit_callbacks
):
    all_time = all_time_by_day(generated)
    checked = daily_known = weekly_known = 0
    for path in generated:
        # The publish retires cached answers on commit: run that hook.
        with django_capture_on_commit_callbacks(execute=True):
            call_command("import_snapshots", str(path), stdout=StringIO(), stderr=StringIO())
        rows = every_row(client)
        day = Snapshot.objects.get(pk=rows[0]["snapshot"]["id"]).taken_at.date()
        assert len(rows) == len(all_time[day])
        for row in rows:
            assert row["daily_downloads"] == expected_difference(all_time, day, row["id"], 1), row
            assert row["weekly_downloads"] == expected_difference(all_time, day, row["id"], 7), row
            checked += 1
            daily_known += row["daily_downloads"] is not None
            weekly_known += row["weekly_downloads"] is not None
    assert checked == sum(len(models) for models in all_time.values())
    assert daily_known > 2000  # every day but the first, models that entered aside
    assert weekly_known > 500  # the last two days have a week behind them


def test_the_sorts_follow_the_figures_unknown_last(client, generated):
    call_command("import_snapshots", *map(str, generated), stdout=StringIO(), stderr=StringIO())
    for sort, figure in (
        ("-daily_downloads", "daily_downloads"),
        ("daily_downloads", "daily_downloads"),
        ("-weekly_downloads", "weekly_downloads"),
    ):
        rows = every_row(client, f"&sort={sort}")
        known = [row for row in rows if row[figure] is not None]
        unknown = [row for row in rows if row[figure] is None]
        assert rows == known + unknown, sort
        descending = sort.startswith("-")
        assert known, sort
        assert [(r[figure], r["id"]) for r in known] == sorted(
            ((r[figure], r["id"]) for r in known),
            key=lambda pair: (-pair[0] if descending else pair[0], pair[1]),
        ), sort
        assert unknown == sorted(unknown, key=lambda r: r["id"])


def test_the_export_carries_and_sorts_by_them(client, generated):
    call_command("import_snapshots", *map(str, generated), stdout=StringIO(), stderr=StringIO())
    listed = {row["id"]: row for row in every_row(client)}
    response = client.get("/api/v4/export.csv?sort=-weekly_downloads", **on_plan("enterprise"))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    lines = list(csv.DictReader(io.StringIO(text)))
    assert len(lines) == len(listed)
    for line in lines:
        row = listed[line["id"]]
        for figure in ("daily_downloads", "weekly_downloads"):
            assert line[figure] == ("" if row[figure] is None else str(row[figure]))
    weekly = [int(line["weekly_downloads"]) for line in lines if line["weekly_downloads"]]
    assert weekly == sorted(weekly, reverse=True) and weekly


# --- Gaps, the first day, the fallback ------------------------------------------------------


def test_a_models_first_day_and_a_day_after_a_gap_are_null(client):
    published_snapshot([seen("a/steady", 100), seen("a/patchy", 50)], taken_at=T0)
    published_snapshot([seen("a/steady", 150)], taken_at=T0 + days(1))
    published_snapshot(
        [seen("a/steady", 210), seen("a/patchy", 90), seen("a/new", 7)], taken_at=T0 + days(2)
    )
    rows = {row["id"]: row for row in every_row(client)}
    assert rows["a/steady"]["daily_downloads"] == 60
    assert rows["a/patchy"]["daily_downloads"] is None  # unseen the day before: a gap
    assert rows["a/new"]["daily_downloads"] is None  # its first day
    assert {row["weekly_downloads"] for row in rows.values()} == {None}  # no week behind


def test_without_a_row_for_the_day_it_takes_the_newest_within_two_days(client):
    for n, all_time in enumerate((100, 130, 175, 240)):
        published_snapshot([seen("a/one", all_time)], taken_at=T0 + days(n))
    model = HubModel.objects.get(hub_id="a/one")
    last = (T0 + days(3)).date()
    DailyObservation.objects.filter(model=model, day=last).delete()
    assert get_json(client, "/api/v4/models")["results"][0]["daily_downloads"] == 45
    DailyObservation.objects.filter(model=model, day__gte=last - timedelta(days=2)).delete()
    from registry.caching import content_changed

    content_changed(reason="test")
    assert get_json(client, "/api/v4/models")["results"][0]["daily_downloads"] is None


def test_the_model_detail_has_the_daily_series_with_gaps_explicit(client):
    for n, all_time in ((0, 1_000), (1, 1_200), (3, 1_700), (4, 1_750)):
        published_snapshot([seen("a/one", all_time)], taken_at=T0 + days(n))
    body = get_json(client, "/api/v4/models/a/one?days=6")
    assert body["model"]["daily_downloads"] == 50
    assert body["model"]["weekly_downloads"] is None
    first = T0.date()
    assert body["daily"] == [
        {
            "date": (first - timedelta(days=1)).isoformat(),
            "downloads_all_time": None,
            "daily_downloads": None,
            "gap": True,
        },
        {
            "date": first.isoformat(),
            "downloads_all_time": 1_000,
            "daily_downloads": None,
            "gap": False,
        },
        {
            "date": (first + timedelta(days=1)).isoformat(),
            "downloads_all_time": 1_200,
            "daily_downloads": 200,
            "gap": False,
        },
        {
            "date": (first + timedelta(days=2)).isoformat(),
            "downloads_all_time": None,
            "daily_downloads": None,
            "gap": True,
        },
        {
            "date": (first + timedelta(days=3)).isoformat(),
            "downloads_all_time": 1_700,
            "daily_downloads": None,  # never (1_700 - 1_200) / 2
            "gap": False,
        },
        {
            "date": (first + timedelta(days=4)).isoformat(),
            "downloads_all_time": 1_750,
            "daily_downloads": 50,
            "gap": False,
        },
    ]
    assert len(get_json(client, "/api/v4/models/a/one")["daily"]) == 30
    assert len(get_json(client, "/api/v4/models/a/one?days=365")["daily"]) == 365


@pytest.mark.parametrize("days_", ["0", "-1", "x", "3661"])
def test_a_bad_days_parameter_is_a_400_naming_it(client, days_):
    published_snapshot([seen("a/one", 1)], taken_at=T0)
    error = get_json(client, f"/api/v4/models/a/one?days={days_}", status=400)["error"]
    assert set(error["fields"]) == {"days"}


# --- Daily snapshots ---------------------------------------------------------------------


def test_a_newer_daily_crawl_is_never_served_but_its_figures_count(client):
    published_snapshot([seen("a/one", 1_000)], taken_at=T0)
    hourly = published_snapshot([seen("a/one", 1_100)], taken_at=T0 + days(1))
    crawl = Snapshot.objects.create(
        status=Snapshot.Status.RUNNING,
        kind=Snapshot.Kind.DAILY,
        taken_at=T0 + days(1) + timedelta(hours=6),
        started_at=T0 + days(1),
    )
    with transaction.atomic():
        daily_rows_write(
            snapshot=crawl, rows=[(HubModel.objects.get(hub_id="a/one").pk, 9, 1_160, 3, 1.0)]
        )
        crawl.status = Snapshot.Status.COMPLETE
        crawl.save()
    from registry.caching import content_changed

    content_changed(reason="test")
    body = get_json(client, "/api/v4/models")
    assert body["snapshot"]["id"] == hourly.pk
    # The day's latest sighting (the crawl's) is the day's figure.
    assert body["results"][0]["daily_downloads"] == 160
    assert get_json(client, "/api/v4/models/a/one")["snapshot"]["id"] == hourly.pk


# --- Cost ---------------------------------------------------------------------------------


def test_the_list_sorted_by_daily_downloads_takes_a_fixed_number_of_queries(client):
    def queries_for(n: int, prefix: str) -> int:
        records = [seen(f"{prefix}/m{i}", 1_000 + i) for i in range(n)]
        published_snapshot(records, taken_at=T0 + days(n))
        published_snapshot(
            [seen(f"{prefix}/m{i}", 1_000 + i * 7) for i in range(n)], taken_at=T0 + days(n + 1)
        )
        caller = on_plan("pro")
        client.get("/api/v4/tags", **caller)
        from django.core.cache import cache

        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            body = get_json(client, "/api/v4/models?limit=500&sort=-daily_downloads", **caller)
        assert len(body["results"]) >= n
        assert body["results"][0]["daily_downloads"] == (n - 1) * 6
        return len(captured)

    assert queries_for(3, "few") == queries_for(40, "many") == 7


# --- The leaderboard page ----------------------------------------------------------------


def test_the_board_shows_downloads_per_day_and_sorts_by_them(client):
    published_snapshot([seen("a/slow", 1_000), seen("a/fast", 5_000)], taken_at=T0)
    published_snapshot(
        [seen("a/slow", 1_100, downloads=900), seen("a/fast", 7_500, downloads=10)],
        taken_at=T0 + days(1),
    )
    page = client.get("/").content.decode()
    assert "Downloads/day" in page and 'href="?sort=-daily_downloads"' in page
    assert 'title="2,500"' in page and ">2.5k<" in page
    assert page.index("a/slow") < page.index("a/fast")  # by rank: 30-day downloads
    page = client.get("/?sort=-daily_downloads").content.decode()
    assert page.index("a/fast") < page.index("a/slow")
