"""The replay hub: a local stand-in for the Hugging Face Hub's model API.

It serves a list of raw Hub model records the way the Hub does (cursor
pagination with ``Link`` headers, ``expand``, sort/search/author/filter, IETF
rate-limit headers and a fixed-window quota) and can inject the faults a
refresh must survive: 429s, 5xx, slow answers, malformed and truncated bodies,
and records repeated across pages. The demo and the tests point the real
:class:`~registry.hub.HubClient` at it; ``manage.py hub_replay`` runs it by hand.

Only the standard library is used at module level, so this file also runs
without Django.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

logger = logging.getLogger("modelboard.replay")

MAX_PAGE_SIZE = 1000
SORT_KEYS = ("trendingScore", "downloads", "likes", "createdAt", "lastModified", "downloadsAllTime")
NUMERIC_SORT_KEYS = frozenset({"trendingScore", "downloads", "likes", "downloadsAllTime"})
# What a listing returns when no expand= is given (the Hub's light default).
DEFAULT_LIST_FIELDS = (
    "likes",
    "downloads",
    "trendingScore",
    "pipeline_tag",
    "library_name",
    "private",
    "tags",
    "createdAt",
    "author",
    "lastModified",
)
DUPLICATED_PER_PAGE = 2

Records = list[dict[str, Any]]


@dataclass
class FaultPlan:
    """Which requests go wrong, and how.

    A fault is chosen by request number (1-based, counting every request the
    server receives, including ones answered with a fault) from the explicit
    sets, or by probability. The probabilistic draw for request *n* depends
    only on ``seed`` and *n*, so a run is reproducible however the requests
    interleave. When several faults hit one request the order is 429, 5xx,
    malformed, truncated; "slow" delays the answer and combines with any.
    """

    status_429: set[int] = field(default_factory=set)
    status_5xx: set[int] = field(default_factory=set)
    malformed: set[int] = field(default_factory=set)
    truncated: set[int] = field(default_factory=set)
    slow: set[int] = field(default_factory=set)
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_malformed: float = 0.0
    rate_truncated: float = 0.0
    rate_slow: float = 0.0
    retry_after: int = 1
    slow_seconds: float = 1.0
    duplicate_ids: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_5xx", "rate_malformed", "rate_truncated", "rate_slow"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if self.retry_after < 0 or self.slow_seconds < 0:
            raise ValueError("retry_after and slow_seconds cannot be negative")

    def faults_for(self, request_number: int) -> tuple[str | None, bool]:
        """The fault for a request (``"429"``, ``"5xx"``, ``"malformed"``, ``"truncated"`` or
        ``None``) and whether it is slow."""
        draw = random.Random(f"{self.seed}:{request_number}")
        hits = {
            "429": request_number in self.status_429 or draw.random() < self.rate_429,
            "5xx": request_number in self.status_5xx or draw.random() < self.rate_5xx,
            "malformed": request_number in self.malformed or draw.random() < self.rate_malformed,
            "truncated": request_number in self.truncated or draw.random() < self.rate_truncated,
        }
        slow = request_number in self.slow or draw.random() < self.rate_slow
        fault = next((kind for kind, hit in hits.items() if hit), None)
        return fault, slow


# --------------------------------------------------------------------------- listing logic


class BadRequest(Exception):
    """A query the Hub would answer with 400."""


def record_object_id(model_id: str) -> str:
    """A stable 24-hex ``_id`` for a model id, shaped like the Hub's ObjectIds."""
    return hashlib.sha1(model_id.encode()).hexdigest()[:24]


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode()))["o"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise BadRequest("Invalid cursor") from exc
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise BadRequest("Invalid cursor")
    return offset


def _sort_value(record: dict, key: str) -> Any:
    value = record.get(key)
    if key in NUMERIC_SORT_KEYS:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return value if ok else None
    return value if isinstance(value, str) and value else None


def sort_records(records: Records, key: str, *, descending: bool) -> Records:
    """Sort by ``key``; records missing it (or holding junk) go last either way.

    Ties keep id order, so pages are stable.
    """
    present = [r for r in records if _sort_value(r, key) is not None]
    missing = [r for r in records if _sort_value(r, key) is None]
    present.sort(key=lambda r: str(r.get("id")))
    present.sort(key=lambda r: _sort_value(r, key), reverse=descending)
    missing.sort(key=lambda r: str(r.get("id")))
    return present + missing


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _expand_fields(query: dict[str, list[str]]) -> list[str]:
    fields: list[str] = []
    for raw in query.get("expand", []) + query.get("expand[]", []):
        fields += [part.strip() for part in raw.split(",") if part.strip()]
    return fields


def shape_record(record: dict, expand: Sequence[str], *, default: Sequence[str] | None) -> dict:
    """What the Hub returns for a record: ``_id``, ``id`` and the asked-for fields.

    ``default=None`` means "everything" (the detail endpoint without expand).
    """
    shaped = {"_id": record.get("_id") or record_object_id(str(record["id"])), "id": record["id"]}
    if expand:
        wanted: Iterable[str] = expand
    elif default is not None:
        wanted = default
    else:
        wanted = [key for key in record if key not in ("_id", "id")]
    for key in wanted:
        if key in record:
            shaped[key] = record[key]
    return shaped


def _matches(
    record: dict,
    *,
    author: str | None,
    search: str | None,
    tags: list[str],
    pipeline_tag: str | None,
) -> bool:
    model_id = str(record.get("id", ""))
    if author is not None:
        record_author = record.get("author") or model_id.partition("/")[0]
        if str(record_author).lower() != author.lower():
            return False
    if search is not None and search.lower() not in model_id.lower():
        return False
    if pipeline_tag is not None and record.get("pipeline_tag") != pipeline_tag:
        return False
    if tags:
        # The Hub's tag list includes the task and library; archived records may
        # carry them only as fields, so accept either.
        have = set(record.get("tags") or ())
        have.update(str(record[k]) for k in ("pipeline_tag", "library_name") if record.get(k))
        if not all(tag in have for tag in tags):
            return False
    return True


@dataclass
class ListingPage:
    records: Records
    next_offset: int | None


def list_models(
    records: Records, query: dict[str, list[str]], *, duplicate_ids: bool
) -> ListingPage:
    """Apply the ``/api/models`` query parameters to ``records`` and cut one page."""
    sort = _first(query, "sort")
    if sort is not None and sort not in SORT_KEYS:
        raise BadRequest(f"Invalid sort: {sort!r}; expected one of {', '.join(SORT_KEYS)}")
    direction = _first(query, "direction") or "-1"
    if direction not in ("-1", "1"):
        raise BadRequest(f"Invalid direction: {direction!r}; expected -1 or 1")
    raw_limit = _first(query, "limit")
    try:
        limit = MAX_PAGE_SIZE if raw_limit is None else int(raw_limit)
    except ValueError as exc:
        raise BadRequest(f"Invalid limit: {raw_limit!r} is not an integer") from exc
    if limit < 1:
        raise BadRequest(f"Invalid limit: {limit}; must be at least 1")
    limit = min(limit, MAX_PAGE_SIZE)
    cursor = _first(query, "cursor")
    offset = decode_cursor(cursor) if cursor is not None else 0
    tags = [tag for raw in query.get("filter", []) for tag in raw.split(",") if tag]

    author, search = _first(query, "author"), _first(query, "search")
    pipeline_tag = _first(query, "pipeline_tag")
    selected = records
    # Unfiltered (a whole-Hub crawl): no pass over every record per page.
    if author is not None or search is not None or tags or pipeline_tag is not None:
        selected = [
            r
            for r in records
            if _matches(r, author=author, search=search, tags=tags, pipeline_tag=pipeline_tag)
        ]
    if sort is not None:
        selected = sort_records(selected, sort, descending=direction == "-1")

    start = offset
    if duplicate_ids and offset > 0:
        start = max(offset - DUPLICATED_PER_PAGE, 0)
    page = selected[start : offset + limit]
    next_offset = offset + limit if offset + limit < len(selected) else None
    return ListingPage(page, next_offset)


# --------------------------------------------------------------------------- quota


class FixedWindowQuota:
    """Counts requests in fixed windows starting when the server starts."""

    def __init__(self, quota: int, window_seconds: int, clock: Callable[[], float]):
        self.quota = quota
        self.window_seconds = window_seconds
        self.clock = clock
        self.started = clock()
        self.window_index = 0
        self.used = 0

    def take(self) -> tuple[bool, int, int]:
        """Count one request: (allowed, remaining, seconds to reset). Caller holds the lock."""
        now = self.clock()
        index = int((now - self.started) // self.window_seconds)
        if index != self.window_index:
            self.window_index, self.used = index, 0
        self.used += 1
        reset_at = self.started + (index + 1) * self.window_seconds
        reset = max(math.ceil(reset_at - now), 0)
        return self.used <= self.quota, max(self.quota - self.used, 0), reset


# --------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops bursts of connections, which then wait a
    # second for the SYN retry.
    request_queue_size = 128
    hub: ReplayHub

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is normal here, not news.
        logger.debug("replay hub: connection from %s ended abruptly", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "ModelboardReplayHub/0.1"
    timeout = 60  # drop idle keep-alive connections
    # Headers and body go out in two writes; with Nagle on, each answer would
    # wait for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.hub.verbose:
            logger.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        try:
            self.server.hub._handle(self)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception:
            logger.exception("replay hub failed to answer %s", self.path)
            body = b'{"error": "Internal error in the replay hub"}'
            ReplayHub._send(self, 500, body, {})


class ReplayHub:
    """Serve Hub model records over HTTP on loopback, with rate limits and faults.

    ``records`` is a list, or a callable returning one (called per request, so
    the data can change while serving). Records marked ``private`` are shown
    only to requests with a Bearer token, as the Hub shows them only to their
    owner. Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        records: Records | Callable[[], Records],
        *,
        faults: FaultPlan | None = None,
        quota: int = 500,
        window_seconds: int = 300,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ):
        if quota < 1 or window_seconds < 1:
            raise ValueError("quota and window_seconds must be positive")
        self._records = records
        self.faults = faults or FaultPlan()
        self.quota = quota
        self.window_seconds = window_seconds
        self.host = host
        self.port = port
        self.verbose = verbose
        self._clock = clock
        self._lock = threading.Lock()
        self._requests_served = 0
        self._quota = FixedWindowQuota(quota, window_seconds, clock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> ReplayHub:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("replay hub is already running")
        server = _Server((self.host, self.port), _Handler)
        server.hub = self
        self._server = server
        self.port = server.server_address[1]
        with self._lock:
            self._quota = FixedWindowQuota(self.quota, self.window_seconds, self._clock)
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns promptly
            name=f"replay-hub-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.debug("replay hub serving at %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> ReplayHub:
        return self.start() if self._server is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def requests_served(self) -> int:
        with self._lock:
            return self._requests_served

    def set_records(self, records: Records | Callable[[], Records]) -> None:
        """Serve different records from the next request on."""
        self._records = records

    def current_records(self) -> Records:
        records = self._records
        return list(records() if callable(records) else records)

    # ----------------------------------------------------------------- requests

    def _handle(self, handler: _Handler) -> None:
        with self._lock:
            self._requests_served += 1
            number = self._requests_served
            allowed, remaining, reset = self._quota.take()
        faults = self.faults
        fault, slow = faults.faults_for(number)
        headers = {
            "RateLimit": f'"api";r={remaining};t={reset}',
            "RateLimit-Policy": f'"fixed window";"api";q={self.quota};w={self.window_seconds}',
        }
        if slow and faults.slow_seconds:
            time.sleep(faults.slow_seconds)

        if not allowed:
            headers["Retry-After"] = str(reset)
            message = "You have exceeded our API rate limit for this window; retry later."
            return self._send_json(handler, 429, {"error": message}, headers)
        if fault == "429":
            headers["Retry-After"] = str(faults.retry_after)
            message = "Too many requests (injected by the replay hub)."
            return self._send_json(handler, 429, {"error": message}, headers)
        if fault == "5xx":
            message = "Service temporarily unavailable (injected by the replay hub)."
            return self._send_json(handler, 503, {"error": message}, headers)
        if fault == "malformed":
            return self._send(handler, 200, b'{"oops', headers)

        status, body, extra = self._route(handler)
        headers.update(extra)
        payload = json.dumps(body).encode()
        if fault == "truncated" and status == 200:
            payload = payload[: max(len(payload) // 2, 1)]
        return self._send(handler, status, payload, headers)

    def _route(self, handler: _Handler) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = unquote(parts.path).rstrip("/")
        authorized = handler.headers.get("Authorization", "").startswith("Bearer ")
        records = [r for r in self.current_records() if isinstance(r, dict) and r.get("id")]
        if not authorized:
            records = [r for r in records if not r.get("private")]

        try:
            if path == "/api/models":
                return self._listing(handler, records, query)
            if path.startswith("/api/models/"):
                model_id = path.removeprefix("/api/models/")
                match = next((r for r in records if r["id"] == model_id), None)
                if match is None:
                    return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
                return 200, shape_record(match, _expand_fields(query), default=None), {}
        except BadRequest as exc:
            return 400, {"error": str(exc)}, {}
        return 404, {"error": "Not found"}, {}

    def _listing(
        self, handler: _Handler, records: Records, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        page = list_models(records, query, duplicate_ids=self.faults.duplicate_ids)
        expand = _expand_fields(query)
        body = [shape_record(r, expand, default=DEFAULT_LIST_FIELDS) for r in page.records]
        headers = {}
        if page.next_offset is not None:
            params = [(k, v) for k, values in query.items() if k != "cursor" for v in values]
            params.append(("cursor", encode_cursor(page.next_offset)))
            base = f"http://{handler.headers['Host']}" if handler.headers.get("Host") else self.url
            headers["Link"] = f'<{base}/api/models?{urlencode(params)}>; rel="next"'
        return 200, body, headers

    def _send_json(
        self, handler: _Handler, status: int, body: Any, headers: dict[str, str]
    ) -> None:
        self._send(handler, status, json.dumps(body).encode(), headers)

    @staticmethod
    def _send(handler: _Handler, status: int, payload: bytes, headers: dict[str, str]) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True


# --------------------------------------------------------------------------- archives


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def select_archive(path: str | Path, at: datetime | None = None) -> tuple[Path, Any]:
    """Pick the archive to serve: ``path`` itself, or from a directory the file
    with the latest time (at or before ``at`` when given).

    A file's time is its ``taken_at``, else one in its name. Returns the chosen
    path and its ``registry.archive.ArchiveFile``.
    """
    from registry.archive import iter_archive_paths, read_archive, taken_at_from_filename

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such archive file or directory: {path}")
    if path.is_file():
        return path, read_archive(path)

    dated = []
    undated = []
    for candidate in iter_archive_paths([path]):
        archive = read_archive(candidate)
        taken_at = archive.taken_at or taken_at_from_filename(candidate)
        if taken_at is not None:
            dated.append((_as_utc(taken_at), str(candidate), candidate, archive))
        else:
            undated.append((candidate, archive))
    if not dated and undated and at is None:
        # Nothing says when any file was taken; the last by name is the best guess.
        return max(undated, key=lambda item: str(item[0]))
    if at is not None:
        dated = [item for item in dated if item[0] <= _as_utc(at)]
    if not dated:
        when = f" at or before {at.isoformat()}" if at is not None else ""
        raise FileNotFoundError(f"no archived snapshot with a known time{when} in {path}")
    _, _, chosen, archive = max(dated, key=lambda item: (item[0], item[1]))
    return chosen, archive


def load_records(path: str | Path, at: datetime | None = None) -> Records:
    """Records to serve from an archive file or directory (see :func:`select_archive`)."""
    return list(select_archive(path, at)[1].records)
