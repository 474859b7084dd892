"""Anomaly detection: a day's velocity far outside the model's previous two weeks.

Velocity is a model's change per day: daily downloads and daily likes. Each
model's level on a UTC day is taken from the day's latest complete snapshot
(the compact daily history, `DailyObservation`, stands in for days whose
observations were pruned); the velocity on day D is the change from the
model's previous day with a level, divided by the days between them (at most
MAX_GAP_DAYS apart, else there is no velocity that day). Downloads use the
all-time count when both days have it (true daily downloads); otherwise the
change in the rolling 30-day count, which is what archives of the Hub's
listing carry. A day is judged only against days of the same basis.

The robust z-score of day D's velocity x is (x − median) / scale over the
velocities of the previous WINDOW_DAYS days (at least MIN_HISTORY of them),
where scale is 1.4826 × MAD (median absolute deviation). When more than half
of those days are equal (MAD is 0), the mean absolute deviation × 1.2533
stands in, and when all are equal, SCALE_FLOOR (one unit a day): a flat
series stays flat (x = median gives 0), and a flat series that jumps is
flagged. Only rises are anomalies (z ≥ threshold).

A profile flags the day when z reaches its `anomaly_z_threshold`, and both
x − median and x itself reach its minimum change (`anomaly_min_downloads` /
`anomaly_min_likes`): a model is being picked up, not merely losing less
than usual (the 30-day count of a model past its launch falls every day). A
row is stored when any profile flags it; which profiles flag it is decided
when read (`flagged_by`).

Detection runs at each publish for the snapshot's day, in bulk
(`anomalies_detect`). Because x must reach the smallest minimum among the
profiles, one SQL query first keeps the models whose figures rose that much
since one of the three previous days' closing snapshots (a necessary
condition, checked through the (snapshot, model) index); only their last
two and a half weeks are read, in model order, and judged in Python.
`anomalies_backfill` (and `manage.py detect_anomalies`) recomputes days over
history.
"""

from __future__ import annotations

import itertools
import logging
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from .models import Anomaly, DailyObservation, Observation, ScoringProfile, Snapshot

logger = logging.getLogger("modelboard.anomalies")

WINDOW_DAYS = 14
MIN_HISTORY = 7
MAX_GAP_DAYS = 3
MAD_SCALE = 1.4826  # MAD × this estimates the standard deviation of normal noise
MEAN_AD_SCALE = 1.2533  # likewise for the mean absolute deviation
SCALE_FLOOR = 1.0  # one download (like) a day: counts are not finer than that
# Anomalies shown as badges: the snapshot's UTC day and the day before.
BADGE_DAYS = 2
CHUNK = 5000  # models per query when reading their history

METRICS = (Anomaly.Metric.DOWNLOADS.value, Anomaly.Metric.LIKES.value)


# --- The statistics ------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    value: float
    median: float
    mad: float
    scale: float
    z: float
    history_days: int

    @property
    def change(self) -> float:
        return self.value - self.median


def robust_z(value: float, history: Iterable[float]) -> Judgement | None:
    """Judge `value` against `history`; None with fewer than MIN_HISTORY values."""
    past = list(history)
    if len(past) < MIN_HISTORY:
        return None
    median = statistics.median(past)
    deviations = [abs(v - median) for v in past]
    mad = statistics.median(deviations)
    if mad > 0:
        scale = MAD_SCALE * mad
    else:
        mean_ad = sum(deviations) / len(deviations)
        scale = MEAN_AD_SCALE * mean_ad if mean_ad > 0 else 0.0
    scale = max(scale, SCALE_FLOOR)
    return Judgement(
        value=value,
        median=median,
        mad=mad,
        scale=scale,
        z=(value - median) / scale,
        history_days=len(past),
    )


@dataclass(frozen=True)
class Thresholds:
    """One profile's anomaly thresholds."""

    slug: str
    z: float
    min_downloads: float
    min_likes: float

    @classmethod
    def of(cls, profile: ScoringProfile) -> Thresholds:
        return cls(
            slug=profile.slug,
            z=profile.anomaly_z_threshold,
            min_downloads=profile.anomaly_min_downloads,
            min_likes=profile.anomaly_min_likes,
        )

    def flags(self, metric: str, z: float, change: float, value: float) -> bool:
        least = self.min_downloads if metric == Anomaly.Metric.DOWNLOADS else self.min_likes
        return z >= self.z and change >= least and value >= least


