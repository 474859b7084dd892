"""Signing secrets: made, kept encrypted at rest, and used to sign (Standard Webhooks).

Secrets are encrypted with Fernet keys of their own, `WEBHOOK_SECRET_KEYS`,
newest first (MultiFernet): the first encrypts, every one decrypts, so keys
rotate without a gap: put a new key first, run `manage.py webhook_secrets
reencrypt`, then drop the old key. `SECRET_KEY` plays no part, except in
DEBUG with no key set, where a development key is derived from it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any of WEBHOOK_SECRET_KEYS."""


def secret_generate() -> str:
    """A new `whsec_…` secret: 24 random bytes, base64 (as Svix and the spec's examples)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def key_generate() -> str:
    """A new Fernet key for WEBHOOK_SECRET_KEYS."""
    return Fernet.generate_key().decode()


def key_derived_from_secret_key() -> str:
    """The key derived from SECRET_KEY: DEBUG's development key, and what earlier versions used.

    A deployment upgrading from a version that derived its key keeps this one
    last in WEBHOOK_SECRET_KEYS until `webhook_secrets reencrypt` has run.
    """
    digest = hashlib.sha256(f"modelboard-webhook-secrets:{settings.SECRET_KEY}".encode())
    return base64.urlsafe_b64encode(digest.digest()).decode()


def configured_keys() -> tuple[str, ...]:
    """WEBHOOK_SECRET_KEYS as a tuple, newest first; raises ImproperlyConfigured if unusable.

    Accepts a list or a comma-separated string. With no key at all, DEBUG
    gets the development key derived from SECRET_KEY; production refuses.
    """
    raw = getattr(settings, "WEBHOOK_SECRET_KEYS", None) or []
    if isinstance(raw, str):
        raw = raw.split(",")
    keys = tuple(key.strip() for key in raw if key and key.strip())
    if not keys:
        if settings.DEBUG:
            return (key_derived_from_secret_key(),)
        raise ImproperlyConfigured(
            "WEBHOOK_SECRET_KEYS is not set: the webhook signing secrets are encrypted with "
            "keys of their own. Set it to one or more Fernet keys, comma-separated, newest "
            "first (make one with: python manage.py webhook_secrets new-key, or "
            "python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'). Upgrading from a version that derived "
            "the key from SECRET_KEY? See `webhook_secrets legacy-key`."
        )
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"WEBHOOK_SECRET_KEYS: key {number} of {len(keys)} is not a Fernet key "
                "(32 bytes, url-safe base64, 44 characters ending in '='); make one with "
                "python manage.py webhook_secrets new-key"
            ) from None
    return keys


@lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _fernet() -> MultiFernet:
    return _multi_fernet(configured_keys())


def secret_encrypt(secret: str) -> str:
    """Encrypt with the newest key."""
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    """Decrypt with whichever key encrypted it; raises SecretUnreadable if none did."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "the signing secret cannot be decrypted with any key in WEBHOOK_SECRET_KEYS "
            "(was the key that encrypted it removed?)"
        ) from None


def secret_reencrypt(token: str) -> str:
    """The same secret, encrypted with the newest key; raises SecretUnreadable."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "the signing secret cannot be decrypted with any key in WEBHOOK_SECRET_KEYS"
        ) from None


def signature_header(*, secrets_: list[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` value: one `v1,<sig>` per secret, space-separated."""
    return " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body) for secret in secrets_
    )
