"""Writes for the API: API keys."""

from __future__ import annotations

import secrets
import string
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from registry.models import Organization

from . import gate
from .models import KEY_SCHEME, PREFIX_CHARS, ApiKey, key_digest

_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
# secrets.token_urlsafe(32): 256 bits, 43 characters.
SECRET_BYTES = 32


def api_key_create(
    *, organization: Organization, name: str, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Make a key for `organization`; returns it and its plaintext, which is never stored.

    The plaintext is `mb_<8 visible characters>_<43 random url-safe characters>`.
    """
    for _ in range(5):  # 36**8 prefixes: a clash is rare, five in a row impossible
        prefix = KEY_SCHEME + "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_CHARS))
        plaintext = f"{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    organization=organization,
                    name=name,
                    prefix=prefix,
                    secret_hash=key_digest(plaintext),
                    expires_at=expires_at,
                )
        except IntegrityError:
            continue
        return key, plaintext
    raise RuntimeError("could not find a free API key prefix")


@transaction.atomic
def api_keys_revoke(*, keys: QuerySet[ApiKey]) -> int:
    """Revoke every key of `keys` not revoked yet, in one UPDATE; returns how many.

    This process forgets its memo of keys once the change commits; other
    processes notice within API_KEY_CACHE_SECONDS.
    """
    revoked = keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    transaction.on_commit(gate.forget)
    return revoked


def api_key_revoke(*, key: ApiKey) -> bool:
    """Revoke `key` now; False when it already was."""
    revoked = api_keys_revoke(keys=ApiKey.objects.filter(pk=key.pk))
    key.refresh_from_db(fields=["revoked_at"])
    return bool(revoked)
