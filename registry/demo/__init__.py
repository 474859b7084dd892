"""A seeded, realistic stand-in for the Hub, for demos, development and tests.

`generate_demo_hub` builds a population of models (official releases of the big
providers, then community quantizations, finetunes, adapters and merges linked
to them by ``base_model`` tags, then a long tail of small models) and simulates
``days`` daily snapshots of their metrics. `DemoHub.records_at` returns the raw
records the Hub's ``/api/models`` would give on one of those days, with every
detail field expanded.

What it imitates, and why it matters downstream:

- heavy tails: daily downloads are log-normal with a very wide spread, plus
  hand-set levels for the famous models, so a few models hold most downloads;
- ``downloads`` is the rolling 30-day sum of true daily downloads and
  ``downloadsAllTime`` their running total, so deltas computed either way agree;
- daily downloads drift (a slow random walk), dip on weekends, start high after
  a release and decay; a few injected spikes multiply one model's downloads
  several-fold for a day or two (`DemoHub.spikes`);
- likes mostly grow, with the odd unlike; models get created during the window
  (quantizers follow big releases within hours); a model's ``sha`` and
  ``lastModified`` change when it is updated, now and then.

Everything comes from one ``random.Random(seed)``: the same seed and ``end``
give the same hub. All series are computed once, up front.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from .hub import DemoHub
from .population import _Builder
from .series import HISTORY_DAYS, _choose_spikes, _simulate

__all__ = ["HISTORY_DAYS", "DemoHub", "generate_demo_hub"]


def generate_demo_hub(
    *, seed: int = 42, models: int = 3000, days: int = 35, end: datetime | None = None
) -> DemoHub:
    """Build a seeded demo Hub of about `models` models over `days` daily snapshots.

    `end` is the last snapshot's time (default: now, UTC, floored to the hour);
    the others are one day apart before it. The same seed and end give the same
    hub, record for record.
    """
    if models < 1:
        raise ValueError("models must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    if end is None:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    else:
        end = end.astimezone(UTC)
    day_list = [end - timedelta(days=days - 1 - index) for index in range(days)]
    builder = _Builder(random.Random(seed), day_list)
    builder.add_curated(models)
    while len(builder.models) < models:
        builder.add_community()
    spike_plan = _choose_spikes(builder, max(1, round(models / 600)))
    _simulate(builder, spike_plan)
    spikes = sorted(
        ((hub_id, min(boosts)) for hub_id, boosts in spike_plan.items()),
        key=lambda item: (item[1], item[0]),
    )
    return DemoHub(days=day_list, spikes=spikes, _models=builder.models)
