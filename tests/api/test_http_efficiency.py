"""Compression by Accept-Encoding, strong ETags and 304s, Cache-Control and Vary:
through Django (the test client) and through the WSGI fast path in front of it.

With REDIS_URL set the cache these tests store in and replay from is Redis.
"""

from __future__ import annotations

import gzip
import json
import os

import brotli
import pytest
import zstandard
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory

from registry import caching
from registry.cache_policy import API_PRIVATE, API_PUBLIC, PAGE_PUBLIC, if_none_match
from registry.compression import CompressionMiddleware, negotiate_encoding
from tests.factories import T0, api_key, days, hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db

URL = "/api/v4/models?limit=100"
DECODE = {
    "zstd": lambda body: zstandard.ZstdDecompressor().decompressobj().decompress(body),
    "br": brotli.decompress,
    "gzip": gzip.decompress,
}


@pytest.fixture
def board():
    return published_snapshot(hub_records(120))


def vary(response) -> set[str]:
    return {part.strip().lower() for part in response.get("Vary", "").split(",") if part.strip()}


# --- Negotiation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "identity"),
        ("", "identity"),
        ("gzip", "gzip"),
        ("gzip, deflate", "gzip"),
        ("gzip, deflate, br", "br"),
        ("gzip, deflate, br, zstd", "zstd"),  # equal quality: our preference
        ("*", "zstd"),
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
        ("deflate", "identity"),
        ("br;q=0.5, gzip", "gzip"),  # the client's preference wins
        ("zstd;q=0.2, br;q=0.9, gzip;q=0.5", "br"),
        ("zstd;q=0, br;q=0, gzip", "gzip"),  # q=0 refuses
        ("*, zstd;q=0", "br"),
        ("*;q=0", "identity"),
        ("gzip;q=0", "identity"),
        ("identity, gzip;q=0.5", "identity"),
        ("identity;q=0, gzip;q=0.1", "gzip"),
        ("zstd;q=abc, gzip", "gzip"),  # a malformed quality is not an acceptance
        ("zstd;q=2, gzip", "gzip"),
        ("gzip ; q=0.8 , br ; q=0.9", "br"),
    ],
)
def test_it_negotiates_the_coding(header, expected):
    assert negotiate_encoding(header) == expected


@pytest.mark.parametrize(
    ("header", "etag", "expected"),
    [
        ('"abc"', '"abc"', True),
        ('"x", "abc"', '"abc"', True),
        ('W/"abc"', '"abc"', True),  # weak comparison for GET
        ("*", '"abc"', True),
        ('"abcd"', '"abc"', False),
        ("", '"abc"', False),
        ('"abc"', None, False),
    ],
)
def test_it_compares_entity_tags_weakly(header, etag, expected):
    assert if_none_match(header, etag) is expected


# --- Inside Django ----------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["zstd", "br", "gzip"])
def test_each_coding_round_trips_to_the_identity_body(client, board, encoding):
    plain = client.get(URL)
    assert "Content-Encoding" not in plain
    response = client.get(URL, HTTP_ACCEPT_ENCODING=encoding)
    assert response["Content-Encoding"] == encoding
    assert "accept-encoding" in vary(response)
    assert int(response["Content-Length"]) == len(response.content) < len(plain.content) // 4
    assert DECODE[encoding](response.content) == plain.content


def test_each_coding_has_its_own_strong_etag(client, board):
    tags = {}
    for encoding in ("identity", "zstd", "br", "gzip"):
        response = client.get(URL, HTTP_ACCEPT_ENCODING=encoding)
        assert response["ETag"].startswith('"') and response["ETag"].endswith('"')
        tags[encoding] = response["ETag"]
        # The same request gives the same bytes and so the same tag (here a cache hit).
        again = client.get(URL, HTTP_ACCEPT_ENCODING=encoding)
        assert again["ETag"] == response["ETag"] and again.content == response.content
    assert len(set(tags.values())) == 4


def test_it_refuses_a_coding_the_client_gave_q_0(client, board):
    response = client.get(URL, HTTP_ACCEPT_ENCODING="zstd;q=0, br;q=0, gzip")
    assert response["Content-Encoding"] == "gzip"
    response = client.get(URL, HTTP_ACCEPT_ENCODING="gzip;q=0, br;q=0")
    assert "Content-Encoding" not in response
    assert json.loads(response.content)["count"] == 120


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_it_answers_a_matching_if_none_match_with_304(client, board, encoding):
    first = client.get(URL, HTTP_ACCEPT_ENCODING=encoding)
    etag = first["ETag"]
    for header in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        response = client.get(URL, HTTP_ACCEPT_ENCODING=encoding, HTTP_IF_NONE_MATCH=header)
        assert response.status_code == 304, header
        assert response.content == b""
        assert response["ETag"] == etag
        assert response["Cache-Control"] == first["Cache-Control"] == API_PUBLIC
        assert vary(response) == vary(first)
    stale = client.get(URL, HTTP_ACCEPT_ENCODING=encoding, HTTP_IF_NONE_MATCH='"stale"')
    assert stale.status_code == 200 and stale.content == first.content


