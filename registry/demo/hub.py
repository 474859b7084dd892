"""The demo Hub's per-model state (`_Model`) and `DemoHub`, which turns it into the
raw records the Hub's ``/api/models`` would give on one simulated day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class _Model:
    hub_id: str
    author: str
    kind: str
    created: datetime
    level: float  # median daily downloads before drift and noise
    pipeline_tag: str | None
    library_name: str | None
    tags: list[str]
    card: dict | None
    parameters: int | None
    parameters_field: str | None  # "safetensors" or "gguf"
    gated: str | bool
    likes_potential: float = 0.0
    hype: float = 1.5
    created_day: int = 0
    object_id: str = ""
    created_iso: str = ""
    downloads: list[int] = field(default_factory=list)
    downloads_all_time: list[int] = field(default_factory=list)
    likes: list[int] = field(default_factory=list)
    trending: list[int] = field(default_factory=list)
    # (first window day it is visible, sha, lastModified as the Hub writes it)
    versions: list[tuple[int, str, str]] = field(default_factory=list)


@dataclass
class DemoHub:
    """Simulated daily snapshots of a Hub; see `generate_demo_hub`."""

    days: list[datetime]
    spikes: list[tuple[str, int]]
    _models: list[_Model] = field(repr=False)

    @property
    def model_ids(self) -> list[str]:
        """Every model id, including those created during the window."""
        return [model.hub_id for model in self._models]

    def records_at(self, day_index: int) -> list[dict]:
        """Raw Hub records, fully expanded, for the models that exist on day `day_index`.

        Negative indexes count from the end, as for lists. Each call returns
        fresh dicts, so callers may change them.
        """
        if not -len(self.days) <= day_index < len(self.days):
            raise IndexError(f"day_index {day_index} out of range for {len(self.days)} days")
        day = day_index % len(self.days)
        records = []
        for model in self._models:
            if model.created_day > day:
                continue
            sha, last_modified = "", ""
            for first_day, version_sha, version_modified in model.versions:
                if first_day > day:
                    break
                sha, last_modified = version_sha, version_modified
            record = {
                "_id": model.object_id,
                "id": model.hub_id,
                "author": model.author,
                "gated": model.gated,
                "lastModified": last_modified,
                "likes": model.likes[day],
                "trendingScore": model.trending[day],
                "private": False,
                "sha": sha,
                "downloads": model.downloads[day],
                "downloadsAllTime": model.downloads_all_time[day],
                "tags": list(model.tags),
                "pipeline_tag": model.pipeline_tag,
                "library_name": model.library_name,
                "createdAt": model.created_iso,
                "modelId": model.hub_id,
            }
            if model.pipeline_tag is None:
                del record["pipeline_tag"]
            if model.library_name is None:
                del record["library_name"]
            if model.card is not None:
                record["cardData"] = _copy_card(model.card)
            if model.parameters_field is not None:
                record[model.parameters_field] = _parameters_block(model)
            records.append(record)
        return records


def _copy_card(card: dict) -> dict:
    return {key: list(value) if type(value) is list else value for key, value in card.items()}


def _parameters_block(model: _Model) -> dict:
    if model.parameters_field == "gguf":
        return {"total": model.parameters, "architecture": model.tags[0], "context_length": 32768}
    return {"parameters": {"BF16": model.parameters}, "total": model.parameters}
