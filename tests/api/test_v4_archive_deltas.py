"""After importing the real archived Hub snapshots, /api/v4 gives the deltas the
files themselves give: computed here straight from the JSON, by DESIGN.md's
baseline rule, without any of the project's code.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.api.callers import on_plan

pytestmark = pytest.mark.django_db

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}


def read_files(folder: Path) -> list[tuple[datetime, dict[str, dict]]]:
    """(taken_at, {id: record}) of every archive file, oldest first."""
    snapshots = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        records = data["models"] if isinstance(data, dict) else data
        stamp = (data.get("fetched_at") or data.get("date")) if isinstance(data, dict) else None
        taken_at = datetime.fromisoformat(stamp) if stamp else None
        assert taken_at is not None, f"{path.name}: no time in the file"
        snapshots.append((taken_at, {record["id"]: record for record in records}))
    return sorted(snapshots, key=lambda s: s[0])


def baseline(snapshots, taken_at: datetime, window: timedelta):
    """The snapshot closest to taken_at − window within ±window/4 (ties: the older)."""
    target = taken_at - window
    near = [s for s in snapshots if s[0] != taken_at and abs(s[0] - target) <= window / 4]
    return min(near, key=lambda s: (abs(s[0] - target), s[0])) if near else None


def expected_delta(snapshots, taken_at, record, window) -> dict:
    base = baseline(snapshots, taken_at, window)
    if base is None:
        return {"downloads": None, "likes": None, "new": None}
    before = base[1].get(record["id"])
    if before is None:
        return {"downloads": None, "likes": None, "new": True}

    def minus(field):
        now, then = record.get(field), before.get(field)
        return None if now is None or then is None else now - then

    return {"downloads": minus("downloads"), "likes": minus("likes"), "new": False}


def test_it_gives_the_deltas_the_archived_files_give(client, hub_trending):
    files = sorted(str(p) for p in hub_trending.glob("*.json"))
    call_command("import_snapshots", *files, verbosity=0)
    snapshots = read_files(hub_trending)
    taken_at, latest = snapshots[-1]

    listed = json.loads(client.get("/api/v4/models?limit=500", **on_plan("pro")).content)
    assert listed["count"] == len(latest)
    known = 0
    for model in listed["results"]:
        record = latest[model["id"]]
        for name, window in WINDOWS.items():
            assert model[f"delta_{name}"] == expected_delta(snapshots, taken_at, record, window), (
                model["id"],
                name,
            )
        known += model["delta_24h"]["downloads"] is not None
        org_name = model["id"]
        detail = json.loads(client.get(f"/api/v4/models/{org_name}").content)["model"]
        assert detail["delta_24h"] == model["delta_24h"]
        assert detail["delta_7d"] == model["delta_7d"]
    assert known > 0, "no model of the latest file has a 24h delta: nothing was checked"


def test_it_gives_a_history_whose_24h_deltas_the_files_give(client, hub_trending):
    files = sorted(str(p) for p in hub_trending.glob("*.json"))
    call_command("import_snapshots", *files, verbosity=0)
    snapshots = read_files(hub_trending)
    taken_at, latest = snapshots[-1]
    hub_id = max(latest.values(), key=lambda r: r.get("downloads") or 0)["id"]

    history = json.loads(client.get(f"/api/v4/models/{hub_id}").content)["history"]
    by_time = dict(snapshots)
    in_window = [t for t, records in snapshots if taken_at - t <= timedelta(days=30)]
    assert [p["taken_at"] for p in history] == [
        t.isoformat().replace("+00:00", "Z") for t in in_window if hub_id in by_time[t]
    ]
    checked = 0
    for point in history:
        at = datetime.fromisoformat(point["taken_at"])
        record = by_time[at][hub_id]
        expected = expected_delta(snapshots, at, record, WINDOWS["24h"])
        assert point["downloads"] == record.get("downloads")
        assert point["delta_downloads_24h"] == expected["downloads"], point
        checked += expected["downloads"] is not None
    assert checked > 0
