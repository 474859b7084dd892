"""API keys: how an organization's programs identify themselves (and so their plan)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.db import models
from django.utils import timezone

from registry.models import Organization

KEY_SCHEME = "mb_"
PREFIX_CHARS = 8


def key_digest(plaintext: str) -> str:
    """What is kept of a key: its SHA-256, enough for 256 random bits (no salt, no stretching)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def key_prefix(plaintext: str) -> str | None:
    """The visible prefix of a presented key (`mb_xxxxxxxx`); None if it is not one of ours."""
    cut = len(KEY_SCHEME) + PREFIX_CHARS
    if not plaintext.startswith(KEY_SCHEME) or len(plaintext) < cut + 2 or plaintext[cut] != "_":
        return None
    return plaintext[:cut]


class ApiKey(models.Model):
    """One API key of an organization.

    The key itself (`mb_<prefix>_<secret>`) is shown once, when it is made;
    only its SHA-256 is kept. The prefix stays visible so that people can tell
    their keys apart, and it is what a request's key is looked up by.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, help_text="What the key is for, e.g. 'nightly export'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField("SHA-256 of the key", max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="To the minute."
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    def usable(self, now: datetime | None = None) -> bool:
        """Neither revoked nor expired."""
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
