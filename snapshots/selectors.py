"""Reads of snapshot data, for the pages and the API."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from registry.models import HubModel

from .models import Observation, Snapshot


def latest_snapshot() -> Snapshot | None:
    """The newest complete snapshot: the one every reader is served."""
    return Snapshot.objects.visible().order_by("-taken_at", "-id").first()


def leaderboard_rows(*, snapshot: Snapshot) -> QuerySet[Observation]:
    """A snapshot's observations in rank order, with each model and provider joined."""
    return (
        Observation.objects.filter(snapshot=snapshot)
        .select_related("model", "model__provider")
        .order_by("rank", "model__hub_id")
    )


@dataclass(frozen=True)
class ModelView:
    model: HubModel
    observation: Observation | None  # None: not in the latest snapshot
    snapshot: Snapshot | None


def model_in_snapshot(*, hub_id: str, snapshot: Snapshot | None) -> ModelView | None:
    """A catalog model with its observation in `snapshot`; None if we never saw it."""
    model = HubModel.objects.select_related("provider").filter(hub_id=hub_id).first()
    if model is None:
        return None
    observation = None
    if snapshot is not None:
        observation = Observation.objects.filter(snapshot=snapshot, model=model).first()
    return ModelView(model=model, observation=observation, snapshot=snapshot)


def model_recent_observations(*, model: HubModel, limit: int = 30) -> list[Observation]:
    """The model's latest observations in complete snapshots, newest first."""
    return list(
        Observation.objects.filter(model=model, snapshot__status=Snapshot.Status.COMPLETE)
        .select_related("snapshot")
        .order_by("-snapshot__taken_at")[:limit]
    )
