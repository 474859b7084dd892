"""Webhook fixtures: organizations on each plan, and real HTTP receivers on loopback."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from registry.models import Organization, Plan


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers from a script.

    `script` is consumed one reply per request; when it runs out, `default`
    answers. Replies may be delayed (a slow receiver).
    """

    def __init__(self, host: str = "127.0.0.1"):
        self.requests: list[Received] = []
        self.script: deque[Reply] = deque()
        self.default = Reply()
        self.got_request = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                receiver.got_request.set()
                reply = receiver.script.popleft() if receiver.script else receiver.default
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args):
                pass

        if ":" in host:

            class Server(ThreadingHTTPServer):
                address_family = __import__("socket").AF_INET6

            self.server = Server((host, 0), Handler)
            self.url = f"http://[{host}]:{self.server.server_address[1]}"
        else:
            self.server = ThreadingHTTPServer((host, 0), Handler)
            self.url = f"http://{host}:{self.server.server_address[1]}"
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def then(self, *replies: Reply) -> Receiver:
        self.script.extend(replies)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    started: list[Receiver] = []

    def start(host: str = "127.0.0.1") -> Receiver:
        receiver = Receiver(host)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def receiver(receivers) -> Receiver:
    return receivers()


@pytest.fixture
def loopback_allowed(settings):
    """Receivers run on loopback: open it (only it), and accept http:// as in development."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    settings.WEBHOOK_REQUIRE_HTTPS = False
    settings.WEBHOOK_RETRY_JITTER = 0.15
    return settings


@pytest.fixture
def no_allowlist(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    settings.WEBHOOK_REQUIRE_HTTPS = False
    return settings


def make_org(slug: str = "acme", plan: str = "pro") -> Organization:
    return Organization.objects.create(
        name=slug.title(), slug=slug, plan=Plan.objects.get(slug=plan)
    )


@pytest.fixture
def org(db) -> Organization:
    return make_org()
