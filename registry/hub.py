"""The Hugging Face Hub client: listing pages and model details under a call budget.

Everything Modelboard asks of the Hub goes through :class:`HubClient`. It is
deliberately strict about the three things that make an upstream dependency
safe to poll from a scheduler:

* every request has a timeout, and every retry loop has a bound;
* every request sent (retries and redirect hops included) is paid for from a
  :class:`CallBudget` *before* it is sent, so a refresh can never spend more
  upstream calls than it was given;
* the Hub's rate-limit signals (``Retry-After``, the IETF ``RateLimit`` /
  ``RateLimit-Policy`` headers) are obeyed, but the client refuses to sleep
  longer than ``max_wait`` and raises instead, so a worker is never parked for
  an hour waiting for a quota window.

``HF_ENDPOINT`` and ``HF_TOKEN`` are the Hub's own conventions (as in
``huggingface_hub``); the Django settings pass them explicitly.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

logger = logging.getLogger("modelboard.hub")

DEFAULT_ENDPOINT = "https://huggingface.co"
USER_AGENT = "modelboard/0.1"

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
# A Hub repo id is "name" or "namespace/name" made of word characters, "-" and ".".
_MODEL_ID_RE = re.compile(r"^[\w.\-]+(/[\w.\-]+)?$")


class HubError(Exception):
    """A Hub request failed; the message names the URL and what went wrong."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class BudgetExhausted(HubError):
    """The call budget is spent; raised before the call that would exceed it."""


class ModelNotFound(HubError):
    """The Hub does not know the requested model (or will not say it exists)."""


class RateLimited(HubError):
    """The Hub asked us to wait longer than ``max_wait``; ``wait_seconds`` says how long."""

    def __init__(self, message: str, *, url: str | None = None, wait_seconds: float):
        super().__init__(message, url=url, status=429)
        self.wait_seconds = wait_seconds


# --------------------------------------------------------------------------- rate limits


@dataclass(frozen=True)
class RateLimitInfo:
    """The Hub's view of our quota, from the ``RateLimit`` and ``RateLimit-Policy`` headers.

    ``remaining`` calls are left in the current window, which resets in
    ``reset_seconds``; the window allows ``limit`` calls per ``window_seconds``.
    ``policy`` is the policy's name (``"api"`` for Hub API calls). Any field
    the server did not send is ``None``.
    """

    remaining: int | None = None
    reset_seconds: int | None = None
    limit: int | None = None
    window_seconds: int | None = None
    policy: str | None = None


@dataclass
class _SfMember:
    """One member of a structured-field list: bare strings/tokens and ``key=value`` params."""

    names: list[str]
    params: dict[str, str]


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    in_quotes = False
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and in_quotes:
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            in_quotes = not in_quotes
        elif char == sep and not in_quotes:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _parse_sf_list(value: str) -> list[_SfMember]:
    """Parse a structured-field-like list leniently.

    The Hub's ``RateLimit-Policy`` (``"fixed window";"api";q=500;w=300``) is
    not strictly RFC 8941 (a parameter without a key), so rather than a strict
    parser this accepts any ``;``-separated mix of bare items and ``key=value``
    parameters, with spaces anywhere.
    """
    members = []
    for raw_member in _split_outside_quotes(value, ","):
        names: list[str] = []
        params: dict[str, str] = {}
        for segment in _split_outside_quotes(raw_member, ";"):
            segment = segment.strip()
            if not segment:
                continue
            key, eq, val = segment.partition("=")
            if eq and not key.strip().startswith('"'):
                params.setdefault(key.strip().lower(), _unquote(val))
            else:
                names.append(_unquote(segment))
        if names or params:
            members.append(_SfMember(names, params))
    return members


def _to_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(float(value.strip()))
    except (ValueError, OverflowError):
        return None
    return max(number, 0)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and not hasattr(headers, "lower_items"):  # not case-insensitive already
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _pick_member(members: list[_SfMember], name: str | None) -> _SfMember | None:
    if not members:
        return None
    if name is not None:
        for member in members:
            if name in member.names:
                return member
    for member in members:
        if "api" in member.names:
            return member
    return members[0]


