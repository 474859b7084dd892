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
