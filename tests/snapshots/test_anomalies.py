"""Anomaly detection: robust z-scores of daily velocity on hand-made series, end to end."""

from __future__ import annotations

import random
from datetime import timedelta
from itertools import accumulate

import pytest
from django.core.management import call_command

from snapshots.anomalies import (
    Level,
    Thresholds,
    anomalies_backfill,
    anomalies_for,
    anomaly_events,
    judge_model,
    robust_z,
    velocities,
)
from snapshots.models import Anomaly, ScoringProfile
from tests.factories import T0, days, hub_record, published_snapshot

# A profile as the tests judge with: z ≥ 3.5, at least 100 downloads or 5 likes a day more.
STRICT = Thresholds(slug="test", z=3.5, min_downloads=100, min_likes=5)
DAY0 = T0.date()


def levels_from_daily(daily: list[float], *, likes: list[float] | None = None) -> dict:
    """Day → Level whose all-time downloads grow by `daily[i]` on day i."""
    totals = list(accumulate(daily, initial=1_000_000))
    like_totals = list(accumulate(likes, initial=100)) if likes else [None] * len(totals)
    return {
        DAY0 + timedelta(days=i): Level(int(total), 5000, None if lk is None else int(lk))
        for i, (total, lk) in enumerate(zip(totals, like_totals, strict=True))
    }


def judge_last_day(daily: list[float], thresholds=(STRICT,), likes=None):
    levels = levels_from_daily(daily, likes=likes)
    return judge_model(1, levels, max(levels), list(thresholds))


# --- Hand-made series ----------------------------------------------------------------


def test_a_spike_is_flagged():
    findings = judge_last_day([1000, 1040, 980, 1010, 995, 1030, 970, 1005, 1020, 990] * 2 + [5000])
    assert len(findings) == 1
    finding = findings[0]
    assert (finding.metric, finding.basis) == ("downloads", "all_time")
    j = finding.judgement
    assert j.value == 5000 and j.history_days == 14
    assert j.median == pytest.approx(1002.5)
    assert j.z > 50


def test_a_flat_series_is_not_flagged():
    assert judge_last_day([1000] * 20) == []
    judgement = robust_z(1000, [1000] * 14)
    assert judgement.z == 0 and judgement.mad == 0


def test_a_flat_series_that_jumps_is_flagged_although_its_mad_is_zero():
    findings = judge_last_day([1000] * 20 + [1500])
    assert [f.metric for f in findings] == ["downloads"]
    assert findings[0].judgement.mad == 0
    # No spread at all: the floor of one download a day stands in.
    assert findings[0].judgement.scale == 1.0


def test_a_mostly_flat_series_uses_the_mean_absolute_deviation():
    judgement = robust_z(1300, [1000] * 12 + [1200, 800])
    assert judgement.mad == 0
    assert judgement.scale == pytest.approx(1.2533 * 400 / 14)
    assert judgement.z == pytest.approx(300 / (1.2533 * 400 / 14))


def test_a_noisy_series_is_not_flagged():
    rng = random.Random(7)
    # ±30% uniform noise: MAD ≈ 15%, so no day is more than ~1.4 robust sigmas out.
    for _ in range(50):
        daily = [1000 * (1 + rng.uniform(-0.3, 0.3)) for _ in range(21)]
        assert judge_last_day(daily) == []


def test_steadily_growing_series_are_not_flagged():
    assert judge_last_day([1000 + 50 * i for i in range(21)]) == []  # linear
    assert judge_last_day([1000 * 1.05**i for i in range(21)]) == []  # 5% a day, compounding


def test_a_spike_below_the_minimum_change_is_not_flagged():
    # z is huge (the series is flat) but 50 more downloads a day is below the minimum.
    assert judge_last_day([10] * 20 + [60]) == []
    assert judge_last_day([10] * 20 + [110]) != []


def test_each_profile_s_thresholds_decide():
    lenient = Thresholds(slug="lenient", z=3, min_downloads=100, min_likes=5)
    strict = Thresholds(slug="strict", z=30, min_downloads=100, min_likes=5)
    daily = [1000, 1100, 900, 1050, 950] * 4 + [1700]  # z ≈ 9
    assert judge_last_day(daily, thresholds=[strict]) == []
    assert len(judge_last_day(daily, thresholds=[lenient, strict])) == 1


def test_too_little_history_is_not_judged():
    assert robust_z(5000, [1000] * 6) is None
    assert judge_last_day([1000] * 6 + [5000]) == []


def test_likes_are_judged_on_their_own():
    findings = judge_last_day([1000] * 21, likes=[3, 4, 2, 3, 5, 3, 4, 2, 3, 4] * 2 + [60])
    assert [(f.metric, f.basis) for f in findings] == [("likes", "likes")]


