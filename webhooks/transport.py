"""One webhook request: to the checked address, bounded in time and in what is read."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import requests
import urllib3
from django.conf import settings

from .models import DeliveryAttempt
from .ssrf import AddressRefused, CheckedTarget, pinned_session, url_check

ErrorClass = DeliveryAttempt.ErrorClass
# Error texts are cut to this, to keep the log readable; the fields holding
# them are unbounded, so a longer one could never fail the write.
ERROR_CHARS = 500
# Under the idle timeout of common servers (Node and uvicorn 5 s, Apache 5 s),
# so a kept connection is not reused just as the receiver closes it; a
# fan-out's bursts reuse them within milliseconds.
KEEPALIVE_SECONDS = 4.0


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


class SessionPool:
    """Kept-alive sessions per checked target, shared by a worker's threads.

    A session is pinned to one address (ssrf.PinnedAddressAdapter), so it is
    reused only for the same scheme, host, port and checked address: the
    checks still run on every attempt, and a name that now resolves
    elsewhere gets a session of its own. A session is lent to one thread at
    a time; one whose exchange went wrong (cut, error, unread body) is
    closed, not returned. Sessions idle for longer than KEEPALIVE_SECONDS
    are dropped (receivers close idle connections on their side too).
    """

    MAX_IDLE_PER_TARGET = 4
    MAX_TARGETS = 128  # at most 512 idle connections per worker process

    def __init__(self):
        self._idle: OrderedDict[tuple, list[tuple[float, requests.Session]]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(target: CheckedTarget) -> tuple:
        return (target.parts.scheme, target.host, target.port, str(target.address))

    def take(self, target: CheckedTarget) -> requests.Session:
        now = time.monotonic()
        stale: list[requests.Session] = []
        session = None
        with self._lock:
            idle = self._idle.get(self.key(target), [])
            while idle:
                used_at, candidate = idle.pop()
                if now - used_at <= KEEPALIVE_SECONDS:
                    session = candidate
                    break
                stale.append(candidate)
        for old in stale:
            old.close()
        return session or pinned_session(target)

    def give_back(self, target: CheckedTarget, session: requests.Session) -> None:
        key = self.key(target)
        evicted: list[requests.Session] = []
        with self._lock:
            idle = self._idle.setdefault(key, [])
            self._idle.move_to_end(key)
            if len(idle) < self.MAX_IDLE_PER_TARGET:
                idle.append((time.monotonic(), session))
            else:
                evicted.append(session)
            # Least recently used first: drop targets over the limit, and idle ones.
            now = time.monotonic()
            while self._idle:
                oldest = next(iter(self._idle.values()))
                expired = not oldest or now - oldest[-1][0] > KEEPALIVE_SECONDS
                if len(self._idle) <= self.MAX_TARGETS and not expired:
                    break
                _, dropped = self._idle.popitem(last=False)
                evicted.extend(s for _, s in dropped)
        for old in evicted:
            old.close()

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, OrderedDict()
        for sessions in idle.values():
            for _, session in sessions:
                session.close()


sessions = SessionPool()


def send(*, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
    """POST `body` to `url`: never follows redirects, reads at most 4 KB of the answer.

    Timeouts: WEBHOOK_CONNECT_TIMEOUT to connect, WEBHOOK_TOTAL_TIMEOUT for the
    whole exchange: past it the connection is cut (ssrf.SocketDeadline), so
    a receiver trickling bytes cannot hold the worker. The connection is kept
    alive for the next delivery to the same checked address when the answer
    was read to its end.
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
    session = sessions.take(target)
    deadline_cut = session.get_adapter(url).deadline
    deadline_cut.start(total)
    reusable = False
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
            ended = False
            while time.monotonic() < deadline:
                chunk = response.raw.read(wanted) if wanted > 0 else b""
                if not chunk:
                    # Read to its end (or the 4 KB are read and nothing more is wanted).
                    ended = wanted > 0 or response.raw.read(1) == b""
                    break
                chunks.append(chunk)
                wanted -= len(chunk)
            result.body = b"".join(chunks)
            reusable = ended and not deadline_cut.expired
        finally:
            if reusable:
                response.raw.release_conn()  # back to the session's pool, kept alive
            else:
                response.close()  # do not read (or drain) the rest
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        result.error_class, result.error = _classify(exc, cut=deadline_cut.expired, total=total)
    finally:
        deadline_cut.cancel()
        if reusable and not deadline_cut.expired:
            sessions.give_back(target, session)
        else:
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
