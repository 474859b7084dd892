"""The query string of every API request, checked once before any view reads it.

Views trust `request.query_params` to hold text: each parameter is UTF-8
and free of NUL, which no text column can hold (PostgreSQL refuses it, and a
percent-encoded surrogate such as %ED%A0%80 is not UTF-8 at all). Django
decodes a query string leniently, replacing what is not UTF-8, so the check
reads the raw bytes as sent. A query string longer than MAX_QUERY_LENGTH is
answered 414 here, in the API's error format, well before a server in front
(gunicorn's request line, nginx's header buffers) would refuse it in HTML.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.http import HttpRequest, JsonResponse

from .errors import error_body

# Characters of query string (as sent, percent-encoded) the API reads. The
# widest query the schema allows (every parameter of an operation at its
# bounds, each character at its widest percent-encoding) is under it
# (tests/api/test_schemathesis.py checks); deploy/gunicorn.conf.py reads
# request lines of up to 8,190 bytes, which leaves room for the path.
MAX_QUERY_LENGTH = 6000


def _decoded(raw: bytes) -> bytes:
    return unquote_to_bytes(raw.replace(b"+", b" "))


def query_refusal(request: HttpRequest) -> JsonResponse | None:
    """A 400 or 414 for a query string no view should read, or None when it is fine."""
    raw = get_bytes_from_wsgi(request.META, "QUERY_STRING", "")  # as sent
    if len(raw) > MAX_QUERY_LENGTH:
        message = (
            f"The query string is {len(raw)} characters; the API reads at most "
            f"{MAX_QUERY_LENGTH}. Ask for fewer values at once."
        )
        return JsonResponse(error_body("query_too_long", message), status=414)
    pairs = [part for part in raw.split(b"&") if part]
    most = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    if most is not None and len(pairs) > most:
        message = f"The query string has {len(pairs)} parameters; the API reads at most {most}."
        return JsonResponse(error_body("invalid_parameter", message), status=400)
    problems: dict[str, list[str]] = {}
    for part in pairs:
        name, _, value = part.partition(b"=")
        name_bytes, value_bytes = _decoded(name), _decoded(value)
        shown = name_bytes.decode("utf-8", errors="replace")
        try:
            texts = (name_bytes.decode("utf-8"), value_bytes.decode("utf-8"))
        except UnicodeDecodeError:
            problems.setdefault(shown, []).append("must be UTF-8 text")
            continue
        if any("\x00" in text for text in texts):
            problems.setdefault(shown, []).append("must not contain NUL characters")
    if not problems:
        return None
    first = next(iter(problems))
    message = f"Invalid value for '{first}': {problems[first][0]}"
    return JsonResponse(error_body("invalid_parameter", message, fields=problems), status=400)
