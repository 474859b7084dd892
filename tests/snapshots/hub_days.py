"""Consecutive synthetic Hub days from make_hub_day.py, and the figures expected of them.

The generator lives in the shared tools folder beside the repository (or
under MODELBOARD_SHARED_DATA's parent); tests skip cleanly without it. The
expected daily and weekly downloads are computed here straight from the
files' `downloadsAllTime`, without the code under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("MODELBOARD_SHARED_DATA", REPO.parent / "shared" / "data"))
GENERATOR = SHARED_DATA.parent / "tools" / "make_hub_day.py"
FIRST = datetime.fromisoformat("2026-11-01T12:00:00+00:00")


def hub_days(folder: Path, *, models: int, days: int) -> list[Path]:
    """Write days 0..days-1 of a synthetic Hub of `models` models, a day apart, at noon UTC."""
    if not GENERATOR.exists():
        pytest.skip("make_hub_day.py (the shared tools folder) is not here")
    paths = []
    for day in range(days):
        path = folder / f"day-{day:02d}.json"
        if not path.exists():
            taken_at = (FIRST + timedelta(days=day)).isoformat().replace("+00:00", "Z")
            subprocess.run(
                [sys.executable, str(GENERATOR), str(path), str(models), taken_at, str(day)],
                check=True,
            )
        paths.append(path)
    return paths


def all_time_by_day(paths: list[Path]) -> dict[date, dict[str, int | None]]:
    """UTC day → {model id → downloadsAllTime}, read from the files."""
    days = {}
    for path in paths:
        data = json.loads(path.read_text())
        day = datetime.fromisoformat(data["fetched_at"].replace("Z", "+00:00")).date()
        days[day] = {record["id"]: record.get("downloadsAllTime") for record in data["models"]}
    return days


def expected_difference(
    all_time: dict[date, dict[str, int | None]], day: date, hub_id: str, back: int
) -> int | None:
    """all-time(day) - all-time(day - back), None when either is missing or unknown."""
    now = all_time.get(day, {}).get(hub_id)
    then = all_time.get(day - timedelta(days=back), {}).get(hub_id)
    return None if now is None or then is None else now - then
