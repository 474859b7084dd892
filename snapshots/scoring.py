"""Scores: normalized components per observation, weighted by scoring profiles.

Components are computed once per observation, as its snapshot is published
(`snapshot_compute_components`: one INSERT … SELECT with window functions,
whatever the number of models), and stored in `ScoreComponents`. Each is the
model's percentile within the snapshot, 0 (lowest) to 1 (highest), by
PERCENT_RANK (ties share the lower rank):

- downloads: 30-day downloads; likes: likes;
- downloads_growth / likes_growth: the 7-day change relative to a week ago,
  `delta_7d / max(value a week ago, floor)` (floors: 1,000 downloads, 10
  likes), so a model going from 50 to 500 downloads does not outrank one
  adding a million to ten million, yet relative momentum counts;
- recency: when the model was last modified (newest highest);
- trending: the Hub's trending score;
- license: not a percentile but a fixed openness per license class
  (LICENSE_OPENNESS: permissive 1, copyleft 0.75, open weights with
  restrictions 0.5, non-commercial 0.25, unknown 0).

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
from dataclasses import dataclass

from django.db import connection
from django.db.models import Case, F, FloatField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce

from registry.dimensions import LicenseClass
from registry.models import HubModel

from .models import Observation, ScoreComponents, ScoringProfile, Snapshot

COMPONENTS = (
    "downloads",
    "likes",
    "downloads_growth",
    "likes_growth",
    "recency",
    "trending",
    "license",
)
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

# --- Components (written at publish) -------------------------------------------


def _percentile(expression: str) -> str:
    # Nulls sit in their own partition and stay null; the others rank among themselves.
    return (
        f"CASE WHEN {expression} IS NULL THEN NULL ELSE "
        f"PERCENT_RANK() OVER (PARTITION BY ({expression}) IS NULL ORDER BY {expression}) END"
    )


def _components_sql() -> str:
    quote = connection.ops.quote_name
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    observations = quote(Observation._meta.db_table)
    catalog = quote(HubModel._meta.db_table)
    components = quote(ScoreComponents._meta.db_table)
    openness = " ".join(
        f"WHEN '{license_class}' THEN {value}" for license_class, value in LICENSE_OPENNESS.items()
    )
    growth = (
        "o.delta_{name}_7d * 1.0 / {greatest}(o.{name} - o.delta_{name}_7d, {floor})"
    ).format
    source = (
        "SELECT o.id, o.snapshot_id, o.downloads, o.likes, o.last_modified, o.trending_score, "
        f"{growth(name='downloads', greatest=greatest, floor=DOWNLOADS_GROWTH_FLOOR)} AS dg, "
        f"{growth(name='likes', greatest=greatest, floor=LIKES_GROWTH_FLOOR)} AS lg, "
        f"CASE m.license_class {openness} ELSE 0.0 END AS openness "
        f"FROM {observations} AS o JOIN {catalog} AS m ON m.id = o.model_id "
        "WHERE o.snapshot_id = %s"
    )
    return (
        f"INSERT INTO {components} (observation_id, snapshot_id, {', '.join(COMPONENTS)}) "
        f"SELECT id, snapshot_id, {_percentile('downloads')}, {_percentile('likes')}, "
        f"{_percentile('dg')}, {_percentile('lg')}, {_percentile('last_modified')}, "
        f"{_percentile('trending_score')}, openness FROM ({source}) AS s"
    )


def snapshot_compute_components(*, snapshot: Snapshot) -> int:
    """Compute and store the score components of every observation of `snapshot`.

    Replaces what was stored (safe to run again, e.g. after its deltas were
    recomputed). One DELETE and one INSERT … SELECT; run it inside the
    publishing transaction. Returns the rows written.
    """
    ScoreComponents.objects.filter(snapshot=snapshot).delete()
    with connection.cursor() as cursor:
        cursor.execute(_components_sql(), [snapshot.pk])
        return max(cursor.rowcount, 0)


# --- Profiles and scores (read) ----------------------------------------------------


def profile_by_slug(*, slug: str) -> ScoringProfile | None:
    """The profile called `slug` (curated or custom), or None."""
    return ScoringProfile.objects.filter(slug=slug).first()


def profiles_visible_to(*, organization_id: int | None) -> QuerySet[ScoringProfile]:
    """The curated profiles, and the organization's own when one is given."""
    visible = Q(organization__isnull=True)
    if organization_id is not None:
        visible |= Q(organization_id=organization_id)
    return ScoringProfile.objects.filter(visible).order_by(
        F("organization_id").asc(nulls_first=True), "position", "slug"
    )


def score_expression(profile: ScoringProfile):
    """Σ points × component over the observation's stored components; null without them."""
    total = None
    for name, points in profile.weights().items():
        if not points:
            continue
        term = Value(float(points)) * Coalesce(F(f"components__{name}"), Value(0.0))
        total = term if total is None else total + term
    if total is None:
        total = Value(0.0)
    return Case(
        When(components__snapshot__isnull=True, then=Value(None)),
        default=total,
        output_field=FloatField(),
    )


def with_profile_score(queryset: QuerySet[Observation], profile: ScoringProfile) -> QuerySet:
    """Observations annotated with `score` (0–100, exact) and `component_<name>` (0–1 or None).

    Sort by it with `.order_by(F("score").desc(nulls_last=True), "rank")`.
    `score_breakdown` turns an annotated row into the parts shown.
    """
    return queryset.annotate(
        score=score_expression(profile),
        **{f"component_{name}": F(f"components__{name}") for name in COMPONENTS},
    )


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
    if hasattr(observation, "component_downloads"):
        if getattr(observation, "score", 0) is None:
            return None
        return {name: getattr(observation, f"component_{name}") for name in COMPONENTS}
    try:
        stored = observation.components
    except ScoreComponents.DoesNotExist:
        return None
    return {name: getattr(stored, name) for name in COMPONENTS}


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

    Takes the components `with_profile_score` annotated, or reads the stored
    row (one query, or none when `components` was select_related).
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
