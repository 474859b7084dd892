"""Expiring locks in the database, so two refreshes never run at once.

Claiming is one conditional UPDATE (`… WHERE holder = '' OR expires_at < now`),
which the database serializes: of two workers racing for a free lease exactly
one sees a row updated. A holder renews the lease as it works; a holder that
dies stops renewing, and its lease can be taken over once it expires, or at
once by a process on the same host that can see the holder's pid is gone.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .models import Lease


class LeaseHeld(Exception):
    """Someone else holds the lease."""

    def __init__(self, lease: Lease):
        self.lease = lease
        super().__init__(
            f"'{lease.name}' is held by {lease.holder} (pid {lease.pid} on {lease.host}) since "
            f"{lease.acquired_at:%Y-%m-%d %H:%M:%S} UTC, until {lease.expires_at:%H:%M:%S} UTC"
        )


class LeaseLost(Exception):
    """Our lease expired and was taken over while we worked."""


@dataclass(frozen=True)
class LeaseToken:
    name: str
    holder: str
    ttl: timedelta


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_acquire(*, name: str, ttl_seconds: int) -> LeaseToken:
    """Take the lease `name` for `ttl_seconds`, or raise LeaseHeld."""
    ttl = timedelta(seconds=ttl_seconds)
    now = timezone.now()
    holder = uuid.uuid4().hex[:16]
    host, pid = socket.gethostname(), os.getpid()
    claim = {
        "holder": holder,
        "host": host,
        "pid": pid,
        "acquired_at": now,
        "expires_at": now + ttl,
    }
    try:
        with transaction.atomic():
            Lease.objects.get_or_create(name=name, defaults={"expires_at": now})
    except IntegrityError:  # another worker created the row first; fine
        pass
    free = Q(holder="") | Q(expires_at__lt=now)
    if Lease.objects.filter(Q(name=name) & free).update(**claim):
        return LeaseToken(name=name, holder=holder, ttl=ttl)
    current = Lease.objects.get(name=name)
    if current.host == host and current.pid and not _pid_alive(current.pid):
        # The holder died on this machine; take over only if nobody beat us to it.
        if Lease.objects.filter(name=name, holder=current.holder).update(**claim):
            return LeaseToken(name=name, holder=holder, ttl=ttl)
        current.refresh_from_db()
    raise LeaseHeld(current)


def lease_renew(*, token: LeaseToken) -> None:
    """Push the lease's expiry forward; raise LeaseLost if it is no longer ours."""
    renewed = Lease.objects.filter(name=token.name, holder=token.holder).update(
        expires_at=timezone.now() + token.ttl
    )
    if not renewed:
        raise LeaseLost(f"the '{token.name}' lease expired and was taken over")


def lease_release(*, token: LeaseToken) -> None:
    """Give the lease back (a no-op if it was already taken over)."""
    Lease.objects.filter(name=token.name, holder=token.holder).update(
        holder="", pid=None, expires_at=timezone.now()
    )
