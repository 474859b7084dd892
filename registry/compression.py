"""Response compression: zstd, br or gzip, chosen by the client's Accept-Encoding.

`negotiate_encoding` is the one place a coding is chosen. The middleware uses
it inside Django, and the response cache keys its entries on it
(`registry.caching.request_parts`), so that a cached answer is replayed only
to clients that asked for the same coding.

Negotiation follows RFC 9110 §12.5.3: the highest quality wins, `q=0` refuses
a coding, `*` stands for every coding not named, and codings are compared
without regard to case. On equal quality we prefer zstd, then br, then gzip
(`x-gzip` is gzip). `identity` is acceptable unless refused (`identity;q=0`,
or `*;q=0` without it); when named, its quality competes with the others,
and when not named it loses to any coding the client accepts. When nothing
is acceptable we still answer, uncompressed (a 406 helps nobody).

What is compressed: text (HTML, CSV, …), JSON, YAML, JavaScript, XML and
SVG, 500 bytes or more, not already encoded and not marked `no-transform`;
streaming responses (the CSV export) too, as they stream. Every response of
such a type says `Vary: Accept-Encoding`, compressed or not. The output of
each coding is deterministic (gzip with no name and no time in its header),
so the same body always gives the same bytes, and so the same strong ETag
(Django's ConditionalGetMiddleware, which runs after this one, computes it
on the compressed bytes: each coding has its own ETag). An ETag a view set
before compression gets the coding appended, to stay strong and distinct.

BREACH: pages that carry a secret (the admin's CSRF token) are compressed
too; Django masks that token differently on every response, which is the
mitigation that matters here. The API carries no secrets in its bodies.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterable, Iterator

import brotli
import zstandard
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_vary_headers

IDENTITY = "identity"
# Our order of preference among codings the client accepts equally.
ENCODINGS = ("zstd", "br", "gzip")
ALIASES = {"x-gzip": "gzip"}
# Long headers are cut, not parsed: no client needs more to list its codings.
MAX_HEADER_LENGTH = 512
# Smaller bodies fit in a packet or two whatever we do.
MIN_LENGTH = 500
# Levels chosen for JSON and HTML of tens of kilobytes: a few milliseconds at
# most (bench/compression.py prints ratio and time per coding).
ZSTD_LEVEL = 9
BROTLI_QUALITY = 5
GZIP_LEVEL = 6

COMPRESSIBLE_TYPES = {
    "application/json",
    "application/javascript",
    "application/xml",
    "application/yaml",
    "application/vnd.oai.openapi",
    "image/svg+xml",
}


# Clients send few distinct headers; the response cache asks on every request.
@functools.lru_cache(maxsize=256)
def negotiate_encoding(accept_encoding: str | None) -> str:
    """The coding to answer with: "zstd", "br", "gzip" or "identity"."""
    if not accept_encoding:
        return IDENTITY
    qualities: dict[str, float] = {}
    for item in accept_encoding[:MAX_HEADER_LENGTH].split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        coding = ALIASES.get(coding, coding)
        if not coding:
            continue
        quality = _quality(params)
        if quality is not None:
            qualities[coding] = max(quality, qualities.get(coding, 0.0))
    anything = qualities.get("*")
    best, best_quality = IDENTITY, 0.0
    for coding in ENCODINGS:
        quality = qualities.get(coding, anything or 0.0)
        if quality > best_quality:
            best, best_quality = coding, quality
    identity = qualities.get(IDENTITY)
    if identity is not None and identity > best_quality:
        return IDENTITY
    return best


def _quality(params: str) -> float | None:
    """The q of `;q=0.5` (1 when absent); None when it is not a valid qvalue."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return None
            return quality if 0.0 <= quality <= 1.0 else None
    return 1.0


def compress(body: bytes, encoding: str) -> bytes:
    """`body` in `encoding` (one of ENCODINGS)."""
    if encoding == "zstd":
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(body)
    if encoding == "br":
        return brotli.compress(body, quality=BROTLI_QUALITY)
    if encoding == "gzip":
        compressor = _gzip_compressor()
        return compressor.compress(body) + compressor.flush()
    raise ValueError(f"unknown content coding {encoding!r}")


def _gzip_compressor():
    # wbits 31: a gzip member with a fixed header (no file name, time 0).
    return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)


def compress_stream(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """The chunks of a streaming body, compressed as they come."""
    process, finish = _stream_compressor(encoding)
    for chunk in chunks:
        out = process(chunk)
        if out:
            yield out
    out = finish()
    if out:
        yield out


def _stream_compressor(encoding: str) -> tuple[Callable[[bytes], bytes], Callable[[], bytes]]:
    if encoding == "zstd":
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj()
        return compressor.compress, compressor.flush
    if encoding == "br":
        compressor = brotli.Compressor(quality=BROTLI_QUALITY)
        return compressor.process, compressor.finish
    if encoding == "gzip":
        compressor = _gzip_compressor()
        return compressor.compress, compressor.flush
    raise ValueError(f"unknown content coding {encoding!r}")


def is_compressible(content_type: str) -> bool:
    """Text-like media types gain from compression; images and archives do not."""
    media = content_type.split(";", 1)[0].strip().lower()
    return (
        media.startswith("text/")
        or media in COMPRESSIBLE_TYPES
        or media.endswith(("+json", "+xml"))
    )


class CompressionMiddleware:
    """Compress responses in the coding `negotiate_encoding` picks.

    Place it after (inside) ConditionalGetMiddleware, so that the ETag is
    computed on the bytes as sent.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not is_compressible(response.get("Content-Type", "")):
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        if response.has_header("Content-Encoding") or response.status_code == 206:
            return response
        if "no-transform" in response.get("Cache-Control", "").lower():
            return response
        encoding = negotiate_encoding(request.META.get("HTTP_ACCEPT_ENCODING"))
        if encoding == IDENTITY:
            return response
        if response.streaming:
            response.streaming_content = compress_stream(response.streaming_content, encoding)
            del response["Content-Length"]
        else:
            body = response.content
            if len(body) < MIN_LENGTH:
                return response
            compressed = compress(body, encoding)
            if len(compressed) >= len(body):
                return response
            response.content = compressed
            response["Content-Length"] = str(len(compressed))
        etag = response.get("ETag")
        if etag and etag.endswith('"'):
            response["ETag"] = f'{etag[:-1]}-{encoding}"'
        response["Content-Encoding"] = encoding
        return response
