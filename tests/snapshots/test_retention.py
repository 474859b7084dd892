"""Retention: observations pruned after 30 days; the daily history kept (forever by default)."""

from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from registry.models import HubModel
from registry.records import parse_hub_record
from snapshots import retention
from snapshots.ingest import snapshot_ingest
from snapshots.models import DailyObservation, Observation, Snapshot
from snapshots.retention import daily_history_rollup, observations_prune
from tests.factories import T0, days, hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db

DAY = T0.date()  # T0 is noon UTC


def daily_rows() -> dict[tuple[str, date], tuple]:
    return {
        (row.model.hub_id, row.day): (row.snapshot_id, row.downloads, row.likes)
        for row in DailyObservation.objects.select_related("model")
    }


def roll_up(*snapshots: Snapshot) -> int:
    return daily_history_rollup(snapshot_ids=[s.pk for s in snapshots])


# --- Daily history ------------------------------------------------------------------


def test_publishing_writes_the_days_daily_history():
    # Written at publish (snapshots.daily), not only when observations are pruned.
    published_snapshot(hub_records(3), taken_at=T0)
    later = published_snapshot(hub_records(3), taken_at=T0 + timedelta(hours=1))
    assert set(DailyObservation.objects.values_list("day", "snapshot_id")) == {(DAY, later.pk)}
    assert DailyObservation.objects.count() == 3


@pytest.mark.parametrize(
    "batches",
    [
        ["morning evening noon next_day"],  # one roll-up of them all
        ["evening", "noon morning", "next_day"],  # the evening first: it must stay
        ["morning", "noon", "evening", "next_day"],
        ["next_day", "noon", "evening", "morning"],
    ],
)
def test_it_keeps_one_row_per_model_and_day_the_latest_snapshot_winning(batches):
    snapshots = {
        "morning": published_snapshot(
            [hub_record("a/one", downloads=10, likes=1), hub_record("a/gone", downloads=5)],
            taken_at=T0 - timedelta(hours=4),
        ),
        "evening": published_snapshot(
            [hub_record("a/one", downloads=30, likes=3)], taken_at=T0 + timedelta(hours=8)
        ),
        # Taken between the two, published last: it must not replace the evening's figures.
        "noon": published_snapshot(
            [hub_record("a/one", downloads=20, likes=2), hub_record("a/gone", downloads=6)],
            taken_at=T0,
        ),
        "next_day": published_snapshot(
            [hub_record("a/one", downloads=40, likes=4)], taken_at=T0 + days(1)
        ),
    }
    for batch in batches:
        roll_up(*(snapshots[name] for name in batch.split()))
    assert daily_rows() == {
        ("a/one", DAY): (snapshots["evening"].pk, 30, 3),
        # absent in the evening: noon is its latest
        ("a/gone", DAY): (snapshots["noon"].pk, 6, 10),
        ("a/one", DAY + timedelta(days=1)): (snapshots["next_day"].pk, 40, 4),
    }


