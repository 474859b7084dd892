"""Webhook secret encryption keys: make one, re-encrypt every secret with the newest, or
print the key earlier versions derived from SECRET_KEY (to keep it while re-encrypting)."""

from django.core.management.base import BaseCommand, CommandError

from webhooks.secrets import key_derived_from_secret_key, key_generate
from webhooks.services import subscription_secrets_reencrypt


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "action",
            choices=["new-key", "reencrypt", "legacy-key"],
            help="new-key: print a new Fernet key; reencrypt: encrypt every stored secret "
            "with the first of WEBHOOK_SECRET_KEYS; legacy-key: print the key derived from "
            "SECRET_KEY that earlier versions used when no key was set",
        )

    def handle(self, *args, action, **options):
        if action == "new-key":
            self.stdout.write(key_generate())
        elif action == "legacy-key":
            self.stdout.write(key_derived_from_secret_key())
        else:
            done = subscription_secrets_reencrypt()
            self.stdout.write(f"re-encrypted the secrets of {done.updated} subscription(s)")
            if done.unreadable:
                ids = ", ".join(map(str, done.unreadable))
                raise CommandError(
                    f"{len(done.unreadable)} subscription(s) have secrets no key in "
                    f"WEBHOOK_SECRET_KEYS can decrypt (ids {ids}); add the key that "
                    "encrypted them, or rotate their secrets"
                )
