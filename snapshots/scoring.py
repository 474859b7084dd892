"""Scores: normalized components per observation, weighted by scoring profiles.

Components are computed once per observation, as its snapshot is written:
`snapshots.ingest` calls `iter_with_percentiles` on the rows it is about to COPY
(six sorts in Python, no second write), and `snapshot_compute_components`
computes the same figures again over stored rows with one UPDATE (window
functions) when a snapshot's 7-day deltas are recomputed; a test holds the
two to the same results. They are stored on the observation (`pct_*`). Each
is the model's percentile within the snapshot, 0 (lowest) to 1 (highest), as
PERCENT_RANK gives it: (rank − 1) / (n − 1), ties sharing the lower rank:

- downloads: 30-day downloads; likes: likes;
- downloads_growth / likes_growth: the 7-day change relative to a week ago,
  `delta_7d / max(value a week ago, floor)` (floors: 1,000 downloads, 10
  likes), so a model going from 50 to 500 downloads does not outrank one
  adding a million to ten million, yet relative momentum counts;
- recency: when the model was last modified (newest highest);
- trending: the Hub's trending score.

License openness is not a percentile but a fixed value per license class
(LICENSE_OPENNESS: permissive 1, copyleft 0.75, open weights with
restrictions 0.5, non-commercial 0.25, unknown 0), read from the catalog.

A figure the Hub did not give (or a delta without a baseline) leaves its
component null: it counts 0 in the score, and the breakdown says "unknown".

A profile's score is the sum of points × component (the points add up to
100, so scores run 0–100). It is computed when read, as an SQL expression
(`with_profile_score`), rather than stored per profile: storing would write
100k rows per profile at every publish, and once more for every custom
profile, and would go stale whenever a curator changes a weight; sorting a
100k-row snapshot by the expression is one top-N sort, and pages and API
answers are cached per content generation anyway.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Case, F, FloatField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from registry.dimensions import LicenseClass

from .models import Observation, ScoringProfile, Snapshot

COMPONENTS = (
    "downloads",
    "likes",
    "downloads_growth",
    "likes_growth",
    "recency",
    "trending",
    "license",
)
# The components stored on observations, in this order (license is read from the catalog).
STORED = COMPONENTS[:-1]
PERCENTILE_COLUMNS = tuple(f"pct_{name}" for name in STORED)
COMPONENT_LABELS = {
    "downloads": "Downloads (30 days)",
    "likes": "Likes",
    "downloads_growth": "Download growth (7 days)",
    "likes_growth": "Likes growth (7 days)",
    "recency": "Recently modified",
    "trending": "Trending score",
    "license": "License openness",
}
LICENSE_OPENNESS = {
    LicenseClass.PERMISSIVE.value: 1.0,
    LicenseClass.COPYLEFT.value: 0.75,
    LicenseClass.OPEN_WEIGHTS.value: 0.5,
    LicenseClass.NON_COMMERCIAL.value: 0.25,
    LicenseClass.UNKNOWN.value: 0.0,
}
DOWNLOADS_GROWTH_FLOOR = 1000
LIKES_GROWTH_FLOOR = 10
# Scores and their parts are shown to one decimal.
SCORE_DECIMALS = 1

# --- Components (written as a snapshot is) ------------------------------------------


def percent_ranks(values: Sequence) -> list[float | None]:
    """PERCENT_RANK of each value among the non-null ones; None stays None.

    (rank − 1) / (n − 1), where rank counts the smaller values plus one, so
    ties share the lower rank and a lone value is 0, as in SQL.
    """
    out: list[float | None] = [None] * len(values)
    order = [i for i, v in enumerate(values) if v is not None]
    if not order:
        return out
    order.sort(key=values.__getitem__)
    last = len(order) - 1
    if last == 0:
        out[order[0]] = 0.0
        return out
    previous, rank = None, 0
    for position, index in enumerate(order):
        value = values[index]
        if position == 0 or value != previous:
            rank, previous = position, value
        out[index] = rank / last
    return out


def _growth(delta, value, floor):
    if delta is None or value is None:
        return None
    return delta / max(value - delta, floor)


def with_percentiles(rows: list[tuple], columns: Sequence[str]) -> list[tuple]:
    """Observation rows (tuples in `columns` order) with PERCENTILE_COLUMNS appended.

    For ingest, before the rows are written: the same figures as
    `snapshot_compute_components`, without a second pass over the table.
    """
    return list(iter_with_percentiles(rows, columns))


def iter_with_percentiles(rows: list[tuple], columns: Sequence[str]) -> Iterator[tuple]:
    """`with_percentiles`, a row at a time: a million rows are never held twice."""
    at = {name: columns.index(name) for name in columns}

    def column(name: str) -> list:
        index = at[name]
        return [row[index] for row in rows]

    downloads, likes = column("downloads"), column("likes")
    growth_downloads = [
        _growth(d, v, DOWNLOADS_GROWTH_FLOOR)
        for d, v in zip(column("delta_downloads_7d"), downloads, strict=True)
    ]
    growth_likes = [
        _growth(d, v, LIKES_GROWTH_FLOOR)
        for d, v in zip(column("delta_likes_7d"), likes, strict=True)
    ]
    percentiles = (
        percent_ranks(downloads),
        percent_ranks(likes),
        percent_ranks(growth_downloads),
        percent_ranks(growth_likes),
        percent_ranks(column("last_modified")),
        percent_ranks(column("trending_score")),
    )
    return (row + extra for row, extra in zip(rows, zip(*percentiles, strict=True), strict=True))


def _percentile(expression: str) -> str:
    # Nulls sit in their own partition and stay null; the others rank among themselves.
    return (
        f"CASE WHEN {expression} IS NULL THEN NULL ELSE "
        f"PERCENT_RANK() OVER (PARTITION BY ({expression}) IS NULL ORDER BY {expression}) END"
    )


def _components_sql() -> str:
    quote = connection.ops.quote_name
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    table = quote(Observation._meta.db_table)
    growth = "delta_{name}_7d * 1.0 / {greatest}({name} - delta_{name}_7d, {floor})".format
    source = (
        "SELECT model_id, downloads, likes, last_modified, trending_score, "
        f"{growth(name='downloads', greatest=greatest, floor=DOWNLOADS_GROWTH_FLOOR)} AS dg, "
        f"{growth(name='likes', greatest=greatest, floor=LIKES_GROWTH_FLOOR)} AS lg "
        f"FROM {table} WHERE snapshot_id = %s"
    )
    ranked = (
        f"SELECT model_id, {_percentile('downloads')} AS p1, {_percentile('likes')} AS p2, "
        f"{_percentile('dg')} AS p3, {_percentile('lg')} AS p4, "
        f"{_percentile('last_modified')} AS p5, {_percentile('trending_score')} AS p6 "
        f"FROM ({source}) AS s"
    )
    assignments = ", ".join(
        f"{column} = r.p{n}" for n, column in enumerate(PERCENTILE_COLUMNS, start=1)
    )
    # Rows are keyed by (model, snapshot): the snapshot is named again so the
    # UPDATE reaches its rows (on PostgreSQL, its partition) only.
    return (
        f"UPDATE {table} SET {assignments} FROM ({ranked}) AS r "
        f"WHERE {table}.snapshot_id = %s AND {table}.model_id = r.model_id"
    )


def components_mark_computed(*, snapshot: Snapshot) -> None:
    snapshot.components_computed_at = timezone.now()
    snapshot.save(update_fields=["components_computed_at"])


def snapshot_compute_components(*, snapshot: Snapshot) -> int:
    """Compute and store the score components of every observation of `snapshot`.

    The path for stored rows (ingest computes them as it writes): after the
    snapshot's 7-day deltas were recomputed, or for snapshots written before
    scoring existed. One UPDATE; overwrites, so safe to run again. Returns
    the rows updated.
    """
    with connection.cursor() as cursor:
        cursor.execute(_components_sql(), [snapshot.pk, snapshot.pk])
        updated = max(cursor.rowcount, 0)
    components_mark_computed(snapshot=snapshot)
    return updated


# --- Profiles and scores (read) ----------------------------------------------------


def profile_by_slug(*, slug: str) -> ScoringProfile | None:
    """The profile called `slug` (curated or custom), or None."""
    return ScoringProfile.objects.filter(slug=slug).first()


def curated_profile(*, slug: str) -> ScoringProfile | None:
    """A curated profile by slug, for the public pages (custom ones are API-only), or None."""
    return ScoringProfile.objects.curated().filter(slug=slug).first()


def default_profile() -> ScoringProfile | None:
    """The profile scores are shown in when none is asked for (SCORING_DEFAULT_PROFILE)."""
    return curated_profile(slug=settings.SCORING_DEFAULT_PROFILE)


def profiles_visible_to(*, organization_id: int | None) -> QuerySet[ScoringProfile]:
    """The curated profiles, and the organization's own when one is given."""
    visible = Q(organization__isnull=True)
    if organization_id is not None:
        visible |= Q(organization_id=organization_id)
    return ScoringProfile.objects.filter(visible).order_by(
        F("organization_id").asc(nulls_first=True), "position", "slug"
    )


