"""What v3 and v4 answer alike: the time format and the snapshot every read starts from."""

from __future__ import annotations

from datetime import datetime

from snapshots import selectors
from snapshots.models import Snapshot

from .errors import ApiError


def iso_time(value: datetime | None) -> str | None:
    """UTC times as ISO-8601 with a Z, as both API versions print them."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def latest_snapshot_or_503() -> Snapshot:
    """The latest complete snapshot, or the API's 503 before the first one."""
    snapshot = selectors.latest_snapshot()
    if snapshot is None:
        raise ApiError(
            code="no_snapshot",
            message="No complete snapshot yet: the first refresh has not finished.",
            status_code=503,
        )
    return snapshot
