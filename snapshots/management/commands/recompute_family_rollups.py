"""manage.py recompute_family_rollups [--since ISO]: re-assign families, then rollups.

Rollups are written as each snapshot is published; run this for snapshots
published before families existed, or after editing rules outside the admin
(a shell, a migration). Families are assigned again first (every model),
then every complete snapshot that still has observations is rolled up
again, oldest first, each in its own transaction.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from registry.families import families_assign
from snapshots.rollups import family_rollups_recompute


class Command(BaseCommand):
    help = "Re-assign model families and recompute the family rollups of snapshots."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", help="Only snapshots taken at or after this ISO-8601 time (with offset)."
        )
        parser.add_argument(
            "--no-assign", action="store_true", help="Keep the families as they are."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not draw a progress bar."
        )

    def handle(self, *args, since: str | None, no_assign: bool, no_progress: bool, **opts):
        since_at = None
        if since:
            since_at = parse_datetime(since)
            if since_at is None or since_at.tzinfo is None:
                raise CommandError(
                    f"--since: '{since}' is not an ISO-8601 time with an offset (2026-03-02T12:17Z)"
                )
        if not no_assign:
            result = families_assign()
            self.stdout.write(
                f"Families: {result.members} members ({result.added} added, "
                f"{result.removed} removed, {result.changed} changed)."
            )
        bar = tqdm(desc="Rolling up", unit="snapshot", disable=True if no_progress else None)

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(1)

        with bar:
            count = family_rollups_recompute(since=since_at, on_progress=advance)
        self.stdout.write(self.style.SUCCESS(f"Rolled up families in {count} snapshot(s)."))
