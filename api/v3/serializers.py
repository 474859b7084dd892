"""The v3 JSON shapes. Frozen: golden files in tests/api/golden pin every byte."""

from __future__ import annotations

from api.shared import iso_time
from registry.models import HubModel
from snapshots.models import Observation, Snapshot


def snapshot_ref(snapshot: Snapshot) -> dict:
    return {"id": snapshot.pk, "taken_at": iso_time(snapshot.taken_at)}


def model_fields(model: HubModel) -> dict:
    return {
        "id": model.hub_id,
        "author": model.author or None,
        "provider": model.provider_name or None,
        "pipeline_tag": model.pipeline_tag or None,
        "library_name": model.library_name or None,
        "license": model.license or None,
        "license_class": model.license_class,
        "parameters": model.parameters,
        "param_class": model.param_class,
    }


def leaderboard_row(observation: Observation) -> dict:
    return {
        "rank": observation.rank,
        **model_fields(observation.model),
        "downloads": observation.downloads,
        "likes": observation.likes,
        "trending_score": observation.trending_score,
        "last_modified": iso_time(observation.last_modified),
    }


def model_detail(model: HubModel, observation: Observation) -> dict:
    return {
        **leaderboard_row(observation),
        "downloads_all_time": observation.downloads_all_time,
        "created_at": iso_time(model.created_at),
        "gated": model.gated or False,
        "hub_url": model.hub_url,
    }
