"""One webhook request: to the checked address, bounded in time and in what is read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import requests
import urllib3
from django.conf import settings

from .models import DeliveryAttempt
from .ssrf import AddressRefused, pinned_session, url_check

ErrorClass = DeliveryAttempt.ErrorClass
# Error texts are cut to this, to keep the log readable; the fields holding
# them are unbounded, so a longer one could never fail the write.
ERROR_CHARS = 500


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
    whole exchange: past it the connection is cut (ssrf.SocketDeadline), so
    a receiver trickling bytes cannot hold the worker.
    """
    result = SendResult()
    try:
        target = url_check(url)
    except AddressRefused as exc:
        result.error_class = ErrorClass.INSECURE if exc.insecure else ErrorClass.SSRF
        result.error = exc.reason[:ERROR_CHARS]
        return result
    result.address = str(target.address)
    total = settings.WEBHOOK_TOTAL_TIMEOUT
    started = time.monotonic()
    deadline = started + total
    session = pinned_session(target)
    deadline_cut = session.get_adapter(url).deadline
    deadline_cut.start(total)
    try:
        response = session.post(
            url,
            data=body,
            headers=headers,
            timeout=(settings.WEBHOOK_CONNECT_TIMEOUT, total),
            allow_redirects=False,
            stream=True,
            verify=settings.WEBHOOK_CA_BUNDLE or True,
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
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        result.error_class, result.error = _classify(exc, cut=deadline_cut.expired, total=total)
    finally:
        deadline_cut.cancel()
        session.close()
    result.latency_ms = int((time.monotonic() - started) * 1000)
    if deadline_cut.expired and not result.error_class:
        # Cut while reading the body: the answer is incomplete.
        result.error_class, result.error = ErrorClass.TIMEOUT, f"over {total:g} s in total"
    return result


def _classify(exc: Exception, *, cut: bool, total: float) -> tuple[str, str]:
    if cut:
        return ErrorClass.TIMEOUT, f"over {total:g} s in total"
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError):
        return ErrorClass.TIMEOUT, _short(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return ErrorClass.TLS, _short(exc)
    if isinstance(exc, requests.ConnectionError | urllib3.exceptions.ProtocolError):
        return ErrorClass.CONNECTION, _short(exc)
    return ErrorClass.OTHER, _short(exc)


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