def all_thresholds() -> list[Thresholds]:
    return [Thresholds.of(p) for p in ScoringProfile.objects.order_by("position", "slug")]


# --- Levels and velocities -------------------------------------------------------


class Level(NamedTuple):
    """A model's figures at the close of a day (a tuple: 100k are made per publish)."""

    downloads_all_time: int | None
    downloads: int | None
    likes: int | None


Velocity = tuple[float, str]  # (change per day, basis)


def velocities(levels: dict[date, Level]) -> dict[str, dict[date, Velocity]]:
    """Per metric, day → (change per day since the previous day with a level, basis)."""
    out: dict[str, dict[date, Velocity]] = {metric: {} for metric in METRICS}
    days = sorted(levels)
    for before, day in itertools.pairwise(days):
        gap = (day - before).days
        if gap > MAX_GAP_DAYS:
            continue
        old, new = levels[before], levels[day]
        if new.downloads_all_time is not None and old.downloads_all_time is not None:
            out["downloads"][day] = (
                (new.downloads_all_time - old.downloads_all_time) / gap,
                Anomaly.Basis.ALL_TIME.value,
            )
        elif new.downloads is not None and old.downloads is not None:
            out["downloads"][day] = (
                (new.downloads - old.downloads) / gap,
                Anomaly.Basis.ROLLING_30D.value,
            )
        if new.likes is not None and old.likes is not None:
            out["likes"][day] = ((new.likes - old.likes) / gap, Anomaly.Basis.LIKES.value)
    return out


@dataclass(frozen=True)
class Finding:
    model_id: int
    day: date
    metric: str
    basis: str
    judgement: Judgement


def judge_model(
    model_id: int, levels: dict[date, Level], day: date, thresholds: list[Thresholds]
) -> list[Finding]:
    """The metrics on which some profile flags `day` for this model."""
    findings = []
    for metric, series in velocities(levels).items():
        today = series.get(day)
        if today is None:
            continue
        value, basis = today
        start = day - timedelta(days=WINDOW_DAYS)
        history = [v for d, (v, b) in series.items() if start <= d < day and b == basis]
        judgement = robust_z(value, history)
        if judgement is None:
            continue
        if any(t.flags(metric, judgement.z, judgement.change, value) for t in thresholds):
            findings.append(Finding(model_id, day, metric, basis, judgement))
    return findings


def _day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(first, time.min, tzinfo=UTC),
        datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC),
    )


def day_closers(first: date, last: date) -> dict[date, int]:
    """UTC day → the id of its latest complete snapshot that still has observations."""
    start, end = _day_bounds(first, last)
    rows = (
        Snapshot.objects.visible()
        .filter(taken_at__gte=start, taken_at__lt=end)
        .filter(Exists(Observation.objects.filter(snapshot=OuterRef("pk"))))
        .order_by("taken_at", "id")
        .values_list("pk", "taken_at")
    )
    closers: dict[date, int] = {}
    for pk, taken_at in rows:
        closers[taken_at.astimezone(UTC).date()] = pk  # the latest of the day wins
    return closers


def _candidates(day: date, closers: dict[date, int], thresholds: list[Thresholds]):
    """Models whose figures rose by the smallest minimum since a closing snapshot of the
    three days before; None when that cannot be told (a day there only in the daily history).

    A flagged velocity x = rise / gap reaches the minimum, so the rise since
    the previous day with a level does too: every model flagged is kept.
    """
    recent = [day - timedelta(days=n) for n in range(1, MAX_GAP_DAYS + 1)]
    missing = [d for d in recent if d not in closers]
    if missing and DailyObservation.objects.filter(day__in=missing).exists():
        return None
    least_downloads = min(t.min_downloads for t in thresholds)
    least_likes = min(t.min_likes for t in thresholds)
    rose = Observation.objects.filter(
        snapshot_id__in=[closers[d] for d in recent if d in closers], model_id=OuterRef("model_id")
    ).filter(
        Q(likes__lte=OuterRef("likes") - least_likes)
        | Q(downloads_all_time__lte=OuterRef("downloads_all_time") - least_downloads)
        | Q(downloads__lte=OuterRef("downloads") - least_downloads)
    )
    return list(
        Observation.objects.filter(snapshot_id=closers[day])
        .filter(Exists(rose))
        .order_by("model_id")
        .values_list("model_id", flat=True)
    )


