"""manage.py refresh: take one snapshot of the Hub now.

Exit codes: 0 complete, 1 failed, 2 partial (call budget ran out), 3 another
refresh is running.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from snapshots.models import Snapshot
from snapshots.services import RefreshInProgress, RefreshProgress, snapshot_refresh


class Command(BaseCommand):
    help = "Take a snapshot of the Hub's models and publish it if it completes."

    def add_arguments(self, parser):
        parser.add_argument("--max-models", type=int, help="Default: REFRESH_MAX_MODELS.")
        parser.add_argument("--budget", type=int, help="Upstream calls allowed.")
        parser.add_argument("--sort", help="Hub sort key (downloads, likes, trendingScore…).")
        parser.add_argument("--page-size", type=int, help="Models per Hub page (max 1000).")

    def handle(self, *args, max_models, budget, sort, page_size, verbosity, **opts):
        for name, value in (("--max-models", max_models), ("--budget", budget)):
            if value is not None and value < 1:
                raise CommandError(f"{name} must be at least 1")
        if page_size is not None and not 1 <= page_size <= 1000:
            raise CommandError("--page-size must be from 1 to 1000")
        self.stdout.write(f"Refreshing from {settings.HF_ENDPOINT} …")

        def report(progress: RefreshProgress) -> None:
            if verbosity < 1:
                return
            if progress.phase == "details":
                self.stdout.write(
                    f"  details {progress.details_done}/{progress.details_total} "
                    f"({progress.calls_used} calls)"
                )
            else:
                self.stdout.write(
                    f"  {progress.phase}: {progress.models:,} models ({progress.calls_used} calls)"
                )

        try:
            snapshot = snapshot_refresh(
                call_budget=budget,
                max_models=max_models,
                sort=sort,
                page_size=page_size,
                on_progress=report,
            )
        except RefreshInProgress as exc:
            raise CommandError(f"Another refresh is running: {exc}", returncode=3) from exc

        quota = snapshot.quota_remaining
        figures = (
            f"snapshot #{snapshot.pk}: {snapshot.models_seen:,} models, "
            f"{snapshot.calls_used}/{snapshot.call_budget} calls, "
            f"{snapshot.details_fetched} details fetched, {snapshot.details_deferred} deferred, "
            f"quota left {quota if quota is not None else '?'}"
        )
        if snapshot.status == Snapshot.Status.COMPLETE:
            self.stdout.write(self.style.SUCCESS(f"Published {figures}."))
            return
        code = 2 if snapshot.status == Snapshot.Status.PARTIAL else 1
        raise CommandError(
            f"Refresh {snapshot.status}, not published ({snapshot.error}); {figures}. "
            "The previous complete snapshot keeps serving.",
            returncode=code,
        )
