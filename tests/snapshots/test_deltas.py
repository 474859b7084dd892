"""Deltas, "new" and rank movement: the baseline rule and the figures it gives."""

import json
import math
import random
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry.records import parse_hub_record
from snapshots import deltas
from snapshots.deltas import (
    WINDOW_7D,
    WINDOW_24H,
    baseline_for,
    snapshot_compute_deltas,
    snapshots_recompute_deltas,
)
from snapshots.ingest import OBSERVATION_COLUMNS, snapshot_ingest
from snapshots.models import Observation, Snapshot
from tests.factories import T0, days, hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
NOW = T0 + days(10)  # the snapshot whose baselines are looked for


def stored_snapshot(taken_at, *, status=Snapshot.Status.COMPLETE, records=None) -> Snapshot:
    """A snapshot with observations in any status, written without publishing it."""
    records = records or [hub_record("a/one")]
    with transaction.atomic():
        snapshot = Snapshot.objects.create(status=status, taken_at=taken_at, started_at=taken_at)
        snapshot_ingest(
            snapshot=snapshot, records=[parse_hub_record(r) for r in records], seen_at=taken_at
        )
    return snapshot


def observations(snapshot: Snapshot) -> dict[str, Observation]:
    return {
        o.model.hub_id: o
        for o in Observation.objects.filter(snapshot=snapshot).select_related("model")
    }


# --- The baseline rule ---------------------------------------------------------


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        ([-24 * H], -24 * H),  # exactly W before
        ([-18 * H], -18 * H),  # W/4 late: the edge is inside
        ([-30 * H], -30 * H),  # W/4 early: the edge is inside
        ([-29 * H, -13 * H], -29 * H),
        ([-18 * H + timedelta(seconds=1)], None),  # just outside, late side
        ([-30 * H - timedelta(seconds=1)], None),  # just outside, early side
        ([-22 * H, -25 * H], -25 * H),  # the closest wins
        ([-21 * H, -27 * H], -27 * H),  # a tie goes to the older
        ([], None),
    ],
)
def test_it_picks_the_24h_baseline_by_the_rule(offsets, expected):
    by_offset = {offset: stored_snapshot(NOW + offset) for offset in offsets}
    current = stored_snapshot(NOW, status=Snapshot.Status.RUNNING)
    baseline = baseline_for(snapshot=current, window=WINDOW_24H)
    assert baseline == (by_offset[expected] if expected is not None else None)


def test_it_applies_the_same_rule_to_the_7d_window():
    slack = WINDOW_7D / 4  # 42 hours
    early = stored_snapshot(NOW - WINDOW_7D - slack)
    stored_snapshot(NOW - WINDOW_7D + slack + timedelta(seconds=1))
    current = stored_snapshot(NOW, status=Snapshot.Status.RUNNING)
    assert baseline_for(snapshot=current, window=WINDOW_7D) == early
    early.delete()
    assert baseline_for(snapshot=current, window=WINDOW_7D) is None


@pytest.mark.parametrize(
    "status", [Snapshot.Status.PARTIAL, Snapshot.Status.FAILED, Snapshot.Status.RUNNING]
)
def test_it_ignores_snapshots_that_did_not_complete(status):
    stored_snapshot(NOW - 24 * H, status=status)
    further = stored_snapshot(NOW - 28 * H)
    current = stored_snapshot(NOW, status=Snapshot.Status.RUNNING)
    assert baseline_for(snapshot=current, window=WINDOW_24H) == further


def test_it_ignores_a_snapshot_whose_observations_were_pruned():
    pruned = stored_snapshot(NOW - 24 * H)
    kept = stored_snapshot(NOW - 29 * H)
    Observation.objects.filter(snapshot=pruned).delete()
    current = stored_snapshot(NOW, status=Snapshot.Status.RUNNING)
    assert baseline_for(snapshot=current, window=WINDOW_24H) == kept