def _model_levels(
    day: date, closers: dict[date, int], model_ids: list[int] | None
) -> Iterator[tuple[int, dict[date, Level]]]:
    """(model id, its levels by day) for the models given (None: all in `day`'s closing snapshot).

    Read in model order, a chunk of models at a time, so memory holds a
    chunk's days, not the whole window; the daily history stands in for days
    without a closing snapshot.
    """
    first = day - timedelta(days=WINDOW_DAYS + MAX_GAP_DAYS)
    day_of = {pk: d for d, pk in closers.items()}
    missing = [
        first + timedelta(days=n)
        for n in range((day - first).days)
        if first + timedelta(days=n) not in closers
    ]
    if model_ids is None:
        chunks = [Observation.objects.filter(snapshot_id=closers[day]).values("model_id")]
    else:
        chunks = [model_ids[i : i + CHUNK] for i in range(0, len(model_ids), CHUNK)]
    for wanted in chunks:
        daily: dict[int, dict[date, Level]] = {}
        if missing:
            for model_id, d, *figures in DailyObservation.objects.filter(
                day__in=missing, model_id__in=wanted
            ).values_list("model_id", "day", "downloads_all_time", "downloads", "likes"):
                daily.setdefault(model_id, {})[d] = Level(*figures)
        rows = (
            Observation.objects.filter(snapshot_id__in=list(closers.values()), model_id__in=wanted)
            .order_by("model_id")
            .values_list("model_id", "snapshot_id", "downloads_all_time", "downloads", "likes")
            .iterator(chunk_size=10_000)
        )
        for model_id, group in itertools.groupby(rows, key=lambda row: row[0]):
            levels = daily.get(model_id, {})
            for _, snapshot_id, all_time, downloads, likes in group:
                levels[day_of[snapshot_id]] = Level(all_time, downloads, likes)
            yield model_id, levels


def findings_for_day(day: date, *, thresholds: list[Thresholds] | None = None) -> list[Finding]:
    """Every model's anomalies on `day`, from the complete snapshots as they stand."""
    if thresholds is None:
        thresholds = all_thresholds()
    if not thresholds:
        return []
    closers = day_closers(day - timedelta(days=WINDOW_DAYS + MAX_GAP_DAYS), day)
    if day not in closers:
        return []
    candidates = _candidates(day, closers, thresholds)
    if candidates is not None and not candidates:
        return []
    findings: list[Finding] = []
    for model_id, levels in _model_levels(day, closers, candidates):
        if len(levels) > MIN_HISTORY:  # fewer days cannot give MIN_HISTORY velocities before
            findings.extend(judge_model(model_id, levels, day, thresholds))
    return findings


# --- Writes ------------------------------------------------------------------------


@dataclass(frozen=True)
class DayResult:
    day: date
    created: int
    updated: int
    deleted: int


def _store_day(day: date, findings: list[Finding], *, snapshot_id: int | None) -> DayResult:
    existing = {(a.model_id, a.metric): a for a in Anomaly.objects.filter(day=day)}
    now = timezone.now()
    to_create, to_update = [], []
    for finding in findings:
        j = finding.judgement
        figures = dict(
            basis=finding.basis,
            value=j.value,
            median=j.median,
            mad=j.mad,
            scale=j.scale,
            z=j.z,
            change=j.change,
            history_days=j.history_days,
        )
        row = existing.pop((finding.model_id, finding.metric), None)
        if row is None:
            to_create.append(
                Anomaly(
                    model_id=finding.model_id,
                    day=day,
                    metric=finding.metric,
                    snapshot_id=snapshot_id,
                    detected_at=now,
                    **figures,
                )
            )
            continue
        # Flagged before today's later snapshot: keep who found it and when.
        for name, value in figures.items():
            setattr(row, name, value)
        to_update.append(row)
    Anomaly.objects.bulk_create(to_create, batch_size=1000)
    Anomaly.objects.bulk_update(
        to_update,
        ["basis", "value", "median", "mad", "scale", "z", "change", "history_days"],
        batch_size=1000,
    )
    deleted = 0
    if existing:
        deleted, _ = Anomaly.objects.filter(pk__in=[a.pk for a in existing.values()]).delete()
    return DayResult(day=day, created=len(to_create), updated=len(to_update), deleted=deleted)


