"""manage.py recompute_deltas [--since ISO]: recompute stored deltas and rank changes.

Deltas are computed as a snapshot is written; run this after importing
archives out of order or correcting data. Snapshots are recomputed oldest
first, each in its own transaction.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from snapshots.deltas import snapshots_recompute_deltas


class Command(BaseCommand):
    help = "Recompute the 24h/7d deltas of complete snapshots (all, or those taken since a time)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", help="Only snapshots taken at or after this ISO-8601 time (with offset)."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not draw a progress bar."
        )

    def handle(self, *args, since: str | None, no_progress: bool, **opts):
        since_at = None
        if since:
            since_at = parse_datetime(since)
            if since_at is None or since_at.tzinfo is None:
                raise CommandError(
                    f"--since: '{since}' is not an ISO-8601 time with an offset (2026-03-02T12:17Z)"
                )
        bar = tqdm(desc="Recomputing", unit="snapshot", disable=True if no_progress else None)

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(1)

        with bar:
            count = snapshots_recompute_deltas(since=since_at, on_progress=advance)
        self.stdout.write(self.style.SUCCESS(f"Recomputed the deltas of {count} snapshot(s)."))
