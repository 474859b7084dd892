"""manage.py detect_anomalies [--since DAY] [--until DAY] [--list] [--profile SLUG]

Recomputes the anomalies of every day with a complete snapshot (all, or
those in the range), each day in its own transaction: for history imported
before detection existed, archives imported out of order, or after a
threshold was loosened. With --list, prints what is stored afterwards.
"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from snapshots.anomalies import anomalies_backfill, anomaly_list
from snapshots.scoring import profile_by_slug


def _day(option: str, raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"{option}: '{raw}' is not a day as YYYY-MM-DD") from None


class Command(BaseCommand):
    help = "Recompute the anomalies of complete snapshots' days, and optionally list them."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="First UTC day (YYYY-MM-DD).")
        parser.add_argument("--until", help="Last UTC day (YYYY-MM-DD).")
        parser.add_argument("--list", action="store_true", help="Print the anomalies found.")
        parser.add_argument("--profile", help="With --list: only those this profile flags.")
        parser.add_argument(
            "--no-detect", action="store_true", help="Only list what is stored; recompute nothing."
        )

    def handle(self, *args, since, until, list, profile, no_detect, **opts):
        since_day, until_day = _day("--since", since), _day("--until", until)
        chosen = None
        if profile:
            chosen = profile_by_slug(slug=profile)
            if chosen is None:
                raise CommandError(f"--profile: no profile '{profile}'")
        if not no_detect:
            results = anomalies_backfill(since=since_day, until=until_day)
            found = sum(r.created + r.updated for r in results)
            self.stdout.write(
                self.style.SUCCESS(f"Judged {len(results)} day(s): {found} anomaly(ies) stored.")
            )
        if list:
            rows = anomaly_list(profile=chosen, day_from=since_day, day_to=until_day)
            for a in reversed(rows):
                self.stdout.write(
                    f"{a.day}  {a.model.hub_id}  {a.metric} ({a.basis}): "
                    f"{a.value:,.0f}/day vs median {a.median:,.0f} "
                    f"(MAD {a.mad:,.0f}, {a.history_days} days), z={a.z:.1f}"
                )