def test_the_etag_of_another_coding_does_not_match(client, board):
    gzip_etag = client.get(URL, HTTP_ACCEPT_ENCODING="gzip")["ETag"]
    response = client.get(URL, HTTP_ACCEPT_ENCODING="br", HTTP_IF_NONE_MATCH=gzip_etag)
    assert response.status_code == 200 and response["Content-Encoding"] == "br"


def test_the_etag_changes_when_a_snapshot_is_published(
    client, board, django_capture_on_commit_callbacks
):
    before = client.get(URL, HTTP_ACCEPT_ENCODING="zstd")
    with django_capture_on_commit_callbacks(execute=True):
        latest = published_snapshot(hub_records(120), taken_at=T0 + days(1))
    after = client.get(URL, HTTP_ACCEPT_ENCODING="zstd", HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert after["ETag"] != before["ETag"]
    assert json.loads(DECODE["zstd"](after.content))["snapshot"]["id"] == latest.pk


def test_api_answers_are_public_for_anonymous_callers_and_private_for_keys(client, board):
    anonymous = client.get(URL)
    assert anonymous["Cache-Control"] == API_PUBLIC
    assert {"accept-encoding", "authorization", "x-api-key"} <= vary(anonymous)
    key = api_key("free")
    keyed = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert keyed["Cache-Control"] == API_PRIVATE
    assert keyed["X-Cache"] == "MISS"  # not the anonymous answer replayed
    assert client.get(URL, HTTP_X_API_KEY=key)["Cache-Control"] == API_PRIVATE


@pytest.mark.parametrize(
    "url", ["/api/v4/models?limit=0", "/api/v4/models/nobody/nothing", "/api/v4/nowhere"]
)
def test_errors_are_never_stored(client, board, url):
    response = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert 400 <= response.status_code < 500
    assert response["Cache-Control"] == "no-store"
    assert "ETag" not in response
    assert "Content-Encoding" not in response  # small bodies are sent as they are
    assert json.loads(response.content)["error"]["code"]


def test_views_that_decided_keep_their_cache_control(client, board):
    assert client.get("/api/v4/health")["Cache-Control"] == "no-store"
    running = client.get("/api/v4/snapshots?status=all")
    assert running["Cache-Control"] == "no-store" and "ETag" not in running
    assert "no-store" in client.get("/admin/login/")["Cache-Control"]


def test_html_pages_are_compressed_and_cached_briefly(client, board):
    plain = client.get("/")
    assert plain.status_code == 200 and plain["Content-Type"].startswith("text/html")
    assert plain["Cache-Control"] == PAGE_PUBLIC
    response = client.get("/", HTTP_ACCEPT_ENCODING="br, gzip")
    assert response["Content-Encoding"] == "br"
    assert "accept-encoding" in vary(response)
    assert b"org0/model-00000" in brotli.decompress(response.content)
    assert client.get("/", HTTP_IF_NONE_MATCH=plain["ETag"]).status_code == 304


def test_the_schema_and_its_docs_are_compressed(client):
    schema = client.get("/api/v4/schema/", HTTP_ACCEPT_ENCODING="gzip")
    assert schema["Content-Type"].startswith("application/vnd.oai.openapi")
    assert schema["Content-Encoding"] == "gzip"
    assert b"Modelboard API" in gzip.decompress(schema.content)
    docs = client.get("/api/v4/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content


# --- The middleware on its own ------------------------------------------------------


def middleware_answer(response, accept_encoding: str):
    request = RequestFactory().get("/api/v4/export.csv", HTTP_ACCEPT_ENCODING=accept_encoding)
    return CompressionMiddleware(lambda request: response)(request)


@pytest.mark.parametrize("encoding", ["zstd", "br", "gzip"])
def test_streaming_responses_are_compressed_as_they_stream(encoding):
    rows = [f"org/model-{i},{i * 7},{i}\n".encode() for i in range(5000)]
    streamed = StreamingHttpResponse(iter(rows), content_type="text/csv")
    response = middleware_answer(streamed, encoding)
    assert response["Content-Encoding"] == encoding and "Content-Length" not in response
    body = b"".join(response.streaming_content)
    assert DECODE[encoding](body) == b"".join(rows)
    assert len(body) < len(b"".join(rows)) // 3


def test_already_compressed_types_and_encoded_bodies_are_left_alone():
    png = HttpResponse(b"\x89PNG" + bytes(2000), content_type="image/png")
    assert "Content-Encoding" not in middleware_answer(png, "gzip")
    assert "Vary" not in png
    encoded = HttpResponse(gzip.compress(b"x" * 2000), content_type="text/csv")
    encoded["Content-Encoding"] = "gzip"
    assert middleware_answer(encoded, "zstd")["Content-Encoding"] == "gzip"


def test_a_view_s_own_etag_gets_the_coding_appended():
    response = HttpResponse(b"a,b\n" * 500, content_type="text/csv")
    response["ETag"] = '"v1"'
    assert middleware_answer(response, "br")["ETag"] == '"v1-br"'


# --- In front of Django: the WSGI fast path ------------------------------------------


def test_the_fast_path_replays_each_coding_as_django_sent_it(front, board):
    status, plain_headers, plain = front(URL)
    for encoding in ("zstd", "br", "gzip"):
        status, first_headers, first = front(URL, HTTP_ACCEPT_ENCODING=encoding)
        assert first_headers["X-Cache"] == "MISS"
        status, headers, body = front(URL, HTTP_ACCEPT_ENCODING=encoding)
        assert status == 200 and headers["X-Cache"] == "HIT"
        assert body == first and DECODE[encoding](body) == plain
        for name in ("Content-Encoding", "ETag", "Cache-Control", "Vary"):
            assert headers[name] == first_headers[name], name
        assert headers["Content-Encoding"] == encoding
        assert headers["Content-Length"] == str(len(body))
        assert headers["ETag"] != plain_headers["ETag"]
    assert len(front.django_calls) == 4  # one miss per coding, identity included


def test_the_fast_path_answers_if_none_match_with_304_without_django(front, board):
    _, first_headers, _ = front(URL, HTTP_ACCEPT_ENCODING="gzip")
    calls = len(front.django_calls)
    status, headers, body = front(
        URL, HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=first_headers["ETag"]
    )
    assert (status, body) == (304, b"")
    assert headers["ETag"] == first_headers["ETag"]
    assert headers["Cache-Control"] == API_PUBLIC
    assert headers["Vary"] == first_headers["Vary"]
    assert headers["X-Cache"] == "HIT"
    assert "Content-Encoding" not in headers and "Content-Type" not in headers
    assert len(front.django_calls) == calls  # answered in front of Django
    status, _, body = front(URL, HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH='"old"')
    assert status == 200 and json.loads(gzip.decompress(body))["count"] == 120


def test_the_fast_path_keeps_keyed_callers_apart(front, board):
    front(URL)
    assert front(URL)[1]["X-Cache"] == "HIT"
    status, headers, _ = front(URL, HTTP_AUTHORIZATION=f"Bearer {api_key('free')}")
    assert headers["X-Cache"] == "MISS" and headers["Cache-Control"] == API_PRIVATE


def test_the_fast_path_answers_304_after_a_publish_only_for_the_new_tag(
    front, board, django_capture_on_commit_callbacks
):
    _, old, _ = front(URL, HTTP_ACCEPT_ENCODING="br")
    with django_capture_on_commit_callbacks(execute=True):
        published_snapshot([hub_record("acme/three")], taken_at=T0 + days(1))
    status, new, body = front(URL, HTTP_ACCEPT_ENCODING="br", HTTP_IF_NONE_MATCH=old["ETag"])
    assert status == 200 and new["ETag"] != old["ETag"]
    status, _, _ = front(URL, HTTP_ACCEPT_ENCODING="br", HTTP_IF_NONE_MATCH=new["ETag"])
    assert status == 304


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_a_304_comes_from_the_entry_in_redis_in_a_fresh_process(front, board, settings):
    assert isinstance(caches["default"], RedisCache)
    _, first, _ = front(URL, HTTP_ACCEPT_ENCODING="zstd")
    # Another worker: no local copy, only what Redis holds.
    other = caching.ResponseCacheApp(lambda environ, start_response: pytest.fail("reached Django"))
    environ = (
        RequestFactory()
        .get(URL, HTTP_ACCEPT_ENCODING="zstd", HTTP_IF_NONE_MATCH=first["ETag"])
        .environ
    )
    seen = {}
    body = b"".join(other(environ, lambda status, headers: seen.update(status=status, h=headers)))
    assert seen["status"] == "304 Not Modified" and body == b""
    assert dict(seen["h"])["ETag"] == first["ETag"]


# --- One error format, even outside the API's views ----------------------------------


def test_an_unknown_api_prefix_answers_the_error_format(client):
    response = client.get("/api/v9/models")
    assert response.status_code == 404 and response["Cache-Control"] == "no-store"
    assert json.loads(response.content)["error"]["code"] == "not_found"
    assert client.get("/nowhere/at/all")["Content-Type"].startswith("text/html")


def test_an_unexpected_failure_under_the_api_answers_the_error_format(client, board, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("api.v4.selectors.public_rows", broken)
    client.raise_request_exception = False
    response = client.get(URL)
    assert response.status_code == 500 and response["Cache-Control"] == "no-store"
    assert json.loads(response.content)["error"]["code"] == "server_error"
