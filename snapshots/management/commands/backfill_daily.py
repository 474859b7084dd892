"""manage.py backfill_daily: build the daily history from the observations still held.

Run once after upgrading to the release that writes the daily history at
publish: every complete snapshot with observations is written into it (the
day's latest sighting wins), then every row's daily downloads is computed
from the all-time counts of its day and the day before. Safe to run again.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from snapshots.daily import daily_history_backfill


class Command(BaseCommand):
    help = "Write the daily history from held observations and compute its daily downloads."

    def handle(self, *args, **opts):
        result = daily_history_backfill()
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {result.rows:,} daily history row(s) from {result.snapshots:,} "
                f"snapshot(s); daily downloads set on {result.recomputed:,} row(s)."
            )
        )