def license_openness():
    """The license component, from the model's license class."""
    return Case(
        *(When(model__license_class=c, then=Value(v)) for c, v in LICENSE_OPENNESS.items()),
        default=Value(0.0),
        output_field=FloatField(),
    )


def score_expression(profile: ScoringProfile):
    """Σ points × component; null for a snapshot whose components were never computed."""
    total = None
    for name, points in profile.weights().items():
        if not points:
            continue
        component = license_openness() if name == "license" else F(f"pct_{name}")
        term = Value(float(points)) * Coalesce(component, Value(0.0))
        total = term if total is None else total + term
    if total is None:
        total = Value(0.0)
    return Case(
        When(snapshot__components_computed_at__isnull=True, then=Value(None)),
        default=total,
        output_field=FloatField(),
    )


def with_profile_score(queryset: QuerySet[Observation], profile: ScoringProfile) -> QuerySet:
    """Observations annotated with `score` (0–100, exact) and `component_license`.

    Sort with `order_by_score`. `score_breakdown` turns an annotated row into
    the parts shown, with no further query.
    """
    return queryset.annotate(score=score_expression(profile), component_license=license_openness())


def order_by_score(queryset: QuerySet) -> QuerySet:
    """Highest score first; unscored rows last; rank breaks ties."""
    return queryset.order_by(F("score").desc(nulls_last=True), "rank", "model_id")