def test_it_never_takes_the_snapshot_itself_or_a_later_one():
    stored_snapshot(NOW + 24 * H)
    current = stored_snapshot(NOW, status=Snapshot.Status.COMPLETE)
    assert baseline_for(snapshot=current, window=WINDOW_24H) is None


# --- The figures ------------------------------------------------------------------


def test_it_computes_deltas_new_and_rank_change_on_publish():
    base = published_snapshot(
        [
            hub_record("a/rises", downloads=1000, likes=10, downloadsAllTime=50_000),
            hub_record("a/falls", downloads=2000, likes=30, downloadsAllTime=None),
            hub_record("a/still", downloads=500, likes=5, downloadsAllTime=7_000),
            hub_record("a/no-likes", downloads=300, likes=1),
        ],
        taken_at=T0,
    )
    current = published_snapshot(
        [
            hub_record("a/rises", downloads=2500, likes=12, downloadsAllTime=51_000),
            hub_record("a/falls", downloads=1800, likes=29, downloadsAllTime=90_000),
            hub_record("a/still", downloads=500, likes=5, downloadsAllTime=7_000),
            hub_record("a/no-likes", downloads=350, likes=None),
            hub_record("b/fresh", downloads=100, likes=1),
        ],
        taken_at=T0 + days(1),
    )
    current.refresh_from_db()
    assert current.baseline_24h == base and current.baseline_7d is None
    assert current.deltas_computed_at is not None

    got = {
        hub_id: (
            o.delta_downloads_24h,
            o.delta_likes_24h,
            o.is_new_24h,
            o.rank_change_24h,
            o.daily_downloads,
        )
        for hub_id, o in observations(current).items()
    }
    assert got == {
        "a/rises": (1500, 2, False, 1, 1000),  # 2nd → 1st
        "a/falls": (-200, -1, False, -1, None),  # all-time unknown at the baseline
        "a/still": (0, 0, False, 0, 0),  # a real zero, not an unknown
        "a/no-likes": (50, None, False, 0, 0),  # all-time 50k on both sides
        "b/fresh": (None, None, True, None, None),  # new: no deltas, no movement
    }
    # No 7d baseline: unknown, and nobody is "new" against a snapshot that is not there.
    assert {
        (o.delta_downloads_7d, o.delta_likes_7d, o.is_new_7d)
        for o in observations(current).values()
    } == {(None, None, False)}


def test_it_leaves_everything_null_and_nothing_new_without_any_baseline():
    first = published_snapshot(hub_records(3), taken_at=T0)
    rows = Observation.objects.filter(snapshot=first).values_list(
        "delta_downloads_24h",
        "delta_likes_24h",
        "delta_downloads_7d",
        "delta_likes_7d",
        "rank_change_24h",
        "daily_downloads",
        "is_new_24h",
        "is_new_7d",
    )
    assert set(rows) == {(None, None, None, None, None, None, False, False)}
    first.refresh_from_db()
    assert first.baseline_24h is None and first.baseline_7d is None
    assert first.deltas_computed_at is not None


def test_it_computes_7d_deltas_against_the_week_old_snapshot():
    published_snapshot([hub_record("a/old", downloads=100, likes=1)], taken_at=T0)
    published_snapshot(
        [hub_record("a/old", downloads=600, likes=3), hub_record("a/week", downloads=50, likes=2)],
        taken_at=T0 + days(6),
    )
    current = published_snapshot(
        [hub_record("a/old", downloads=700, likes=4), hub_record("a/week", downloads=80, likes=2)],
        taken_at=T0 + days(7),
    )
    got = {
        hub_id: (
            o.delta_downloads_24h,
            o.delta_likes_24h,
            o.is_new_24h,
            o.delta_downloads_7d,
            o.delta_likes_7d,
            o.is_new_7d,
        )
        for hub_id, o in observations(current).items()
    }
    assert got == {
        "a/old": (100, 1, False, 600, 3, False),
        "a/week": (30, 0, False, None, None, True),
    }


