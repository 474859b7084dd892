"""What browsers are told: HTTPS only in production, and a strict Content-Security-Policy."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import hub_record, published_snapshot

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, list[str]]:
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.fixture
def production(settings):
    """HTTPS as production has it, behind a proxy that says X-Forwarded-Proto."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True


def test_plain_http_is_sent_to_https(client, production):
    response = client.get("/tags/?x=1")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/tags/?x=1"


def test_https_through_the_proxy_is_served_with_hsts(client, production):
    response = client.get("/tags/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


@pytest.mark.parametrize("path", ["/api/v4/health", "/metrics"])
def test_probes_of_the_web_processes_are_not_redirected(client, production, settings, path):
    settings.METRICS_TOKEN = "t"
    response = client.get(path, headers={"X-Metrics-Token": "t"})
    assert response.status_code in (200, 503)
    assert "Location" not in response


def test_pages_run_under_a_strict_policy(client):
    now = timezone.now()
    for days_ago, downloads in ((2, 100), (1, 150), (0, 240)):
        published_snapshot(
            [hub_record("acme/one", downloads=downloads)], taken_at=now - timedelta(days=days_ago)
        )
    response = client.get("/models/acme/one")
    assert response.status_code == 200 and b"<svg" in response.content  # the trend charts
    assert policy(response) == {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
    }
    # Nothing on the pages that the policy would refuse.
    for path in ("/", "/models/acme/one", "/tags/", "/families/", "/compare?models=acme/one"):
        html = client.get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son\w+=", html), path


def test_the_api_docs_load_everything_from_us(client):
    response = client.get("/api/v4/docs/")
    assert response.status_code == 200
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    html = response.content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(src.startswith("/") for src in sources), sources
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in sources
    assert not re.search(r"<script(?![^>]*\bsrc=)|<style", html)
    script = client.get("/api/v4/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert b"/api/v4/schema/" in script.content and b"SwaggerUIBundle" in script.content


@pytest.mark.parametrize(
    ("path", "button"),
    [
        ("/admin/snapshots/snapshot/", "Refresh now"),
        ("/admin/registry/family/", "Re-assign families now"),
        ("/admin/tagging/tag/", "Re-apply tags now"),
    ],
)
def test_the_curators_action_buttons_need_no_inline_style(admin_client, path, button):
    html = admin_client.get(path).content.decode()
    form = re.search(r"<form[^>]*>(?:(?!</form>).)*" + re.escape(button), html, re.S)
    assert form, f"{button!r} not on {path}"
    assert not re.search(r"\sstyle=|\son\w+=", form.group(0))
    assert "/static/css/admin_actions.css" in html
