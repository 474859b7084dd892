"""One webhook request: to the checked address, bounded in time and in what is read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import requests
from django.conf import settings

from .models import DeliveryAttempt
from .ssrf import AddressRefused, pinned_session, url_check

ErrorClass = DeliveryAttempt.ErrorClass


@dataclass
class SendResult:
    """What came back (or what went wrong), ready for the delivery log."""

    address: str = ""
    status_code: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    latency_ms: int | None = None
    error_class: str = ""
    error: str = ""


def send(*, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
    """POST `body` to `url`: never follows redirects, reads at most 4 KB of the answer.

    Timeouts: WEBHOOK_CONNECT_TIMEOUT to connect, WEBHOOK_TOTAL_TIMEOUT for the
    whole exchange (the read timeout is what is left after connecting, and
    reading the body stops at the deadline).
    """
    result = SendResult()
    try:
        target = url_check(url)
    except AddressRefused as exc:
        result.error_class = ErrorClass.INSECURE if exc.insecure else ErrorClass.SSRF
        result.error = exc.reason[:300]
        return result
    result.address = str(target.address)
    total = settings.WEBHOOK_TOTAL_TIMEOUT
    started = time.monotonic()
    deadline = started + total
    session = pinned_session(target)
    try:
        response = session.post(
            url,
            data=body,
            headers=headers,
            timeout=(settings.WEBHOOK_CONNECT_TIMEOUT, total),
            allow_redirects=False,
            stream=True,
        )
        try:
            result.status_code = response.status_code
            result.headers = dict(response.headers)
            chunks: list[bytes] = []
            wanted = settings.WEBHOOK_RESPONSE_BYTES
            while wanted > 0 and time.monotonic() < deadline:
                chunk = response.raw.read(wanted)
                if not chunk:
                    break
                chunks.append(chunk)
                wanted -= len(chunk)
            result.body = b"".join(chunks)
        finally:
            response.close()  # do not read (or drain) the rest
    except requests.Timeout as exc:
        result.error_class, result.error = ErrorClass.TIMEOUT, _short(exc)
    except requests.exceptions.SSLError as exc:
        result.error_class, result.error = ErrorClass.TLS, _short(exc)
    except requests.ConnectionError as exc:
        result.error_class, result.error = ErrorClass.CONNECTION, _short(exc)
    except requests.RequestException as exc:
        result.error_class, result.error = ErrorClass.OTHER, _short(exc)
    finally:
        session.close()
    result.latency_ms = int((time.monotonic() - started) * 1000)
    return result


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
