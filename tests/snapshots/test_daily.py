"""The daily history: written at publish, the day's latest sighting winning, true daily figures."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

from registry.models import HubModel
from snapshots import selectors
from snapshots.daily import (
    daily_downloads_recompute,
    daily_history_backfill,
    daily_rows_write,
    snapshot_day,
)
from snapshots.models import DailyObservation, Snapshot
from tests.factories import T0, days, hub_record, published_snapshot
from tests.snapshots.hub_days import FIRST, all_time_by_day, expected_difference, hub_days

pytestmark = pytest.mark.django_db

DAY = T0.date()


def figures(hub_id: str) -> dict[date, tuple]:
    """day → (downloads_all_time, daily_downloads, snapshot id) of one model."""
    return {
        row.day: (row.downloads_all_time, row.daily_downloads, row.snapshot_id)
        for row in DailyObservation.objects.filter(model__hub_id=hub_id)
    }


def on_day(n: int, hours: int = 0):
    return T0 + days(n) + timedelta(hours=hours)


def seen(hub_id: str, all_time: int | None, **fields) -> dict:
    return hub_record(hub_id, downloadsAllTime=all_time, **fields)


def daily_snapshot(taken_at) -> Snapshot:
    return Snapshot.objects.create(
        status=Snapshot.Status.RUNNING,
        kind=Snapshot.Kind.DAILY,
        taken_at=taken_at,
        started_at=taken_at,
    )


# --- Written at publish ------------------------------------------------------------


def test_the_first_day_has_no_daily_downloads_and_the_next_day_the_difference():
    first = published_snapshot([seen("a/one", 1_000)], taken_at=on_day(0))
    second = published_snapshot([seen("a/one", 1_250)], taken_at=on_day(1))
    assert figures("a/one") == {
        DAY: (1_000, None, first.pk),
        DAY + timedelta(days=1): (1_250, 250, second.pk),
    }


def test_a_missing_day_is_a_gap_never_interpolated():
    published_snapshot([seen("a/one", 1_000), seen("a/two", 10)], taken_at=on_day(0))
    published_snapshot([seen("a/two", 20)], taken_at=on_day(1))  # a/one not seen
    published_snapshot([seen("a/one", 1_300), seen("a/two", 30)], taken_at=on_day(2))
    rows = figures("a/one")
    assert DAY + timedelta(days=1) not in rows  # no row: a gap
    assert rows[DAY + timedelta(days=2)][:2] == (1_300, None)  # not (1_300 - 1_000) / 2
    assert figures("a/two")[DAY + timedelta(days=2)][:2] == (30, 10)


def test_an_unknown_all_time_count_on_either_side_gives_null():
    published_snapshot([seen("a/one", None)], taken_at=on_day(0))
    published_snapshot([seen("a/one", 500)], taken_at=on_day(1))
    published_snapshot([seen("a/one", None)], taken_at=on_day(2))
    assert [row[1] for _, row in sorted(figures("a/one").items())] == [None, None, None]


def test_the_days_latest_sighting_wins_whatever_the_publishing_order():
    published_snapshot([seen("a/one", 100)], taken_at=on_day(0, hours=-2))
    evening = published_snapshot([seen("a/one", 180)], taken_at=on_day(0, hours=8))
    # Taken between the two, published last: it must not replace the evening's figures.
    published_snapshot([seen("a/one", 150), seen("a/two", 5)], taken_at=on_day(0))
    next_day = published_snapshot([seen("a/one", 300)], taken_at=on_day(1))
    assert figures("a/one") == {
        DAY: (180, None, evening.pk),
        DAY + timedelta(days=1): (300, 120, next_day.pk),
    }
    assert set(figures("a/two")) == {DAY}  # absent in the evening: noon is its latest


def test_a_day_written_out_of_order_fixes_the_next_days_daily_downloads():
    published_snapshot([seen("a/one", 1_000)], taken_at=on_day(0))
    published_snapshot([seen("a/one", 1_900)], taken_at=on_day(2))
    assert figures("a/one")[DAY + timedelta(days=2)][1] is None  # a gap so far
    published_snapshot([seen("a/one", 1_400)], taken_at=on_day(1))  # imported late
    rows = figures("a/one")
    assert rows[DAY + timedelta(days=1)][:2] == (1_400, 400)
    assert rows[DAY + timedelta(days=2)][:2] == (1_900, 500)


def test_a_later_sighting_of_a_day_fixes_the_next_day_too():
    published_snapshot([seen("a/one", 1_000)], taken_at=on_day(0, hours=-6))
    published_snapshot([seen("a/one", 1_500)], taken_at=on_day(1))
    published_snapshot([seen("a/one", 1_200)], taken_at=on_day(0, hours=6))  # late, same day
    rows = figures("a/one")
    assert rows[DAY][0] == 1_200
    assert rows[DAY + timedelta(days=1)][1] == 300


def test_it_files_a_sighting_under_its_utc_day():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    snapshot = published_snapshot(
        [seen("a/one", 1)], taken_at=datetime(2026, 3, 2, 0, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    )
    assert snapshot_day(snapshot) == date(2026, 3, 1)
    assert set(figures("a/one")) == {date(2026, 3, 1)}


def test_counts_beyond_32_bits_come_back_exactly():
    published_snapshot([seen("a/big", 9_000_000_000_000_000)], taken_at=on_day(0))
    published_snapshot(
        [seen("a/big", 9_000_000_000_000_000 + 3_000_000_000, likes=3_000_000_000)],
        taken_at=on_day(1),
    )
    row = DailyObservation.objects.get(model__hub_id="a/big", day=DAY + timedelta(days=1))
    assert (row.downloads_all_time, row.daily_downloads, row.likes) == (
        9_000_003_000_000_000,
        3_000_000_000,
        3_000_000_000,
    )


# --- The daily crawl's writer ----------------------------------------------------------


def test_daily_rows_write_stores_the_days_figures_the_last_tuple_of_a_model_winning():
    published_snapshot([seen("a/one", 1_000), seen("a/two", 50)], taken_at=on_day(0))
    one, two = (HubModel.objects.get(hub_id=h).pk for h in ("a/one", "a/two"))
    crawl = daily_snapshot(on_day(1, hours=10))
    with transaction.atomic():
        written = daily_rows_write(
            snapshot=crawl,
            rows=iter(
                [
                    (one, 30, 1_100, 7, 1.5),
                    (two, 3, 60, 1, None),
                    (one, 31, 1_111, 8, 2.5),  # given twice: the last counts
                ]
            ),
        )
    assert written == 2
    row = DailyObservation.objects.get(model_id=one, day=DAY + timedelta(days=1))
    assert (row.snapshot_id, row.downloads, row.downloads_all_time, row.likes) == (
        crawl.pk,
        31,
        1_111,
        8,
    )
    assert (row.daily_downloads, row.trending_score) == (111, 2.5)
    assert figures("a/two")[DAY + timedelta(days=1)][:2] == (60, 10)


def test_daily_rows_write_keeps_a_later_sighting_and_fixes_the_next_day():
    published_snapshot([seen("a/one", 1_000)], taken_at=on_day(0))
    later = published_snapshot([seen("a/one", 1_300)], taken_at=on_day(1, hours=11))
    published_snapshot([seen("a/one", 1_500)], taken_at=on_day(2))
    one = HubModel.objects.get(hub_id="a/one").pk
    # A crawl of day 1 that finished before the hourly snapshot: the hourly one stays.
    with transaction.atomic():
        early = daily_snapshot(on_day(1, hours=-11))
        daily_rows_write(snapshot=early, rows=[(one, 1, 1_050, 1, 0)])
    assert figures("a/one")[DAY + timedelta(days=1)] == (1_300, 300, later.pk)
    # A crawl of day 0 later than its snapshot: it wins, and day 1 follows it.
    with transaction.atomic():
        late = daily_snapshot(on_day(0, hours=11))
        daily_rows_write(snapshot=late, rows=[(one, 1, 1_100, 1, 0)])
    rows = figures("a/one")
    assert rows[DAY][0] == 1_100
    assert rows[DAY + timedelta(days=1)][1] == 200


def test_a_daily_snapshot_is_never_the_leaderboard():
    hourly = published_snapshot([seen("a/one", 1_000)], taken_at=on_day(0))
    crawl = daily_snapshot(on_day(0, hours=6))
    with transaction.atomic():
        daily_rows_write(
            snapshot=crawl, rows=[(HubModel.objects.get(hub_id="a/one").pk, 1, 1_010, 1, 0)]
        )
        crawl.status = Snapshot.Status.COMPLETE
        crawl.save()
    assert Snapshot.objects.visible().order_by("-taken_at").first() == crawl
    assert selectors.latest_snapshot() == hourly
    assert selectors.latest_snapshot_id() == hourly.pk


def test_publishing_an_observation_snapshot_writes_in_its_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        published_snapshot([seen("a/one", 1_000)], taken_at=on_day(0))
        assert DailyObservation.objects.count() == 1
        raise RuntimeError("the publish is rolled back")
    assert not DailyObservation.objects.exists()


# --- Backfill ------------------------------------------------------------------------


def test_the_backfill_rebuilds_the_history_from_the_observations_held():
    for n, all_time in enumerate((100, 130, 175)):
        published_snapshot([seen("a/one", all_time)], taken_at=on_day(n))
    before = figures("a/one")
    DailyObservation.objects.all().delete()
    result = daily_history_backfill()
    assert (result.snapshots, result.rows) == (3, 3)
    assert figures("a/one") == before
    assert [row[1] for _, row in sorted(before.items())] == [None, 30, 45]


def test_the_backfill_fills_daily_downloads_of_rows_carried_over_without_them():
    model = HubModel.objects.create(hub_id="a/old", first_seen_at=T0)
    for n, all_time in enumerate((10, 25, None, 40)):
        DailyObservation.objects.create(
            model=model, day=DAY - timedelta(days=40 - n), downloads_all_time=all_time
        )
    DailyObservation.objects.create(model=model, day=DAY, downloads_all_time=99)
    assert daily_downloads_recompute() == 5
    assert [
        d
        for d in DailyObservation.objects.filter(model=model)
        .order_by("day")
        .values_list("daily_downloads", flat=True)
    ] == [None, 15, None, None, None]


def test_the_backfill_command_says_what_it_did():
    published_snapshot([seen("a/one", 1)], taken_at=on_day(0))
    out = StringIO()
    call_command("backfill_daily", stdout=out)
    assert out.getvalue().strip() == (
        "Wrote 1 daily history row(s) from 1 snapshot(s); daily downloads set on 1 row(s)."
    )


# --- Synthetic consecutive days --------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return hub_days(tmp_path_factory.mktemp("hub-days"), models=300, days=9)


def import_days(paths) -> None:
    call_command("import_snapshots", *map(str, paths), stdout=StringIO(), stderr=StringIO())


def stored() -> dict[tuple[date, str], tuple]:
    return {
        (day, hub_id): (all_time, daily)
        for day, hub_id, all_time, daily in DailyObservation.objects.values_list(
            "day", "model__hub_id", "downloads_all_time", "daily_downloads"
        )
    }


def expected_rows(paths) -> dict[tuple[date, str], tuple]:
    all_time = all_time_by_day(paths)
    return {
        (day, hub_id): (value, expected_difference(all_time, day, hub_id, 1))
        for day, models in all_time.items()
        for hub_id, value in models.items()
    }


def test_generated_days_give_the_differences_of_all_time_downloads_for_every_model(generated):
    import_days(generated)
    expected = expected_rows(generated)
    assert stored() == expected
    # Churn: models enter and leave, so first days (null) and known days both occur.
    known = [daily for _, daily in expected.values() if daily is not None]
    assert len(known) > 2000 and any(daily is None for _, daily in expected.values())


def test_generated_days_imported_out_of_order_end_the_same(generated):
    order = [generated[i] for i in (4, 0, 8, 2, 1, 3, 6, 5, 7)]
    for path in order:
        import_days([path])
    assert stored() == expected_rows(generated)


def test_a_day_left_out_leaves_gaps_after_it(generated):
    kept = [path for n, path in enumerate(generated) if n != 3]
    import_days(kept)
    rows = stored()
    missing_day = FIRST.date() + timedelta(days=3)
    assert not any(day == missing_day for day, _ in rows)
    after = [daily for (day, _), (_, daily) in rows.items() if day == missing_day + timedelta(1)]
    assert after and all(daily is None for daily in after)
    assert rows == expected_rows(kept)


def test_deleting_a_model_deletes_its_daily_history():
    published_snapshot([seen("a/one", 1), seen("a/two", 2)], taken_at=on_day(0))
    published_snapshot([seen("a/one", 3), seen("a/two", 4)], taken_at=on_day(1))
    HubModel.objects.filter(hub_id="a/one").delete()
    assert set(DailyObservation.objects.values_list("model__hub_id", flat=True)) == {"a/two"}
    assert DailyObservation.objects.count() == 2
