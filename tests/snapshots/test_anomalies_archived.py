"""The real archived snapshots: anomalies found as they are published, checked against the files.

Each flagged day's velocity and median are recomputed here in plain Python
from the JSON (the day's latest file per UTC day, the 30-day count's change
per day), not by calling `snapshots.anomalies`.
"""

import json
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from snapshots.anomalies import anomalies_backfill
from snapshots.models import Anomaly, Observation, ScoringProfile, Snapshot
from snapshots.scoring import score_breakdown, with_profile_score

pytestmark = pytest.mark.django_db


def closing_levels(folder) -> dict[str, dict]:
    """model id → {UTC day → 30-day downloads in the day's latest file}."""
    files = []
    for path in folder.glob("*.json"):
        data = json.loads(path.read_text())
        files.append((datetime.fromisoformat(data["fetched_at"]), data["models"]))
    closing = {}
    for taken_at, models in sorted(files, key=lambda f: f[0]):
        closing[taken_at.astimezone(UTC).date()] = models
    levels: dict[str, dict] = {}
    for day, models in closing.items():
        for record in models:
            levels.setdefault(record["id"], {})[day] = record["downloads"]
    return levels


def test_anomalies_on_the_archive(hub_trending):
    call_command("import_snapshots", str(hub_trending), verbosity=0)
    found = list(Anomaly.objects.select_related("model").order_by("day", "model__hub_id"))
    assert len(found) >= 20  # launches and viral days: about 45 with the seeded profiles
    assert any(
        a.model.hub_id == "SulphurAI/Sulphur-2-base"
        and a.day.isoformat() == "2026-05-13"
        and a.metric == "downloads"
        and a.z > 50
        for a in found
    )
    levels = closing_levels(hub_trending)
    for anomaly in (a for a in found if a.metric == "downloads"):
        series = levels[anomaly.model.hub_id]
        days = sorted(series)
        velocity = {}
        for before, day in zip(days, days[1:], strict=False):
            if (day - before).days <= 3:
                velocity[day] = (series[day] - series[before]) / (day - before).days
        assert anomaly.basis == "rolling_30d"  # the trending archive has no all-time counts
        assert anomaly.value == pytest.approx(velocity[anomaly.day])
        window = [
            v for d, v in velocity.items() if anomaly.day - timedelta(days=14) <= d < anomaly.day
        ]
        assert anomaly.history_days == len(window) >= 7
        assert anomaly.median == pytest.approx(statistics.median(window))
    # Detection at each publish and a backfill over the whole history agree.
    before = {(a.model_id, a.day, a.metric): round(a.z, 6) for a in found}
    Anomaly.objects.all().delete()
    anomalies_backfill()
    after = {(a.model_id, a.day, a.metric): round(a.z, 6) for a in Anomaly.objects.all()}
    assert after == before


def test_every_archived_observation_is_scored_and_adds_up(hub_trending):
    call_command("import_snapshots", str(hub_trending), verbosity=0)
    assert Observation.objects.count() == 2560
    assert not Snapshot.objects.filter(components_computed_at__isnull=True).exists()
    assert not Observation.objects.filter(pct_downloads__isnull=True).exists()
    profile = ScoringProfile.objects.get(slug="community")
    for obs in with_profile_score(Observation.objects.all(), profile)[:500]:
        breakdown = score_breakdown(obs, profile)
        assert round(sum(p.points for p in breakdown.parts), 1) == breakdown.score