def anomalies_detect(*, snapshot: Snapshot) -> DayResult:
    """Detect the anomalies of `snapshot`'s UTC day, replacing what was stored for it.

    Run at publish, inside its transaction, once the snapshot is complete.
    The day's latest complete snapshot closes the day, whichever snapshot
    triggered this; anomalies found for the first time name `snapshot`
    (`anomaly_events` sends those).
    """
    day = snapshot.taken_at.astimezone(UTC).date()
    return _store_day(day, findings_for_day(day), snapshot_id=snapshot.pk)


def anomalies_backfill(
    *, since: date | None = None, until: date | None = None, on_progress=None
) -> list[DayResult]:
    """Recompute the anomalies of every day with a complete snapshot in [since, until].

    For history imported before detection existed, after archives imported
    out of order, or after thresholds were loosened. Each day commits on its
    own; new rows name the day's closing snapshot.
    """
    snapshots = Snapshot.objects.served()
    if since is not None:
        snapshots = snapshots.filter(taken_at__gte=_day_bounds(since, since)[0])
    if until is not None:
        snapshots = snapshots.filter(taken_at__lt=_day_bounds(until, until)[1])
    days = sorted({t.astimezone(UTC).date() for t in snapshots.values_list("taken_at", flat=True)})
    thresholds = all_thresholds()
    results = []
    for n, day in enumerate(days, start=1):
        with transaction.atomic():
            closers = day_closers(day, day)
            findings = findings_for_day(day, thresholds=thresholds) if closers else []
            results.append(_store_day(day, findings, snapshot_id=closers.get(day)))
        if on_progress is not None:
            on_progress(n, len(days))
    return results


def anomalies_recompute_after(*, snapshot: Snapshot) -> list[DayResult]:
    """Judge again the days whose history `snapshot` belongs to, if any were judged.

    For a snapshot that arrived after newer ones (an archive imported late):
    the days up to WINDOW_DAYS + MAX_GAP_DAYS after its own can use its day
    as history. Nothing to do (and no query beyond one) when none is newer.
    """
    day = snapshot.taken_at.astimezone(UTC).date()
    until = day + timedelta(days=WINDOW_DAYS + MAX_GAP_DAYS)
    newer = Snapshot.objects.served().filter(
        taken_at__gte=_day_bounds(day, day)[1], taken_at__lt=_day_bounds(until, until)[1]
    )
    if not newer.exists():
        return []
    return anomalies_backfill(since=day + timedelta(days=1), until=until)


# --- Reads -------------------------------------------------------------------------


def flagged_by(profile: ScoringProfile) -> Q:
    """The anomalies `profile` flags, as a filter."""
    downloads, likes = profile.anomaly_min_downloads, profile.anomaly_min_likes
    return Q(z__gte=profile.anomaly_z_threshold) & (
        Q(metric=Anomaly.Metric.DOWNLOADS, change__gte=downloads, value__gte=downloads)
        | Q(metric=Anomaly.Metric.LIKES, change__gte=likes, value__gte=likes)
    )


def profiles_flagging(anomaly: Anomaly, profiles: Iterable[ScoringProfile]) -> list[str]:
    """Slugs of the profiles that flag `anomaly`."""
    metric, z, change, value = anomaly.metric, anomaly.z, anomaly.change, anomaly.value
    return [p.slug for p in profiles if Thresholds.of(p).flags(metric, z, change, value)]


