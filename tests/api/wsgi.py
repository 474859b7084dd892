"""The project's WSGI application (registry.wsgi: the response cache in front of
Django) for tests that call it the way a server does."""

from __future__ import annotations

import pytest
from django.core import signals
from django.db import close_old_connections


@pytest.fixture
def wsgi_app():
    """registry.wsgi.application, inside the test's transaction.

    As Django's test client does, requests must not close the connection
    that holds the test's transaction.
    """
    from registry.wsgi import application

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def front(settings, wsgi_app):
    """The WSGI fast path (a fresh ResponseCacheApp, gate included) around Django's handler.

    Calling it answers `(status, headers, body)`; `front.django_calls` lists
    the paths Django itself saw, `front.app` is the wrapper.
    """
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory

    from registry import caching

    settings.RESPONSE_CACHE_LOCAL_SECONDS = 0  # re-validate on every request
    handler = WSGIHandler()
    django_calls = []

    def django(environ, start_response):
        django_calls.append(environ["PATH_INFO"])
        return handler(environ, start_response)

    app = caching.ResponseCacheApp(django)

    def get(url: str, **extra) -> tuple[int, dict, bytes]:
        environ = RequestFactory().get(url, **extra).environ
        seen = {}

        def start_response(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, dict(headers)

        result = app(environ, start_response)
        body = b"".join(result)
        if hasattr(result, "close"):
            result.close()
        return int(seen["status"].split()[0]), seen["headers"], body

    get.app, get.django_calls = app, django_calls
    return get
