"""Simulating the demo Hub over time: each model's daily downloads, all-time
downloads, likes and trending score, the injected download spikes, and the versions
(sha, lastModified) a model goes through."""

from __future__ import annotations

import math
from bisect import bisect_left
from datetime import datetime, timedelta

from .hub import _Model
from .population import _Builder

HISTORY_DAYS = 29  # simulated days before the window, so day 0 has a full 30-day sum


def _iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.000Z"


def _simulate(builder: _Builder, spikes: dict[str, dict[int, float]]) -> None:
    """Compute every model's daily series once: downloads, all-time, likes, trending."""
    rng = builder.rng
    days = builder.days
    exp = math.exp
    total = len(days) + HISTORY_DAYS
    moments = [days[0] + timedelta(days=g - HISTORY_DAYS) for g in range(total)]
    weekday = [0.8 if moment.weekday() >= 5 else 1.0 for moment in moments]
    first = moments[0]
    gauss, uniform = rng.gauss, rng.random
    # Drawing from a table of normals is several times cheaper than gauss() per draw,
    # and the series are long enough that the table's granularity never shows.
    normals = [gauss(0.0, 1.0) for _ in range(4096)]
    size = len(normals)

    for model in builder.models:
        created = model.created
        model.created_day = bisect_left(days, created)
        model.created_iso = _iso(created)
        model.object_id = f"{rng.getrandbits(96):024x}"
        boosts = spikes.get(model.hub_id, {})
        level, hype = model.level, model.hype
        drift = gauss(0.0, 0.006)
        walk = gauss(0.0, 0.3)
        potential = model.likes_potential
        age0 = (first - created).total_seconds() / 86400
        all_time = int(level * age0 * (0.5 + uniform())) if age0 > 0 else 0
        likes = round(potential * min(1.0, age0 / 60)) if age0 > 0 else 0
        daily: list[int] = []
        all_time_series: list[int] = []
        likes_series: list[int] = []
        for g in range(total):
            age = age0 + g
            if age <= 0:
                daily.append(0)
                all_time_series.append(0)
                likes_series.append(0)
                continue
            walk = max(-1.5, min(1.5, walk + drift + 0.04 * normals[int(uniform() * size)]))
            launch = 1.0 + hype * exp(-age / 7) if age < 60 else 1.0
            noise = 0.12 * normals[int(uniform() * size)]
            value = level * exp(walk + noise) * weekday[g] * launch
            if age < 1:
                value *= age
            boost = boosts.get(g - HISTORY_DAYS, 1.0)
            value *= boost
            count = int(value)
            if uniform() < value - count:
                count += 1
            daily.append(count)
            all_time += count
            all_time_series.append(all_time)
            rate = potential * (0.003 + (0.08 * exp(-age / 6) if age < 60 else 0.0))
            rate *= exp(0.5 * normals[int(uniform() * size)]) * (1.0 + 0.5 * (boost - 1.0))
            gained = int(rate)
            if uniform() < rate - gained:
                gained += 1
            if gained == 0 and likes > 3 and uniform() < 0.01:
                gained = -1  # someone took their like back
            likes += gained
            likes_series.append(likes)
        rolling = [0] * total
        running = 0
        for g in range(total):
            running += daily[g]
            if g >= 30:
                running -= daily[g - 30]
            rolling[g] = running
        model.downloads = rolling[HISTORY_DAYS:]
        model.downloads_all_time = all_time_series[HISTORY_DAYS:]
        model.likes = likes_series[HISTORY_DAYS:]
        model.trending = [
            max(0, likes_series[g] - likes_series[g - 7])
            + int(math.sqrt(daily[g] + daily[g - 1] + daily[g - 2]) / 10)
            for g in range(HISTORY_DAYS, total)
        ]
        _versions(builder, model)


def _versions(builder: _Builder, model: _Model) -> None:
    rng = builder.rng
    days = builder.days
    created = model.created
    if created < builder.start:
        span = (builder.start - created).total_seconds()
        modified = created + timedelta(seconds=int(span * rng.random() ** 2))
    else:
        room = (days[model.created_day] - created).total_seconds()
        modified = created + timedelta(seconds=int(min(1800, room) * rng.random()))
    versions = [(model.created_day, f"{rng.getrandbits(160):040x}", _iso(modified))]
    for day in range(model.created_day + 1, len(days)):
        young = (days[day] - created).days < 14
        if rng.random() < (0.06 if young else 0.012):
            earliest = max(days[day - 1], modified)
            seconds = int((days[day] - earliest).total_seconds() * rng.random())
            modified = earliest + timedelta(seconds=max(1, seconds))
            versions.append((day, f"{rng.getrandbits(160):040x}", _iso(modified)))
    model.versions = versions


def _choose_spikes(builder: _Builder, count: int) -> dict[str, dict[int, float]]:
    rng = builder.rng
    window = len(builder.days)
    if window < 5 or count <= 0:
        return {}
    candidates = [
        model
        for model in builder.models
        if model.level >= 30 and model.created < builder.start - timedelta(days=90)
    ]
    chosen = rng.sample(candidates, min(count, len(candidates)))
    plan: dict[str, dict[int, float]] = {}
    for model in chosen:
        day = rng.randrange(3, window - 1)
        factor = rng.uniform(4.0, 9.0)
        boosts = {day: factor}
        if rng.random() < 0.5:
            boosts[day + 1] = rng.uniform(2.0, factor / 1.5)
        plan[model.hub_id] = boosts
    return plan