def test_rank_change_is_places_gained():
    published_snapshot(
        [hub_record(f"a/m{i}", downloads=1000 - i) for i in range(5)], taken_at=T0
    )  # ranks m0..m4 = 1..5
    current = published_snapshot(
        [hub_record("a/m4", downloads=5000)]
        + [hub_record(f"a/m{i}", downloads=1000 - i) for i in range(4)],
        taken_at=T0 + days(1),
    )
    changes = {h: (o.rank, o.rank_change_24h) for h, o in observations(current).items()}
    assert changes == {
        "a/m4": (1, 4),
        "a/m0": (2, -1),
        "a/m1": (3, -1),
        "a/m2": (4, -1),
        "a/m3": (5, -1),
    }


def test_recomputing_overwrites_what_was_there():
    published_snapshot([hub_record("a/one", downloads=100)], taken_at=T0)
    current = published_snapshot([hub_record("a/one", downloads=150)], taken_at=T0 + days(1))
    Observation.objects.filter(snapshot=current).update(
        delta_downloads_24h=999, is_new_7d=True, rank_change_24h=7
    )
    snapshot_compute_deltas(snapshot=current)
    one = observations(current)["a/one"]
    assert (one.delta_downloads_24h, one.is_new_7d, one.rank_change_24h) == (50, False, 0)


def stored_figures(snapshot: Snapshot) -> list[tuple]:
    return sorted(
        Observation.objects.filter(snapshot=snapshot).values_list(
            "model__hub_id", *deltas.DELTA_FIELDS
        )
    )


def update_paths() -> list:
    """The UPDATE paths this database can run: the generic one, and its own if it has one."""
    paths = [deltas._update_generic]
    if connection.vendor == "postgresql":
        paths.append(deltas._update_postgresql)
    return paths


def recomputed_by_every_update_path(snapshot: Snapshot) -> list[list[tuple]]:
    results = []
    for update in update_paths():
        # Scribble over every figure first, so nothing is left from before.
        Observation.objects.filter(snapshot=snapshot).update(
            **{name: (True if name.startswith("is_new") else -1) for name in deltas.DELTA_FIELDS}
        )
        update(snapshot, snapshot.baseline_24h, snapshot.baseline_7d)
        results.append(stored_figures(snapshot))
    return results


def test_the_write_path_and_both_update_paths_give_the_same_figures():
    published_snapshot(
        [
            hub_record("a/x", downloads=10, likes=1, downloadsAllTime=100),
            hub_record("a/w", downloads=7, likes=1),
        ],
        taken_at=T0,
    )
    published_snapshot(
        [
            hub_record("a/x", downloads=20, likes=None, downloadsAllTime=None),
            hub_record("a/y", downloads=5, likes=2),
            hub_record("a/w", downloads=None, likes=1),
        ],
        taken_at=T0 + days(6),
    )
    # Written through ingest: the figures are computed as the rows are written.
    current = published_snapshot(
        [
            hub_record("a/x", downloads=40, likes=3, downloadsAllTime=160),
            hub_record("a/y", downloads=9, likes=2),
            hub_record("a/z", downloads=1),
            hub_record("a/w", downloads=8, likes=None),
        ],
        taken_at=T0 + days(7),
    )
    assert current.baseline_24h is not None and current.baseline_7d is not None
    written = stored_figures(current)
    assert written == [
        ("a/w", None, None, 0, 0, False, 1, None, False),
        ("a/x", 20, None, 0, None, False, 30, 2, False),
        ("a/y", 4, 0, 0, 0, False, None, None, True),
        ("a/z", None, None, None, None, True, None, None, True),
    ]
    assert recomputed_by_every_update_path(current) == [written] * len(update_paths())


