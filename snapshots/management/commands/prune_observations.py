"""manage.py prune_observations [--dry-run]: apply the retention settings now.

Observations older than OBSERVATION_RETENTION_DAYS and daily history older
than DAILY_HISTORY_DAYS are deleted; snapshot rows stay. Beat runs the same
prune daily.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from snapshots.retention import observations_prune


class Command(BaseCommand):
    help = "Delete observations and daily history past their retention."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count what would go.")
        parser.add_argument(
            "--days", type=int, help="Keep this many days of observations (default: the setting)."
        )

    def handle(self, *args, dry_run: bool, days: int | None, **opts):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        result = observations_prune(older_than_days=days, dry_run=dry_run)
        verb = "Would prune" if dry_run else "Pruned"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {result.observations:,} observation(s) of {result.snapshots} "
                f"snapshot(s) and {result.daily_observations:,} daily history row(s)."
            )
        )