def test_it_files_a_snapshot_under_its_utc_day():
    from zoneinfo import ZoneInfo

    # 01:30 in Berlin on the 2nd is 00:30 UTC on the 2nd; 00:30 in New York is 05:30 UTC.
    one = published_snapshot(
        [hub_record("a/one")],
        taken_at=datetime(2026, 3, 2, 0, 30, tzinfo=ZoneInfo("America/New_York")),
    )
    two = published_snapshot(
        [hub_record("a/two")],
        taken_at=datetime(2026, 3, 1, 23, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    )
    roll_up(one, two)
    assert set(DailyObservation.objects.values_list("model__hub_id", "day")) == {
        ("a/one", date(2026, 3, 2)),
        ("a/two", date(2026, 3, 1)),
    }


def test_rolling_up_the_same_snapshot_twice_changes_nothing():
    snapshot = published_snapshot(hub_records(4), taken_at=T0)
    assert roll_up(snapshot) == 4
    before = daily_rows()
    roll_up(snapshot)
    assert daily_rows() == before and len(before) == 4


@pytest.mark.parametrize("status", [Snapshot.Status.PARTIAL, Snapshot.Status.FAILED])
def test_it_rolls_up_only_complete_snapshots(status):
    with transaction.atomic():
        unfinished = Snapshot.objects.create(status=status, taken_at=T0, started_at=T0)
        snapshot_ingest(
            snapshot=unfinished, records=[parse_hub_record(hub_record("a/one"))], seen_at=T0
        )
    assert roll_up(unfinished) == 0
    assert not DailyObservation.objects.exists()


@pytest.mark.parametrize("n", [3, 40])
def test_its_query_count_does_not_grow_with_the_number_of_models(n):
    earlier = published_snapshot(hub_records(n), taken_at=T0 - timedelta(hours=1))
    later = published_snapshot(hub_records(n), taken_at=T0)
    yesterday = published_snapshot(hub_records(n), taken_at=T0 - days(1))
    with CaptureQueriesContext(connection) as queries:
        roll_up(earlier, later, yesterday)
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    # The snapshots, then per snapshot one INSERT … SELECT and the next day's fix.
    assert len(statements) == 7, statements
    assert DailyObservation.objects.filter(day=DAY).values("snapshot_id").distinct().count() == 1
    assert set(DailyObservation.objects.values_list("snapshot_id", flat=True)) == {
        later.pk,
        yesterday.pk,
    }


def test_a_row_whose_snapshot_is_gone_is_replaced_by_any_snapshot_of_its_day():
    roll_up(
        published_snapshot([hub_record("a/one", downloads=10)], taken_at=T0 + timedelta(hours=6))
    )
    DailyObservation.objects.update(snapshot=None)
    earlier = published_snapshot([hub_record("a/one", downloads=7)], taken_at=T0)
    roll_up(earlier)
    assert daily_rows() == {("a/one", DAY): (earlier.pk, 7, 10)}


# --- Pruning ------------------------------------------------------------------------

NOW = T0 + days(40)


def three_snapshots():
    old = published_snapshot(hub_records(3), taken_at=NOW - days(35))
    recent = published_snapshot(hub_records(2), taken_at=NOW - days(29))
    latest = published_snapshot(hub_records(4), taken_at=NOW - days(1))
    return old, recent, latest


def test_it_prunes_observations_older_than_the_retention_and_keeps_the_snapshots():
    old, recent, latest = three_snapshots()
    result = observations_prune(now=NOW)
    assert (result.snapshots, result.observations, result.daily_observations) == (1, 3, 0)
    assert not Observation.objects.filter(snapshot=old).exists()
    assert Observation.objects.filter(snapshot=recent).count() == 2
    assert Observation.objects.filter(snapshot=latest).count() == 4
    old.refresh_from_db()  # the row and its metadata stay
    assert old.status == Snapshot.Status.COMPLETE and old.models_seen == 3
    # The daily history outlives the observations.
    assert DailyObservation.objects.filter(snapshot=old).count() == 3
    assert observations_prune(now=NOW).observations == 0  # nothing left to do


def test_the_retention_comes_from_the_setting_or_the_argument(settings):
    three_snapshots()
    settings.OBSERVATION_RETENTION_DAYS = 28
    assert observations_prune(now=NOW, dry_run=True).observations == 5
    assert observations_prune(now=NOW, older_than_days=60, dry_run=True).observations == 0


def test_it_never_prunes_the_snapshot_being_served():
    only = published_snapshot(hub_records(3), taken_at=NOW - days(100))
    assert observations_prune(now=NOW).observations == 0
    assert Observation.objects.filter(snapshot=only).count() == 3


def test_a_dry_run_counts_and_deletes_nothing():
    old, recent, _ = three_snapshots()
    roll_up(old, recent)
    DailyObservation.objects.filter(snapshot=old).update(day=(NOW - days(400)).date())
    result = observations_prune(now=NOW, daily_older_than_days=365, dry_run=True)
    assert (result.snapshots, result.observations, result.daily_observations) == (1, 3, 3)
    assert result.dry_run and result.rolled_up == 0
    assert Observation.objects.count() == 9 and DailyObservation.objects.count() == 9


def test_it_rolls_pruned_observations_up_into_the_daily_history():
    old, recent, latest = three_snapshots()
    DailyObservation.objects.all().delete()  # as an install from before publish wrote them
    result = observations_prune(now=NOW)
    assert (result.observations, result.rolled_up) == (3, 3)
    old_day = (NOW - days(35)).date()
    assert set(DailyObservation.objects.values_list("day", "snapshot_id")) == {(old_day, old.pk)}


def test_every_published_day_is_in_the_daily_history_before_any_prune():
    old, recent, latest = three_snapshots()
    assert set(DailyObservation.objects.values_list("snapshot_id", flat=True)) == {
        old.pk,
        recent.pk,
        latest.pk,
    }


def test_the_days_latest_snapshot_wins_across_prunes():
    # A day straddling the cutoff: its morning is pruned today, its evening tomorrow.
    morning = published_snapshot(
        [hub_record("a/one", downloads=10), hub_record("a/gone", downloads=5)],
        taken_at=NOW - days(31) - timedelta(hours=4),
    )
    evening = published_snapshot(
        [hub_record("a/one", downloads=30)], taken_at=NOW - days(31) + timedelta(hours=4)
    )
    published_snapshot([hub_record("a/one")], taken_at=NOW)  # the one being served
    day = morning.taken_at.date()
    expected = {
        ("a/one", day): (evening.pk, 30, 10),
        ("a/gone", day): (morning.pk, 5, 10),
    }
    assert observations_prune(now=NOW - days(1) + timedelta(hours=2)).snapshots == 1
    assert {key: row for key, row in daily_rows().items() if key[1] == day} == expected
    assert observations_prune(now=NOW).snapshots == 1
    assert {key: row for key, row in daily_rows().items() if key[1] == day} == expected


def test_a_failed_roll_up_deletes_nothing(monkeypatch):
    three_snapshots()

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(retention, "daily_history_rollup", broken)
    with pytest.raises(RuntimeError):
        observations_prune(now=NOW)
    assert Observation.objects.count() == 9


def test_it_deletes_in_batches(monkeypatch):
    monkeypatch.setattr(retention, "PRUNE_BATCH", 4)
    published_snapshot(hub_records(10), taken_at=NOW - days(40))
    published_snapshot(hub_records(9), taken_at=NOW - days(35))
    published_snapshot(hub_records(1), taken_at=NOW)
    assert observations_prune(now=NOW).observations == 19
    assert Observation.objects.count() == 1


def test_it_prunes_daily_history_past_its_retention(settings):
    settings.DAILY_HISTORY_DAYS = 365
    model = HubModel.objects.create(hub_id="a/one", first_seen_at=T0)
    today = NOW.astimezone(UTC).date()
    for age in (0, 365, 366, 500):
        DailyObservation.objects.create(model=model, day=today - timedelta(days=age), downloads=age)
    result = observations_prune(now=NOW)
    assert result.daily_observations == 2
    assert sorted(DailyObservation.objects.values_list("downloads", flat=True)) == [0, 365]


def test_by_default_it_keeps_the_daily_history_forever():
    model = HubModel.objects.create(hub_id="a/one", first_seen_at=T0)
    today = NOW.astimezone(UTC).date()
    for age in (0, 365, 5000):
        DailyObservation.objects.create(model=model, day=today - timedelta(days=age), downloads=age)
    assert observations_prune(now=NOW).daily_observations == 0
    assert sorted(DailyObservation.objects.values_list("downloads", flat=True)) == [0, 365, 5000]


def test_pruning_a_baseline_leaves_published_deltas_alone():
    published_snapshot([hub_record("a/one", downloads=100)], taken_at=NOW - days(32))
    later = published_snapshot([hub_record("a/one", downloads=160)], taken_at=NOW - days(31))
    published_snapshot([hub_record("a/one", downloads=200)], taken_at=NOW)
    observations_prune(now=NOW, older_than_days=31, daily_older_than_days=365)
    assert Observation.objects.get(snapshot=later).delta_downloads_24h == 60


def test_the_command_prints_counts(settings):
    three_snapshots()
    settings.OBSERVATION_RETENTION_DAYS = (
        datetime.now(UTC) - NOW
    ).days + 30  # the command prunes relative to the wall clock
    out = StringIO()
    call_command("prune_observations", "--dry-run", stdout=out)
    assert out.getvalue().strip() == (
        "Would prune 3 observation(s) of 1 snapshot(s) and 0 daily history row(s)."
    )
    assert Observation.objects.count() == 9
    out = StringIO()
    call_command("prune_observations", stdout=out)
    assert out.getvalue().startswith("Pruned 3 observation(s) of 1 snapshot(s)")
    assert Observation.objects.count() == 6


def test_the_task_prunes_and_beat_runs_it_daily_with_an_expiry(settings):
    from snapshots.tasks import prune_observations

    three_snapshots()
    settings.OBSERVATION_RETENTION_DAYS = (datetime.now(UTC) - NOW).days + 30
    assert prune_observations.delay().get() == 3
    entry = settings.CELERY_BEAT_SCHEDULE["prune-observations"]
    assert entry["task"] == "snapshots.tasks.prune_observations"
    assert entry["schedule"] == timedelta(days=1)
    assert 0 < entry["options"]["expires"] < entry["schedule"].total_seconds()


def test_the_defaults_are_thirty_days_and_forever():
    assert (settings.OBSERVATION_RETENTION_DAYS, settings.DAILY_HISTORY_DAYS) == (30, 0)
