"""What browsers and shared caches may keep: Cache-Control and Vary, in one place.

The policy (a view that sets its own Cache-Control keeps it):

- errors (4xx, 5xx): `no-store`;
- `/api/` GETs answered 200: `public, max-age=60, stale-while-revalidate=60`.
  Snapshot data changes on publish (hourly by default), so a minute of
  staleness is cheap, and revalidation is a 304 (strong ETags, see
  registry.compression). A request that carries credentials
  (CREDENTIAL_HEADERS) gets `private, max-age=60` instead: what it sees
  depends on its key's plan and organization, so no shared cache may keep
  it. Every API answer says `Vary: Authorization, X-API-Key` for that
  reason, and `Accept-Encoding` where it is compressible;
- server pages (HTML) answered 200: `public, max-age=60`; `private,
  no-cache` when the page set a cookie or read the session (`Vary: Cookie`);
- views that decided already keep their word: `/api/v4/health` and
  non-complete snapshot lists say `no-store`, the admin `private, no-cache,
  no-store, must-revalidate`;
- anything else (metrics, static files served by WhiteNoise) is left alone.

`if_none_match` is RFC 9110's weak comparison for GET and HEAD, used by the
response cache in front of Django (Django's ConditionalGetMiddleware does the
same inside it); NOT_MODIFIED_HEADERS are the headers a 304 repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags

MAX_AGE = 60
STALE_WHILE_REVALIDATE = 60
API_PUBLIC = f"public, max-age={MAX_AGE}, stale-while-revalidate={STALE_WHILE_REVALIDATE}"
API_PRIVATE = f"private, max-age={MAX_AGE}"
PAGE_PUBLIC = f"public, max-age={MAX_AGE}"
PAGE_PRIVATE = "private, no-cache"
NO_STORE = "no-store"
API_PREFIX = "/api/"
# Request headers that identify a caller: an answer to one is not for the others.
CREDENTIAL_HEADERS = ("Authorization", "X-API-Key")
# What a 304 repeats of the 200 it stands for (RFC 9110 §15.4.5).
NOT_MODIFIED_HEADERS = ("cache-control", "content-location", "date", "etag", "expires", "vary")


_CREDENTIAL_KEYS = tuple("HTTP_" + name.upper().replace("-", "_") for name in CREDENTIAL_HEADERS)


def has_credentials(meta: Mapping) -> bool:
    """Whether the request (a WSGI environ or request.META) names a caller."""
    return any(meta.get(key) for key in _CREDENTIAL_KEYS)


def cache_control(request: HttpRequest, response: HttpResponseBase) -> str | None:
    """The Cache-Control the policy gives this response, or None to leave it alone."""
    if response.status_code >= 400:
        return NO_STORE
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        return None
    if request.path.startswith(API_PREFIX):
        return API_PRIVATE if has_credentials(request.META) else API_PUBLIC
    if response.get("Content-Type", "").startswith("text/html"):
        personal = response.cookies or "cookie" in response.get("Vary", "").lower()
        return PAGE_PRIVATE if personal else PAGE_PUBLIC
    return None


def if_none_match(header: str | None, etag: str | None) -> bool:
    """Whether an If-None-Match header matches `etag` (so a GET is answered 304)."""
    if not header or not etag:
        return False
    tags = parse_etags(header)
    if tags == ["*"]:
        return True
    return _opaque(etag) in {_opaque(tag) for tag in tags}


def _opaque(etag: str) -> str:
    return etag[2:] if etag.startswith("W/") else etag


class CachePolicyMiddleware:
    """Set Cache-Control and Vary by the policy above.

    Place it inside (after) the compression middleware, so that `no-transform`
    and `no-store` are known before the body is compressed and its ETag taken.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX):
            patch_vary_headers(response, CREDENTIAL_HEADERS)
        if not response.has_header("Cache-Control"):
            value = cache_control(request, response)
            if value is not None:
                response["Cache-Control"] = value
        return response