def test_velocity_spans_gaps_per_day_and_falls_back_to_the_30_day_count():
    levels = {
        DAY0: Level(None, 1000, 10),
        DAY0 + days(1): Level(None, 1300, 12),
        DAY0 + days(3): Level(None, 1900, 20),  # two days later: per day
        DAY0 + days(8): Level(None, 9000, 99),  # too far: no velocity
    }
    series = velocities(levels)
    assert series["downloads"] == {
        DAY0 + days(1): (300, "rolling_30d"),
        DAY0 + days(3): (300, "rolling_30d"),
    }
    assert series["likes"] == {DAY0 + days(1): (2, "likes"), DAY0 + days(3): (4, "likes")}


def test_all_time_basis_is_judged_only_against_all_time_days():
    levels = levels_from_daily([1000] * 15 + [5000])
    # Earlier days known only by their 30-day count: not comparable.
    for day in sorted(levels)[:10]:
        levels[day] = Level(None, 7000, None)
    assert judge_model(1, levels, max(levels), [STRICT]) == []  # 5 all-time days only


# --- End to end: publishes write rows, events, badges ----------------------------------


def publish_series(daily: dict[str, list[int]], *, start=T0, hour_offsets=(0,)):
    """One snapshot a day (or several), each model's all-time count growing by its series."""
    totals = {hub_id: 1_000_000 for hub_id in daily}
    snapshots = []
    length = len(next(iter(daily.values())))
    for i in range(length):
        for hub_id, series in daily.items():
            totals[hub_id] += series[i]
        for offset in hour_offsets:
            records = [
                hub_record(hub_id, downloadsAllTime=totals[hub_id], downloads=30 * series[i])
                for hub_id, series in daily.items()
            ]
            snapshots.append(
                published_snapshot(records, taken_at=start + days(i) + timedelta(hours=offset))
            )
    return snapshots


@pytest.mark.django_db
def test_publishing_flags_the_spike_and_only_it():
    flat = [1000] * 16
    spiky = [1000, 1020, 990, 1005, 1010, 995, 1000, 1015, 985, 1000, 1010, 990, 1005, 995, 1000]
    snapshots = publish_series({"acme/spiky": [*spiky, 9000], "acme/flat": flat})
    rows = list(Anomaly.objects.select_related("model"))
    assert [(a.model.hub_id, a.day, a.metric, a.basis) for a in rows] == [
        ("acme/spiky", (T0 + days(15)).date(), "downloads", "all_time")
    ]
    anomaly = rows[0]
    assert anomaly.value == 9000 and anomaly.median == 1000 and anomaly.snapshot == snapshots[-1]
    assert anomaly.change == 8000 and anomaly.history_days == 14
    # Production asks for at least 10,000 more downloads a day: not this one.
    events = anomaly_events(snapshots[-1])
    assert len(events) == 1
    event = events[0]
    assert event["type"] == "model.anomaly"
    assert event["id"] == f"anomaly_{anomaly.model_id}_{anomaly.day:%Y%m%d}_downloads"
    assert event["data"]["model"] == "acme/spiky"
    assert event["data"]["profiles"] == ["research", "community"]
    assert event["data"]["z"] == round(anomaly.z, 2)
    assert anomaly_events(snapshots[-2]) == []
    badges = anomalies_for(model_ids=[anomaly.model_id, 999], snapshot=snapshots[-1])
    assert badges == {anomaly.model_id: [anomaly], 999: []}


@pytest.mark.django_db
def test_a_later_snapshot_of_the_same_day_restates_the_day():
    publish_series({"acme/spiky": [1000] * 15 + [9000]})
    first = Anomaly.objects.get()
    # Later that day the count says 2,000 more downloads in all: still a spike, restated.
    later = published_snapshot(
        [hub_record("acme/spiky", downloadsAllTime=1_000_000 + 15_000 + 11_000)],
        taken_at=T0 + days(15) + timedelta(hours=3),
    )
    restated = Anomaly.objects.get()
    assert restated.pk == first.pk and restated.snapshot_id == first.snapshot_id
    assert restated.value == 11_000
    assert anomaly_events(later) == []  # found before: no second event
    # And when the day's closing count turns out ordinary, the anomaly goes.
    published_snapshot(
        [hub_record("acme/spiky", downloadsAllTime=1_000_000 + 15_000 + 1_000)],
        taken_at=T0 + days(15) + timedelta(hours=6),  # T0 is noon: still the same UTC day
    )
    assert not Anomaly.objects.exists()


@pytest.mark.django_db
def test_thresholds_come_from_the_profiles():
    ScoringProfile.objects.all().update(anomaly_z_threshold=1000)
    publish_series({"acme/spiky": [1000, 1010, 990] * 5 + [9000]})
    assert not Anomaly.objects.exists()
    ScoringProfile.objects.filter(slug="community").update(anomaly_z_threshold=3)
    results = anomalies_backfill()
    assert sum(r.created for r in results) == 1
    assert Anomaly.objects.get().day == (T0 + days(15)).date()