def parse_ratelimit(headers: Mapping[str, str] | None) -> RateLimitInfo | None:
    """Read quota information from response headers; ``None`` when there is none.

    Understands the IETF draft headers the Hub sends
    (``RateLimit: "api";r=489;t=189`` and
    ``RateLimit-Policy: "fixed window";"api";q=500;w=300``), several policies in
    one header (the ``"api"`` one is preferred), and the older separate
    ``RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` headers as a fallback.
    Garbage values become ``None`` fields rather than errors.
    """
    if not headers:
        return None
    remaining = reset = limit = window = None
    name: str | None = None

    ratelimit = _header(headers, "RateLimit")
    if ratelimit:
        member = _pick_member(_parse_sf_list(ratelimit), None)
        if member is not None:
            name = member.names[0] if member.names else None
            remaining = _to_int(member.params.get("r", member.params.get("remaining")))
            reset = _to_int(member.params.get("t", member.params.get("reset")))
            limit = _to_int(member.params.get("limit"))

    policy_header = _header(headers, "RateLimit-Policy")
    if policy_header:
        member = _pick_member(_parse_sf_list(policy_header), name)
        if member is not None:
            limit = _to_int(member.params.get("q")) if "q" in member.params else limit
            window = _to_int(member.params.get("w"))
            if name is None and member.names:
                # IETF puts the name first; the Hub puts the kind ("fixed window") first.
                name = member.names[-1]

    if remaining is None:
        remaining = _to_int(_header(headers, "RateLimit-Remaining"))
    if reset is None:
        reset = _to_int(_header(headers, "RateLimit-Reset"))
    if limit is None:
        limit = _to_int(_header(headers, "RateLimit-Limit"))

    info = RateLimitInfo(
        remaining=remaining, reset_seconds=reset, limit=limit, window_seconds=window, policy=name
    )
    if info == RateLimitInfo():
        return None
    return info


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def parse_link_header(value: str | None) -> dict[str, str]:
    """Map each ``rel`` of an RFC 8288 ``Link`` header to its URL (first one wins).

    Handles several links in one header, quoted or bare ``rel`` values and
    multiple relation types in one ``rel`` (``rel="next last"``).
    """
    links: dict[str, str] = {}
    if not value:
        return links
    for match in re.finditer(r"<([^>]*)>((?:\s*;\s*[^;,<]*)*)", value):
        url, raw_params = match.group(1).strip(), match.group(2)
        for param in raw_params.split(";"):
            key, _, val = param.partition("=")
            if key.strip().lower() == "rel":
                for rel in _unquote(val).lower().split():
                    links.setdefault(rel, url)
    return links


# --------------------------------------------------------------------------- budget


class CallBudget:
    """A count of upstream calls with an optional ceiling (``limit=None`` is unlimited).

    One budget can be shared by several clients so a whole refresh is bounded.
    """

    def __init__(self, limit: int | None):
        if limit is not None and limit < 0:
            raise ValueError("a call budget cannot be negative")
        self.limit = limit
        self.used = 0

    @property
    def remaining(self) -> int | None:
        """Calls left, or ``None`` when unlimited."""
        return None if self.limit is None else max(self.limit - self.used, 0)

    def spend(self) -> None:
        """Pay for one call; raises :class:`BudgetExhausted` if none are left."""
        if self.limit is not None and self.used >= self.limit:
            raise BudgetExhausted(f"upstream call budget of {self.limit} calls is spent")
        self.used += 1

    def __repr__(self) -> str:
        return f"CallBudget(used={self.used}, limit={self.limit})"


# --------------------------------------------------------------------------- client


@dataclass
class ModelPage:
    """One page of ``/api/models``.

    ``next_url`` is the server's ``rel="next"`` link (``None`` on the last
    page); it is kept even when ``max_models`` ended the iteration early.
    """

    records: list[dict]
    next_url: str | None
    ratelimit: RateLimitInfo | None


class _Malformed(Exception):
    """A 200 whose body is not the JSON shape we asked for (retryable)."""


