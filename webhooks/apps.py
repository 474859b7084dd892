from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self):
        from .secrets import configured_keys

        # At start-up, in every process (web, workers, commands): a missing or
        # malformed WEBHOOK_SECRET_KEYS stops it here, with a clear message,
        # rather than failing each delivery later.
        configured_keys()
