"""Template tags for scores and anomalies: a score with its breakdown, anomaly badges.

{% load scores %}
{% score_cell row profile %}          (row: an Observation, ideally from
                                        scoring.with_profile_score)
{% anomaly_badges anomalies_by_model row.model_id %}
{% model_anomalies model snapshot %}  (the model page: one query)
"""

from __future__ import annotations

from datetime import UTC, timedelta

from django import template

from snapshots.anomalies import anomaly_list
from snapshots.scoring import score_breakdown

register = template.Library()

MODEL_PAGE_DAYS = 30


@register.inclusion_tag("snapshots/_score.html")
def score_cell(observation, profile) -> dict:
    """The observation's score under `profile`, with its breakdown on expand."""
    return {"breakdown": score_breakdown(observation, profile)}


@register.inclusion_tag("snapshots/_anomaly_badge.html")
def anomaly_badges(anomalies_by_model, model_id) -> dict:
    """Badges for one row, from `anomalies.anomalies_for(...)`'s mapping."""
    return {"anomalies": (anomalies_by_model or {}).get(model_id, [])}


@register.inclusion_tag("snapshots/_anomaly_list.html")
def model_anomalies(model, snapshot) -> dict:
    """A model's anomalies of the 30 days up to `snapshot`, newest first."""
    if snapshot is None:
        return {"anomalies": []}
    last = snapshot.taken_at.astimezone(UTC).date()
    rows = anomaly_list(
        hub_id=model.hub_id, day_from=last - timedelta(days=MODEL_PAGE_DAYS), day_to=last
    )
    return {"anomalies": list(rows)}