def test_the_write_path_matches_the_update_paths_on_varied_data():
    # Models come and go, and any figure may be missing on either side.
    rng = random.Random(7)

    def figure(high: int):
        return None if rng.random() < 0.15 else rng.randrange(high)

    def records(count: int) -> list[dict]:
        chosen = rng.sample(range(120), count)
        return [
            hub_record(
                f"m/{i:03d}",
                downloads=figure(10_000),
                likes=figure(500),
                downloadsAllTime=figure(1_000_000),
            )
            for i in chosen
        ]

    for offset in (0, 6):
        published_snapshot(records(80), taken_at=T0 + days(offset))
    current = published_snapshot(records(90), taken_at=T0 + days(7))
    written = stored_figures(current)
    assert len(written) == 90
    assert {row[5] for row in written} == {True, False}  # some new over 24h, some not
    assert any(None not in row for row in written)  # some rows have every figure
    assert recomputed_by_every_update_path(current) == [written] * len(update_paths())


def test_publishing_keeps_the_deltas_written_with_the_observations(monkeypatch):
    from snapshots import services

    recomputed = []
    monkeypatch.setattr(services, "snapshot_compute_deltas", lambda **kw: recomputed.append(kw))
    published_snapshot([hub_record("a/one", downloads=100)], taken_at=T0)
    current = published_snapshot([hub_record("a/one", downloads=150)], taken_at=T0 + days(1))
    assert recomputed == []
    assert observations(current)["a/one"].delta_downloads_24h == 50


def test_publishing_computes_deltas_a_snapshot_lacks():
    from snapshots.services import snapshot_publish

    published_snapshot([hub_record("a/one", downloads=100)], taken_at=T0)
    current = stored_snapshot(
        T0 + days(1),
        status=Snapshot.Status.RUNNING,
        records=[hub_record("a/one", downloads=130)],
    )
    # As if written by something that does not compute them.
    Observation.objects.filter(snapshot=current).update(delta_downloads_24h=None)
    current.deltas_computed_at = None
    with transaction.atomic():
        snapshot_publish(snapshot=current)
    assert observations(current)["a/one"].delta_downloads_24h == 30
    current.refresh_from_db()
    assert current.deltas_computed_at is not None


@pytest.mark.parametrize("n", [3, 60])
def test_its_query_count_does_not_grow_with_the_number_of_models(n):
    published_snapshot(hub_records(n), taken_at=T0)
    published_snapshot(hub_records(n), taken_at=T0 + days(6))
    current = stored_snapshot(
        T0 + days(7), status=Snapshot.Status.RUNNING, records=hub_records(n + 1)
    )
    with CaptureQueriesContext(connection) as queries:
        snapshot_compute_deltas(snapshot=current)
    # Two baseline look-ups, one UPDATE of every observation, one snapshot save.
    assert len(queries) == 4
    assert Observation.objects.filter(snapshot=current, delta_downloads_7d=0).count() == n


@pytest.mark.parametrize("n", [3, 60])
def test_writing_deltas_with_the_observations_costs_a_fixed_number_of_queries(n):
    published_snapshot(hub_records(n), taken_at=T0)
    published_snapshot(hub_records(n), taken_at=T0 + days(6))
    current = Snapshot.objects.create(taken_at=T0 + days(7), started_at=T0 + days(7))
    records = [parse_hub_record(r) for r in hub_records(n + 1)]
    with CaptureQueriesContext(connection) as queries:
        snapshot_ingest(snapshot=current, records=records, seen_at=current.taken_at)
    # Alias map, catalog, the one new model, two baseline look-ups, one read
    # of each baseline's rows, the observations, the snapshot's baselines and
    # when its score components were computed; PostgreSQL reserves the new
    # model's key in a statement of its own. Elsewhere the observations take
    # as many INSERTs as SQLite's 999 parameters a statement ask for. On
    # PostgreSQL the observations go to a partition of their own: whether the
    # snapshot has rows already, the fresh table, its indexes and the attach.
    inserts = sum(q["sql"].startswith('INSERT INTO "snapshots_observation"') for q in queries)
    if connection.vendor == "postgresql":
        assert len(queries) == 11 + 3, [q["sql"][:60] for q in queries]
    else:
        assert inserts == math.ceil((n + 1) * len(OBSERVATION_COLUMNS) / 999)
        assert len(queries) - inserts == 9, [q["sql"][:60] for q in queries]
    assert Observation.objects.filter(snapshot=current, delta_downloads_7d=0).count() == n


