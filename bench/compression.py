"""Compression ratio and cost per coding, for a 100-model page of /api/v4/models.

    .venv/bin/python bench/compression.py [--models 300] [--days 8] [--repeat 50]

It builds the demo (`manage.py demo`: generated Hub models with daily
snapshots, so deltas and tags are filled in as in production) in a scratch
SQLite database, then asks the application itself, through Django's full
middleware stack, for

- JSON: `GET /api/v4/models?limit=100` (a 100-model page),
- HTML: `GET /` (the leaderboard, 50 rows with sparklines),
- CSV: the same 100 models as CSV rows (what an export streams),

once per coding (`Accept-Encoding: zstd`, `br`, `gzip`, and none), checks that
each body decompresses to the identity body, and prints per coding the size,
the ratio (identity size / compressed size) and the median time to compress
the body (`registry.compression.compress`, over --repeat runs). The scratch
database is deleted at the end.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from bench_keys import bench_keys

REPO = Path(__file__).resolve().parents[1]
ENCODINGS = ("zstd", "br", "gzip")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="modelboard-bench-compression-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch / 'db.sqlite3'}"
    os.environ.pop("REDIS_URL", None)  # an in-process cache, eager Celery
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
    os.environ.setdefault("MODELBOARD_LOG_LEVEL", "WARNING")
    # Production settings (DEBUG off) over plain HTTP: a key, and no HTTPS redirect.
    bench_keys()
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    warnings.filterwarnings("ignore", "No directory at")  # no collectstatic needed here
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    try:
        print(f"building the demo: {args.models} models, {args.days} days …", flush=True)
        call_command("migrate", verbosity=0)
        quiet = io.StringIO()
        call_command(
            "demo", models=args.models, days=args.days, no_admin=True, stdout=quiet, stderr=quiet
        )
        report(args.repeat)
    finally:
        for path in scratch.iterdir():
            path.unlink()
        scratch.rmdir()


def report(repeat: int) -> None:
    import brotli
    import zstandard
    from django.test import Client

    from registry.compression import compress

    decode = {
        "zstd": lambda body: zstandard.ZstdDecompressor().decompressobj().decompress(body),
        "br": brotli.decompress,
        "gzip": gzip.decompress,
    }
    client = Client()
    page = client.get("/api/v4/models?limit=100")
    assert page.status_code == 200, page.content[:200]
    rows = json.loads(page.content)["results"]
    assert len(rows) == 100, len(rows)

    def fetch(url: str):
        return lambda encoding: client.get(url, HTTP_ACCEPT_ENCODING=encoding)

    bodies = {
        "JSON /api/v4/models?limit=100": fetch("/api/v4/models?limit=100"),
        "HTML / (50 rows)": fetch("/"),
        "CSV, the same 100 models": lambda encoding: _csv_response(rows, encoding),
    }
    print(f"\n{'body':32} {'coding':8} {'bytes':>9} {'ratio':>7} {'compress ms':>12}")
    for label, get in bodies.items():
        plain = get("identity")
        identity = plain.content
        print(f"{label:32} {'identity':8} {len(identity):9,} {1:7.2f} {'':>12}")
        for encoding in ENCODINGS:
            response = get(encoding)
            assert response["Content-Encoding"] == encoding, label
            assert decode[encoding](response.content) == identity, label
            size = len(response.content)
            timings = []
            for _ in range(repeat):
                started = time.perf_counter()
                compress(identity, encoding)
                timings.append((time.perf_counter() - started) * 1000)
            print(
                f"{'':32} {encoding:8} {size:9,} {len(identity) / size:7.2f} "
                f"{statistics.median(timings):12.3f}"
            )


def _csv_response(rows: list[dict], encoding: str):
    """The rows as CSV, through the same middleware as every response."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from registry.compression import CompressionMiddleware

    out = io.StringIO()
    columns = [key for key, value in rows[0].items() if not isinstance(value, dict | list)]
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    response = HttpResponse(out.getvalue().encode(), content_type="text/csv")
    request = RequestFactory().get("/api/v4/export.csv", HTTP_ACCEPT_ENCODING=encoding)
    return CompressionMiddleware(lambda request: response)(request)


if __name__ == "__main__":
    main()