@pytest.mark.django_db
def test_the_backfill_command_matches_what_publishing_found(capsys):
    publish_series({"acme/spiky": [1000] * 15 + [9000, 1000], "acme/flat": [500] * 17})
    before = list(Anomaly.objects.values_list("model_id", "day", "metric", "z", "snapshot_id"))
    Anomaly.objects.all().delete()
    call_command("detect_anomalies", "--list")
    after = list(Anomaly.objects.values_list("model_id", "day", "metric", "z", "snapshot_id"))
    assert after == before and len(after) == 1
    out = capsys.readouterr().out
    assert "Judged 17 day(s): 1 anomaly(ies) stored." in out
    assert "acme/spiky  downloads (all_time): 9,000/day vs median 1,000" in out


@pytest.mark.django_db
def test_the_model_page_lists_the_model_s_anomalies(client):
    publish_series({"acme/spiky": [1000] * 15 + [9000], "acme/flat": [1000] * 16})
    html = client.get("/models/acme/spiky").content.decode()
    section = html[html.index('id="anomalies-h"') : html.index('class="facts"')]
    assert "2026-03-16" in section and "⚡ daily downloads" in section
    assert "9000 a day against a median of 1000 over the previous 14 days" in section
    assert 'id="anomalies-h"' not in client.get("/models/acme/flat").content.decode()


def test_a_slowing_decline_is_not_a_spike():
    # The 30-day count falls 5,000 a day, then only 1,000: z is high but nothing was picked up.
    levels = {}
    count = 500_000
    for i in range(20):
        count -= 1000 if i == 19 else 5000 + (i % 3) * 100
        levels[DAY0 + days(i)] = Level(None, count, None)
    series = velocities(levels)["downloads"]
    assert series[DAY0 + days(19)] == (-1000, "rolling_30d")
    assert judge_model(1, levels, DAY0 + days(19), [STRICT]) == []
    assert STRICT.flags("downloads", z=40, change=4000, value=-1000) is False


@pytest.mark.django_db
def test_the_prefilter_keeps_every_model_that_judging_all_would_flag():
    from snapshots.anomalies import _model_levels, all_thresholds, day_closers, findings_for_day

    rng = random.Random(5)
    series = {}
    for n in range(30):
        base = rng.choice([3, 50, 800, 5000])
        daily = [base * (1 + rng.uniform(-0.2, 0.2)) for _ in range(16)]
        if n % 3 == 0:
            daily[-1] *= rng.choice([2, 5, 20])  # some spike, some barely
        series[f"p/m{n}"] = [int(v) for v in daily]
    publish_series(series)
    day = (T0 + days(15)).date()
    thresholds = all_thresholds()
    closers = day_closers(day - days(17), day)
    every = [
        finding
        for model_id, levels in _model_levels(day, closers, None)
        for finding in judge_model(model_id, levels, day, thresholds)
    ]
    assert findings_for_day(day) == every
    assert len(every) >= 3


@pytest.mark.django_db
def test_badges_and_the_row_summary_follow_the_profile():
    from snapshots.anomalies import anomaly_summary

    snapshots = publish_series({"acme/spiky": [1000] * 15 + [9000]})
    model_id = Anomaly.objects.get().model_id
    production = ScoringProfile.objects.get(slug="production")  # needs 10,000 more a day
    research = ScoringProfile.objects.get(slug="research")
    assert anomalies_for(model_ids=[model_id], snapshot=snapshots[-1], profile=production) == {
        model_id: []
    }
    [found] = anomalies_for(model_ids=[model_id], snapshot=snapshots[-1], profile=research)[
        model_id
    ]
    assert anomaly_summary(found) == {
        "day": "2026-03-16",
        "metric": "downloads",
        "value": 9000.0,
        "median": 1000.0,
        "z": 8000.0,
    }
    assert anomaly_summary(None) is None
    # Two days on, the badge is gone.
    later = published_snapshot([hub_record("acme/spiky")], taken_at=T0 + days(17))
    assert anomalies_for(model_ids=[model_id], snapshot=later) == {model_id: []}


@pytest.mark.django_db
def test_an_archive_imported_late_is_taken_into_the_days_after_it(tmp_path):
    import json

    # Days 0–15 imported without day 4: day 15's spike has 13 days of history.
    totals = [1_000_000 + 1000 * i for i in range(15)] + [1_000_000 + 14_000 + 9000]
    files = []
    for i, total in enumerate(totals):
        path = tmp_path / f"day{i:02d}.json"
        taken_at = (T0 + days(i)).isoformat()
        record = hub_record("acme/late", downloadsAllTime=total)
        path.write_text(json.dumps({"fetched_at": taken_at, "models": [record]}))
        files.append(str(path))
    call_command("import_snapshots", *files[:4], *files[5:], "--no-progress", verbosity=0)
    assert Anomaly.objects.get().history_days == 13
    call_command("import_snapshots", files[4], "--no-progress", verbosity=0)
    assert Anomaly.objects.get().history_days == 14
