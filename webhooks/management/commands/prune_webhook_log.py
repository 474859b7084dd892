"""Drop the webhook delivery log older than WEBHOOK_LOG_RETENTION_DAYS (also a daily beat task)."""

from django.core.management.base import BaseCommand

from webhooks.services import delivery_log_prune


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        pruned = delivery_log_prune()
        self.stdout.write(
            f"pruned {pruned.attempts} attempt(s), {pruned.deliveries} delivery(ies), "
            f"{pruned.events} event(s)"
        )
