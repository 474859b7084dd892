"""Hand out due webhook retries and deliveries whose worker died (beat does it every 15 s)."""

from django.core.management.base import BaseCommand

from webhooks.queueing import deliveries_sweep


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        sweep = deliveries_sweep()
        self.stdout.write(f"reclaimed {sweep.reclaimed}, enqueued {sweep.enqueued}")