def anomaly_list(
    *,
    profile: ScoringProfile | None = None,
    metric: str | None = None,
    hub_id: str | None = None,
    snapshot_id: int | None = None,
    day_from: date | None = None,
    day_to: date | None = None,
) -> QuerySet[Anomaly]:
    """Anomalies of public models, newest day first, strongest first, with their model."""
    rows = Anomaly.objects.filter(model__private=False).select_related("model", "snapshot")
    if profile is not None:
        rows = rows.filter(flagged_by(profile))
    if metric is not None:
        rows = rows.filter(metric=metric)
    if hub_id is not None:
        rows = rows.filter(model__hub_id=hub_id)
    if snapshot_id is not None:
        rows = rows.filter(snapshot_id=snapshot_id)
    if day_from is not None:
        rows = rows.filter(day__gte=day_from)
    if day_to is not None:
        rows = rows.filter(day__lte=day_to)
    return rows.order_by("-day", "-z", "model__hub_id", "metric")


def anomalies_for(
    *,
    model_ids: Iterable[int],
    snapshot: Snapshot,
    profile: ScoringProfile | None = None,
    days: int = BADGE_DAYS,
) -> dict[int, list[Anomaly]]:
    """Model id → its anomalies of the `days` UTC days up to `snapshot`'s: one query.

    For badges on a page of rows. With `profile`, only those it flags.
    """
    ids = list(model_ids)
    last = snapshot.taken_at.astimezone(UTC).date()
    rows = Anomaly.objects.filter(
        model_id__in=ids, day__gt=last - timedelta(days=days), day__lte=last
    )
    if profile is not None:
        rows = rows.filter(flagged_by(profile))
    found: dict[int, list[Anomaly]] = {pk: [] for pk in ids}
    for anomaly in rows.order_by("-day", "-z"):
        found[anomaly.model_id].append(anomaly)
    return found


def anomaly_payload(anomaly: Anomaly, profiles: Iterable[ScoringProfile]) -> dict:
    """An anomaly as the API and the webhook event show it (model joined)."""
    snapshot = anomaly.snapshot
    return {
        "model": anomaly.model.hub_id,
        "day": anomaly.day.isoformat(),
        "metric": anomaly.metric,
        "basis": anomaly.basis,
        "value": round(anomaly.value, 2),
        "median": round(anomaly.median, 2),
        "mad": round(anomaly.mad, 2),
        "z": round(anomaly.z, 2),
        "change": round(anomaly.change, 2),
        "history_days": anomaly.history_days,
        "profiles": profiles_flagging(anomaly, profiles),
        "snapshot": None
        if snapshot is None
        else {
            "id": snapshot.pk,
            "taken_at": snapshot.taken_at.isoformat().replace("+00:00", "Z"),
        },
    }


def anomaly_summary(anomaly: Anomaly | None) -> dict | None:
    """The short form for a model row's `anomaly` field (v4), without the model."""
    if anomaly is None:
        return None
    return {
        "day": anomaly.day.isoformat(),
        "metric": anomaly.metric,
        "value": round(anomaly.value, 2),
        "median": round(anomaly.median, 2),
        "z": round(anomaly.z, 2),
    }


def anomaly_event_id(anomaly: Anomaly) -> str:
    """Stable across retries and recomputes: one event per model, day and metric."""
    return f"anomaly_{anomaly.model_id}_{anomaly.day:%Y%m%d}_{anomaly.metric}"


def anomaly_events(snapshot: Snapshot) -> list[dict]:
    """The `model.anomaly` webhook events of the anomalies `snapshot` found first.

    Payloads in the Standard Webhooks shape ({"type", "timestamp", "data"}),
    with a stable `id` to deliver under. `profiles` names the curated
    profiles that flag it (custom ones are their organization's business).
    Private models are left out (their organization's feed is not routed
    here). Call it in the publishing transaction, after `anomalies_detect`,
    to write the events to the outbox.
    """
    profiles = list(ScoringProfile.objects.curated().order_by("position", "slug"))
    rows = (
        Anomaly.objects.filter(snapshot=snapshot, model__private=False)
        .select_related("model", "snapshot")
        .order_by("model__hub_id", "metric")
    )
    timestamp = (snapshot.published_at or timezone.now()).isoformat().replace("+00:00", "Z")
    return [
        {
            "id": anomaly_event_id(anomaly),
            "type": "model.anomaly",
            "timestamp": timestamp,
            "data": anomaly_payload(anomaly, profiles),
        }
        for anomaly in rows
    ]
