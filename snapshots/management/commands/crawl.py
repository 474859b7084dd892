"""manage.py crawl: work on the daily crawl of every public model now.

Resumes the unfinished crawl from its checkpoint, or starts the UTC day's,
and publishes the day when the listing ends.

Exit codes: 0 published (or nothing to do), 1 failed, 2 paused (budget,
quota or the Hub stopped this run; run again to resume), 3 another crawl run
holds the lease, 4 --resume and no crawl to resume.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from snapshots.crawl import CrawlInProgress, CrawlProgress, crawl_run


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA ?"
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}h{minutes:02d}m" if hours else f"ETA {minutes}m"


class Command(BaseCommand):
    help = "Crawl every public model of the Hub (resumable) and publish the day when complete."

    def add_arguments(self, parser):
        parser.add_argument(
            "--resume",
            action="store_true",
            help="Only resume an unfinished crawl; never start one.",
        )
        parser.add_argument(
            "--budget", type=int, help="Upstream calls allowed (CRAWL_CALL_BUDGET)."
        )
        parser.add_argument("--page-size", type=int, help="Models per Hub page (max 1000).")

    def handle(self, *args, resume, budget, page_size, verbosity, **opts):
        if budget is not None and budget < 1:
            raise CommandError("--budget must be at least 1")
        if page_size is not None and not 1 <= page_size <= 1000:
            raise CommandError("--page-size must be from 1 to 1000")
        self.stdout.write(f"Crawling {settings.HF_ENDPOINT} …")

        def report(progress: CrawlProgress) -> None:
            if verbosity < 1:
                return
            quota = progress.quota_remaining if progress.quota_remaining is not None else "?"
            self.stdout.write(
                f"  {progress.phase}: page {progress.pages_done:,}, "
                f"{progress.records_staged:,} models staged, {progress.calls_used} calls, "
                f"quota left {quota}, {_eta(progress.eta_seconds)}"
            )

        try:
            outcome = crawl_run(
                call_budget=budget, resume_only=resume, page_size=page_size, on_progress=report
            )
        except CrawlInProgress as exc:
            raise CommandError(f"Another crawl run is going: {exc}", returncode=3) from exc

        crawl = outcome.crawl
        if outcome.outcome == "idle":
            if resume:
                raise CommandError("No unfinished crawl to resume.", returncode=4)
            day = crawl.day if crawl is not None else "?"
            self.stdout.write(
                self.style.SUCCESS(f"Nothing to do: the crawl of {day} is published.")
            )
            return
        figures = (
            f"crawl of {crawl.day}: {crawl.pages_done:,} pages, {crawl.records_staged:,} models, "
            f"{crawl.records_skipped} skipped, {crawl.calls_used} calls over {crawl.runs} run(s)"
        )
        if outcome.outcome == "published":
            self.stdout.write(
                self.style.SUCCESS(f"Published snapshot #{outcome.snapshot.pk}: {figures}.")
            )
            return
        raise CommandError(
            f"Crawl paused ({crawl.error}); {figures}. Run again to resume.", returncode=2
        )
