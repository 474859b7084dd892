"""Signing secrets: made, kept encrypted at rest, and used to sign (Standard Webhooks)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime

from cryptography.fernet import Fernet
from django.conf import settings
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


def secret_generate() -> str:
    """A new `whsec_…` secret: 24 random bytes, base64 (as Svix and the spec's examples)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _fernet() -> Fernet:
    key = settings.WEBHOOK_SECRET_KEY
    if not key:
        # Derived, so a deployment that sets only SECRET_KEY still encrypts;
        # setting WEBHOOK_SECRET_KEY lets SECRET_KEY rotate independently.
        digest = hashlib.sha256(f"modelboard-webhook-secrets:{settings.SECRET_KEY}".encode())
        key = base64.urlsafe_b64encode(digest.digest()).decode()
    return Fernet(key)


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def signature_header(*, secrets_: list[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` value: one `v1,<sig>` per secret, space-separated."""
    return " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body) for secret in secrets_
    )
