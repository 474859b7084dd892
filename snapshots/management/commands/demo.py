"""manage.py demo: a seeded, realistic Hub with 35 days of history."""

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from registry.demo import generate_demo_hub
from snapshots.demo import demo_admin_user, demo_load, demo_reset
from snapshots.models import Snapshot


class Command(BaseCommand):
    help = (
        "Generate a demo Hub (heavy-tailed metrics, providers, families, spikes), write "
        "its daily snapshots, then take today's through a live refresh against a replay hub."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--models", type=int, default=3000)
        parser.add_argument("--days", type=int, default=35)
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--reset", action="store_true", help="Delete snapshots and models first."
        )
        group.add_argument(
            "--if-empty", action="store_true", help="Do nothing if any snapshot exists."
        )
        parser.add_argument("--no-admin", action="store_true", help="Do not create the admin user.")

    def handle(self, *args, seed, models, days, reset, if_empty, no_admin, **opts):
        if models < 10:
            raise CommandError("--models must be at least 10")
        if not 2 <= days <= 400:
            raise CommandError("--days must be from 2 to 400")
        if not no_admin:
            username, password = demo_admin_user()
        if Snapshot.objects.exists():
            if if_empty:
                self.stdout.write(
                    "Demo data already loaded (use `manage.py demo --reset` to rebuild)."
                )
                return
            if not reset:
                raise CommandError(
                    "The database already has snapshots; pass --reset to replace them with the "
                    "demo, or --if-empty to keep them."
                )
            demo_reset()
        started = time.monotonic()
        self.stdout.write(f"Generating a demo Hub: {models:,} models, {days} days, seed {seed} …")
        hub = generate_demo_hub(seed=seed, models=models, days=days)
        with tqdm(total=len(hub.days), desc="Snapshots", unit="day", disable=None) as bar:
            snapshot = demo_load(hub=hub, on_day=lambda done, total: bar.update(done - bar.n))
        if snapshot.status != Snapshot.Status.COMPLETE:
            raise CommandError(f"Today's live refresh ended {snapshot.status}: {snapshot.error}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {len(hub.days)} snapshots, {snapshot.models_seen:,} models today "
                f"(live refresh #{snapshot.pk}: {snapshot.calls_used} Hub calls), "
                f"{time.monotonic() - started:.1f}s."
            )
        )
        if not no_admin:
            self.stdout.write(f"Admin login: {username} / {password}")
