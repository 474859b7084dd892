"""The real archived snapshots: stored deltas equal differences taken straight from the files.

The expected figures are computed here in plain Python from the JSON, with
the baseline rule written out again from DESIGN.md (the complete snapshot
closest to taken_at − W within ±W/4, ties to the older), not by calling
`snapshots.deltas`.
"""

import json
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from snapshots.deltas import DELTA_FIELDS, snapshots_recompute_deltas
from snapshots.models import Observation, Snapshot

pytestmark = pytest.mark.django_db

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}


def load_archives(folder) -> dict[datetime, dict[str, dict]]:
    """taken_at → {model id → raw record}, from each file's own fetched_at."""
    snapshots = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        taken_at = datetime.fromisoformat(data["fetched_at"])
        snapshots[taken_at] = {record["id"]: record for record in data["models"]}
    return snapshots


def expected_baseline(times: list[datetime], taken_at: datetime, window: timedelta):
    target = taken_at - window
    near = [t for t in times if t != taken_at and abs(t - target) <= window / 4]
    return min(near, key=lambda t: (abs(t - target), t)) if near else None


def ranks(models: dict[str, dict]) -> dict[str, int]:
    """By 30-day downloads, then likes, then id (every archived record has both figures)."""
    order = sorted(models.values(), key=lambda r: (-r["downloads"], -r["likes"], r["id"]))
    return {record["id"]: position for position, record in enumerate(order, start=1)}


def difference(current: dict, base: dict | None, field: str):
    if base is None or current.get(field) is None or base.get(field) is None:
        return None
    return current[field] - base[field]


def test_stored_deltas_equal_differences_computed_from_the_files(hub_trending):
    archives = load_archives(hub_trending)
    assert len(archives) > 200
    call_command("import_snapshots", str(hub_trending), "--no-progress", stdout=StringIO())

    stored = {
        (o.snapshot.taken_at, o.model.hub_id): o
        for o in Observation.objects.select_related("snapshot", "model")
    }
    assert len(stored) == sum(len(models) for models in archives.values())

    times = sorted(archives)
    checked = {"24h": 0, "7d": 0}
    new = {"24h": 0, "7d": 0}
    for taken_at in times:
        for window_name, window in WINDOWS.items():
            baseline_at = expected_baseline(times, taken_at, window)
            baseline = archives[baseline_at] if baseline_at else None
            for hub_id, record in archives[taken_at].items():
                observation = stored[(taken_at, hub_id)]
                base = baseline.get(hub_id) if baseline is not None else None
                expect_new = baseline is not None and base is None
                got = (
                    getattr(observation, f"delta_downloads_{window_name}"),
                    getattr(observation, f"delta_likes_{window_name}"),
                    getattr(observation, f"is_new_{window_name}"),
                )
                want = (
                    difference(record, base, "downloads"),
                    difference(record, base, "likes"),
                    expect_new,
                )
                assert got == want, (taken_at, hub_id, window_name, baseline_at)
                if window_name == "24h":
                    moved = None
                    if base is not None:
                        moved = ranks(baseline)[hub_id] - ranks(archives[taken_at])[hub_id]
                    assert observation.rank_change_24h == moved, (taken_at, hub_id)
                checked[window_name] += want[0] is not None
                new[window_name] += expect_new
            if baseline_at is not None:
                snapshot = stored[(taken_at, next(iter(archives[taken_at])))].snapshot
                baseline_field = getattr(snapshot, f"baseline_{window_name}")
                assert baseline_field.taken_at == baseline_at

    # The comparison has teeth: most rows have deltas, and models come and go.
    assert checked["24h"] > 1000 and checked["7d"] > 500
    assert new["24h"] > 0 and new["7d"] > 0
    # The archives carry no all-time downloads: true daily downloads stay unknown.
    assert not Observation.objects.filter(daily_downloads__isnull=False).exists()


def test_recomputing_the_archives_changes_no_figure(hub_trending):
    # Imported oldest first, every snapshot's deltas were computed as its
    # observations were written; the UPDATE path must find the same figures.
    call_command("import_snapshots", str(hub_trending), "--no-progress", stdout=StringIO())

    def stored():
        figures = Observation.objects.values_list("snapshot_id", "model_id", *DELTA_FIELDS)
        baselines = Snapshot.objects.values_list("pk", "baseline_24h", "baseline_7d")
        return sorted(figures), sorted(baselines)

    written = stored()
    assert snapshots_recompute_deltas() == len(written[1]) > 200
    assert stored() == written
