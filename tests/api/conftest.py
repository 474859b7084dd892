"""Fixtures of the API tests: the WSGI application as a server runs it, and its fast path."""

from tests.api.wsgi import front, wsgi_app  # noqa: F401  (fixtures)