# --- Out of order ---------------------------------------------------------------------


def write_archive(path, taken_at, records) -> str:
    path.write_text(json.dumps({"fetched_at": taken_at.isoformat(), "models": records}))
    return str(path)


def import_files(*paths) -> None:
    call_command("import_snapshots", *paths, "--no-progress", stdout=StringIO())


def test_import_takes_files_oldest_first_whatever_their_names(tmp_path):
    newer = write_archive(tmp_path / "a.json", T0 + days(1), [hub_record("a/one", downloads=300)])
    older = write_archive(tmp_path / "b.json", T0, [hub_record("a/one", downloads=100)])
    import_files(newer, older)
    current = Snapshot.objects.get(taken_at=T0 + days(1))
    assert observations(current)["a/one"].delta_downloads_24h == 200


def test_a_late_archive_becomes_the_baseline_of_the_snapshots_after_it(tmp_path):
    import_files(
        write_archive(tmp_path / "day2.json", T0 + days(1), [hub_record("a/one", downloads=300)])
    )
    later = Snapshot.objects.get()
    far = published_snapshot([hub_record("a/one", downloads=900)], taken_at=T0 + days(30))
    assert observations(later)["a/one"].delta_downloads_24h is None

    import_files(write_archive(tmp_path / "day1.json", T0, [hub_record("a/one", downloads=100)]))
    later.refresh_from_db()
    assert later.baseline_24h.taken_at == T0
    assert observations(later)["a/one"].delta_downloads_24h == 200
    # Out of reach of the late archive: not recomputed.
    far_computed = far.deltas_computed_at
    far.refresh_from_db()
    assert far.deltas_computed_at == far_computed


def test_recompute_deltas_command_recomputes_since_a_time():
    first = published_snapshot([hub_record("a/one", downloads=100)], taken_at=T0)
    second = published_snapshot([hub_record("a/one", downloads=150)], taken_at=T0 + days(1))
    third = published_snapshot([hub_record("a/one", downloads=170)], taken_at=T0 + days(2))
    Observation.objects.update(delta_downloads_24h=None)
    out = StringIO()
    call_command(
        "recompute_deltas", "--since", (T0 + days(1)).isoformat(), "--no-progress", stdout=out
    )
    assert "Recomputed the deltas of 2 snapshot(s)" in out.getvalue()
    assert [observations(s)["a/one"].delta_downloads_24h for s in (first, second, third)] == [
        None,
        50,
        20,
    ]


def test_recompute_counts_complete_snapshots_only_and_reports_progress():
    published_snapshot([hub_record("a/one")], taken_at=T0)
    stored_snapshot(T0 + days(1), status=Snapshot.Status.PARTIAL)
    published_snapshot([hub_record("a/one")], taken_at=T0 + days(2))
    seen = []
    assert snapshots_recompute_deltas(on_progress=lambda d, t: seen.append((d, t))) == 2
    assert seen == [(1, 2), (2, 2)]


def test_recompute_deltas_rejects_a_time_without_offset():
    with pytest.raises(Exception, match="offset"):
        call_command("recompute_deltas", "--since", "2026-03-01T00:00", stdout=StringIO())


def test_recompute_task_runs_the_service():
    from snapshots.tasks import recompute_deltas

    published_snapshot([hub_record("a/one")], taken_at=timezone.now() - days(1))
    assert recompute_deltas.delay().get() == 1
