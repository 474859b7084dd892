"""Factory functions for test data: raw Hub records and published snapshots."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from registry.records import parse_hub_record
from snapshots.models import Snapshot
from snapshots.services import snapshot_record

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def hub_record(hub_id: str = "acme/widget-7b", **fields) -> dict:
    """A raw Hub model record as the Hub's JSON gives it, with full detail."""
    author = hub_id.split("/", 1)[0] if "/" in hub_id else ""
    sha = hashlib.sha1(hub_id.encode()).hexdigest()
    record = {
        "_id": sha[:24],
        "id": hub_id,
        "author": author,
        "downloads": 1000,
        "downloadsAllTime": 50_000,
        "likes": 10,
        "trendingScore": 5,
        "lastModified": "2026-02-01T10:00:00.000Z",
        "createdAt": "2025-12-01T10:00:00.000Z",
        "sha": sha,
        "tags": ["transformers", "license:apache-2.0"],
        "pipeline_tag": "text-generation",
        "library_name": "transformers",
        "private": False,
        "gated": False,
        "cardData": {"license": "apache-2.0"},
        "safetensors": {"total": 7_000_000_000},
    }
    record.update(fields)
    return record


def hub_records(n: int, *, prefix: str = "org", downloads_start: int = 1_000_000) -> list[dict]:
    """n records with distinct ids and strictly falling downloads."""
    return [
        hub_record(
            f"{prefix}{i % 7}/model-{i:05d}", downloads=downloads_start - i * 10, likes=n - i
        )
        for i in range(n)
    ]


def published_snapshot(
    records: Sequence[dict], *, taken_at: datetime = T0, source: str = Snapshot.Source.ARCHIVE
) -> Snapshot:
    """A complete snapshot of these raw records, written through the real service."""
    return snapshot_record(
        source=source,
        source_name="test",
        taken_at=taken_at,
        records=[parse_hub_record(r) for r in records],
    )


def days(n: int) -> timedelta:
    return timedelta(days=n)


def api_key(plan: str = "free", name: str = "key") -> str:
    """A new API key (its plaintext) for an organization on `plan`."""
    from api.services import api_key_create
    from registry.models import Organization, Plan

    org, _ = Organization.objects.get_or_create(
        slug=f"org-{plan}", defaults={"name": f"Org {plan}", "plan": Plan.objects.get(slug=plan)}
    )
    return api_key_create(organization=org, name=name)[1]