@dataclass(frozen=True)
class ScorePart:
    component: str
    label: str
    weight: int  # points out of 100
    value: float | None  # the component, 0–1; None: unknown (counts 0)
    points: float  # weight × value, rounded so the parts add up to the score

    @property
    def unknown(self) -> bool:
        return self.value is None

    @property
    def percent(self) -> float | None:
        return None if self.value is None else round(self.value * 100, 1)


@dataclass(frozen=True)
class ScoreBreakdown:
    profile: ScoringProfile
    score: float | None  # None: the observation has no components (snapshot before scoring)
    parts: tuple[ScorePart, ...]

    def as_dict(self) -> dict:
        return {
            "profile": self.profile.slug,
            "score": self.score,
            "parts": [
                {
                    "component": p.component,
                    "weight": p.weight,
                    "value": None if p.value is None else round(p.value, 4),
                    "points": p.points,
                }
                for p in self.parts
            ],
        }


def _component_values(observation: Observation) -> dict[str, float | None] | None:
    if hasattr(observation, "score"):
        if observation.score is None:
            return None
        license_value = observation.component_license
    else:
        if observation.snapshot.components_computed_at is None:
            return None
        license_value = LICENSE_OPENNESS.get(observation.model.license_class, 0.0)
    values = {name: getattr(observation, f"pct_{name}") for name in STORED}
    values["license"] = license_value
    return values


def apportion(exact: list[float], *, decimals: int = SCORE_DECIMALS) -> tuple[float, list[float]]:
    """Round parts so they add up exactly to the rounded total (largest remainders).

    Returns (rounded total, rounded parts). Each part moves less than one
    step (0.1) from its exact value, and the total is the exact sum rounded
    half up, so the score sorts as the exact one does.
    """
    step = 10**decimals
    scaled = [value * step for value in exact]
    # A hair of slack so 12.5 computed as 12.4999999 still counts as 12.5.
    target = math.floor(sum(scaled) + 0.5 + 1e-9)
    floors = [math.floor(value + 1e-9) for value in scaled]
    short = target - sum(floors)
    order = sorted(range(len(exact)), key=lambda i: (floors[i] - scaled[i], -exact[i], i))
    for i in order[: max(short, 0)]:
        floors[i] += 1
    return target / step, [units / step for units in floors]


def score_breakdown(observation: Observation, profile: ScoringProfile) -> ScoreBreakdown:
    """The observation's score under `profile`, part by part; the parts add up to the score.

    Takes what `with_profile_score` annotated; otherwise reads the snapshot
    and the model (no query when they were select_related).
    """
    values = _component_values(observation)
    weights = profile.weights()
    if values is None:
        parts = tuple(
            ScorePart(name, COMPONENT_LABELS[name], weights[name], None, 0.0) for name in COMPONENTS
        )
        return ScoreBreakdown(profile=profile, score=None, parts=parts)
    exact = [weights[name] * (values[name] or 0.0) for name in COMPONENTS]
    score, rounded = apportion(exact)
    parts = tuple(
        ScorePart(name, COMPONENT_LABELS[name], weights[name], values[name], points)
        for name, points in zip(COMPONENTS, rounded, strict=True)
    )
    return ScoreBreakdown(profile=profile, score=score, parts=parts)
