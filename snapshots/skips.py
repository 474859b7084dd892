"""Odd records left out of a snapshot: counted by reason, with a few example ids.

One odd record never stops a refresh or a crawl (`registry.records` refuses
what the database could not store, naming the reason); the rest is
published, and the snapshot says how many were left out and why. The admin,
the health endpoint and /metrics read these counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from registry.records import DUPLICATE_ID, RecordError

EXAMPLES_KEPT = 5
EXAMPLE_LENGTH = 200


def _printable(hub_id: str | None) -> str:
    """An id fit to store and show even when it is the odd part (NUL, lone surrogate)."""
    if hub_id is None:
        return "(no id)"
    text = hub_id.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return text[:EXAMPLE_LENGTH]


@dataclass
class SkippedRecords:
    """Reason → {"count": n, "examples": [up to EXAMPLES_KEPT Hub ids]}, and the total."""

    reasons: dict[str, dict[str, Any]] = field(default_factory=dict)
    total: int = 0

    @classmethod
    def from_stored(cls, reasons: dict[str, dict[str, Any]] | None) -> SkippedRecords:
        reasons = {
            key: {"count": v["count"], "examples": list(v["examples"])}
            for key, v in (reasons or {}).items()
        }
        return cls(reasons=reasons, total=sum(v["count"] for v in reasons.values()))

    def add(self, reason: str, hub_id: str | None) -> None:
        entry = self.reasons.setdefault(reason, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < EXAMPLES_KEPT:
            entry["examples"].append(_printable(hub_id))
        self.total += 1

    def add_error(self, exc: RecordError, raw: object = None) -> None:
        hub_id = exc.hub_id
        if hub_id is None and type(raw) is dict and type(raw.get("id")) is str:
            hub_id = raw["id"]
        self.add(exc.reason, hub_id)

    def add_duplicate(self, hub_id: str) -> None:
        self.add(DUPLICATE_ID, hub_id)

    def summary(self) -> str:
        """ "3 odd record(s) skipped (too_long 2, nul_character 1)", or "" when none."""
        if not self.total:
            return ""
        parts = ", ".join(f"{reason} {entry['count']}" for reason, entry in self.reasons.items())
        return f"{self.total} odd record(s) skipped ({parts})"