def _is_list_of_objects(body: Any) -> bool:
    return isinstance(body, list) and all(isinstance(item, dict) for item in body)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class HubClient:
    """A small, budgeted, retrying client for the Hub's model API.

    One client (and its budget) serves one refresh at a time: the counters are
    not locked, so do not share an instance between threads.
    """

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        budget: CallBudget | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_retries: int = 4,
        backoff_base: float = 1.0,
        max_wait: float = 300.0,
        sleep: Callable[[float], Any] = time.sleep,
        session: requests.Session | None = None,
        rng: random.Random | None = None,
    ):
        if max_retries < 0:
            raise ValueError("max_retries cannot be negative")
        endpoint = endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
        self.endpoint = endpoint.rstrip("/")
        self.token = token if token is not None else (os.environ.get("HF_TOKEN") or None)
        self.budget = budget if budget is not None else CallBudget(None)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_wait = max_wait
        self.sleep = sleep
        self.session = session if session is not None else requests.Session()
        self.rng = rng if rng is not None else random.Random()
        self.calls_made = 0
        self.last_ratelimit: RateLimitInfo | None = None
        # Monotonic time at which a window we saw spent (r=0 on a success) resets.
        self._quota_resets_at: float | None = None

    def __repr__(self) -> str:
        return f"HubClient(endpoint={self.endpoint!r}, calls_made={self.calls_made})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- public API

    def iter_model_pages(
        self,
        *,
        sort: str | None = "downloads",
        direction: int = -1,
        limit: int = 1000,
        expand: Sequence[str] = (),
        search: str | None = None,
        author: str | None = None,
        filter: Sequence[str] = (),
        max_models: int | None = None,
        start_url: str | None = None,
    ) -> Iterator[ModelPage]:
        """Page through ``GET /api/models``, following ``Link: <…>; rel="next"``.

        Stops when the server gives no next link, or once ``max_models``
        records have been yielded (the last page is truncated to fit).
        ``start_url`` resumes a listing at a page's ``next_url`` (which holds
        the whole query and the cursor); the other arguments are then unused.
        The token still goes to the configured Hub only.
        """
        if isinstance(expand, str) or isinstance(filter, str):
            raise TypeError("expand and filter take a sequence of strings, not a string")
        if max_models is not None and max_models <= 0:
            return
        page_size = limit if max_models is None else min(limit, max_models)
        params: list[tuple[str, str]] = []
        if sort:
            params += [("sort", sort), ("direction", str(direction))]
        params.append(("limit", str(page_size)))
        if search:
            params.append(("search", search))
        if author:
            params.append(("author", author))
        params += [("filter", tag) for tag in filter]
        params += [("expand", field) for field in expand]

        url: str | None = f"{self.endpoint}/api/models"
        query: list[tuple[str, str]] | None = params
        if start_url is not None:
            url, query = start_url, None
        seen_urls: set[str] = set()
        yielded = 0
        while url is not None:
            response, body = self._get_json(url, query, expect="list")
            links = parse_link_header(response.headers.get("Link"))
            next_url = urljoin(response.url, links["next"]) if "next" in links else None
            records: list[dict] = body
            if max_models is not None and yielded + len(records) >= max_models:
                records = records[: max_models - yielded]
                yield ModelPage(records, next_url, self.last_ratelimit)
                return
            yielded += len(records)
            yield ModelPage(records, next_url, self.last_ratelimit)
            if next_url is not None:
                if next_url in seen_urls:
                    raise HubError(f"pagination loop: {next_url} was already fetched", url=url)
                seen_urls.add(next_url)
            url, query = next_url, None

    def model_info(self, model_id: str, *, expand: Sequence[str] = ()) -> dict:
        """Fetch one model's record from ``GET /api/models/{model_id}``.

        Raises :class:`ModelNotFound` if the Hub does not know it.
        """
        if not _MODEL_ID_RE.match(model_id) or ".." in model_id:
            raise ValueError(f"not a Hub model id: {model_id!r}")
        if isinstance(expand, str):
            raise TypeError("expand takes a sequence of strings, not a string")
        url = f"{self.endpoint}/api/models/{quote(model_id, safe='/')}"
        params = [("expand", field) for field in expand]
        _, body = self._get_json(url, params or None, expect="object", model_id=model_id)
        return body

    # ----------------------------------------------------------------- transport

    def _headers_for(self, url: str) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        # The token goes to the configured Hub only, never to a host a Link or
        # a redirect points at.
        if self.token and _origin(url) == _origin(self.endpoint):
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _backoff(self, attempt: int) -> float:
        """Full jitter: a random wait up to ``backoff_base * 2**attempt``."""
        ceiling = min(self.backoff_base * (2**attempt), self.max_wait)
        return self.rng.uniform(0, ceiling)

    def _wait_for_quota_reset(self, url: str) -> None:
        """If the last success said the window is spent, wait for its reset first.

        Sending anyway would only buy a 429 with our budget.
        """
        if self._quota_resets_at is None:
            return
        wait = self._quota_resets_at - time.monotonic()
        self._quota_resets_at = None
        if wait <= 0:
            return
        if wait > self.max_wait:
            raise RateLimited(
                f"Hub quota is spent and resets in {wait:.0f}s, more than max_wait "
                f"{self.max_wait:.0f}s; not calling {url}",
                url=url,
                wait_seconds=wait,
            )
        logger.info("Hub quota spent; waiting %.1fs for the window to reset", wait)
        self.sleep(wait)

    def _get_json(
        self,
        url: str,
        params: list[tuple[str, str]] | None,
        *,
        expect: str,
        model_id: str | None = None,
    ) -> tuple[requests.Response, Any]:
        """GET ``url`` and decode its JSON body, retrying transient failures.

        Retried (each retry a new, budgeted call): 429, 5xx, connection errors
        and timeouts, and a 200 whose body is not the JSON shape ``expect``
        names. Any other 4xx raises at once.
        """
        attempt = 0
        redirects = 0
        while True:
            self._wait_for_quota_reset(url)
            self.budget.spend()  # BudgetExhausted propagates: never retried
            self.calls_made += 1
            wait: float | None
            try:
                response = self.session.get(
                    url,
                    params=params,
                    headers=self._headers_for(url),
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as exc:
                raise HubError(f"GET {url} failed: {exc}", url=url) from exc
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                failed_url, last_status = url, None
                wait = self._backoff(attempt)
            except requests.RequestException as exc:
                raise HubError(f"GET {url} failed: {exc}", url=url) from exc
            else:
                failed_url = response.url
                status = last_status = response.status_code
                info = self.last_ratelimit = parse_ratelimit(response.headers)
                if 200 <= status < 300 and info and info.remaining == 0 and info.reset_seconds:
                    self._quota_resets_at = time.monotonic() + info.reset_seconds

                if status in _REDIRECT_STATUSES and response.headers.get("Location"):
                    redirects += 1
                    if redirects > _MAX_REDIRECTS:
                        raise HubError(f"GET {url}: too many redirects", url=url, status=status)
                    url, params = urljoin(response.url, response.headers["Location"]), None
                    continue

                if 200 <= status < 300:
                    try:
                        body = response.json()
                        if expect == "list" and not _is_list_of_objects(body):
                            raise _Malformed("expected a JSON array of objects")
                        if expect == "object" and not isinstance(body, dict):
                            raise _Malformed("expected a JSON object")
                    except (ValueError, _Malformed) as exc:
                        reason = f"malformed body ({exc})"
                        wait = self._backoff(attempt)
                    else:
                        return response, body
                elif status == 429:
                    reason = "429 Too Many Requests"
                    wait = parse_retry_after(response.headers.get("Retry-After"))
                    if wait is None and self.last_ratelimit is not None:
                        reset = self.last_ratelimit.reset_seconds
                        wait = float(reset) if reset is not None else None
                    if wait is None:
                        wait = self._backoff(attempt)
                elif status >= 500:
                    reason = f"{status} {response.reason}"
                    # A 503 may say when to come back; otherwise back off with jitter.
                    wait = parse_retry_after(response.headers.get("Retry-After"))
                    if wait is None:
                        wait = self._backoff(attempt)
                else:
                    raise self._client_error(response, model_id)

            if attempt >= self.max_retries:
                raise HubError(
                    f"GET {failed_url} failed after {attempt + 1} attempts: {reason}",
                    url=failed_url,
                    status=last_status,
                )
            if wait > self.max_wait:
                raise RateLimited(
                    f"GET {failed_url}: the Hub asks to wait {wait:.0f}s ({reason}), "
                    f"more than max_wait {self.max_wait:.0f}s",
                    url=failed_url,
                    wait_seconds=wait,
                )
            logger.warning(
                "Hub call failed (%s) for %s; retry %d/%d in %.1fs",
                reason,
                failed_url,
                attempt + 1,
                self.max_retries,
                wait,
            )
            self.sleep(wait)
            attempt += 1

    @staticmethod
    def _client_error(response: requests.Response, model_id: str | None) -> HubError:
        status = response.status_code
        detail = response.text[:200].strip()
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                detail = body["error"]
        except ValueError:
            pass
        message = f"GET {response.url} failed: {status} {response.reason}"
        if detail:
            message += f": {detail}"
        # Without a token the Hub answers 401 RepoNotFound for repos it will not
        # admit exist; for us both mean "no such model".
        repo_not_found = response.headers.get("X-Error-Code") == "RepoNotFound"
        if model_id is not None and (status == 404 or repo_not_found):
            return ModelNotFound(message, url=response.url, status=status)
        return HubError(message, url=response.url, status=status)
