"""Where a webhook may be sent: resolve once, refuse internal addresses, pin the checked one.

A subscriber's URL is checked when it is registered and again on every
attempt, because what a name resolves to can change. The name is resolved
once per attempt; every address it resolves to must be public (by Python's
`ipaddress` and IANA's special-purpose registries both: address_space), and the
request then goes to the first of them (the one checked), with the original
Host header and TLS server name, so a second lookup can never point it
somewhere else (DNS rebinding).

`WEBHOOK_ALLOWED_NETWORKS` opens specific ranges for local development and
tests. It never switches the checks off: names must still resolve, cloud
metadata addresses are refused whatever it says, and ranges broader than a
/8 (IPv4) or /32 (IPv6) are rejected as configuration errors.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .address_space import IPAddress, IPNetwork, embedded_ipv4, non_public_reason

# Instance metadata services (AWS/GCP/Azure, AWS IPv6, Alibaba): never allowed.
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32")
)
NARROWEST_ALLOWED_PREFIX = {4: 8, 6: 32}


class AddressRefused(Exception):
    """The URL may not receive webhooks; `reason` says why, for the log and the API."""

    def __init__(self, reason: str, *, insecure: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.insecure = insecure


def allowed_networks(cidrs: Sequence[str] | None = None) -> tuple[IPNetwork, ...]:
    """The allowlist from settings, validated."""
    parsed = []
    for cidr in settings.WEBHOOK_ALLOWED_NETWORKS if cidrs is None else cidrs:
        try:
            network = ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_NETWORKS: {exc}") from exc
        if network.prefixlen < NARROWEST_ALLOWED_PREFIX[network.version]:
            raise ImproperlyConfigured(
                f"WEBHOOK_ALLOWED_NETWORKS: {network} is too broad; the allowlist opens "
                "specific ranges, it does not switch the checks off"
            )
        parsed.append(network)
    return tuple(parsed)


def address_refusal(address: IPAddress, *, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why a webhook may not go to this address, or None if it may.

    Public means public by Python's `ipaddress` and IANA's registries both
    (webhooks.address_space). An IPv4-mapped or NAT64 address is judged by
    the IPv4 address it reaches: ::ffff:127.0.0.1 is 127.0.0.1 on a
    dual-stack socket.
    """
    shown = str(address)
    inner = embedded_ipv4(address)
    if inner is not None:
        address = inner
        shown = f"{shown} (that is {inner})"
    if any(address in net for net in METADATA_NETWORKS):
        return f"{shown} is a cloud metadata address"
    if any(address.version == net.version and address in net for net in allowed):
        return None
    reason = non_public_reason(address)
    return f"{shown} is {reason}" if reason else None


@dataclass(frozen=True)
class CheckedTarget:
    """A URL that passed the checks, and the one address to connect to."""

    url: str
    parts: SplitResult
    host: str
    port: int
    address: IPAddress


def url_check(url: str, *, require_https: bool | None = None) -> CheckedTarget:
    """Check a subscriber URL now: scheme, host, and every address its name resolves to.

    Raises AddressRefused. Resolves the name (one lookup) and returns the
    first address, which is the one to connect to.
    """
    if require_https is None:
        require_https = settings.WEBHOOK_REQUIRE_HTTPS
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("the URL must be http:// or https://")
    if require_https and parts.scheme != "https":
        raise AddressRefused("the URL must be https://", insecure=True)
    if parts.username or parts.password:
        raise AddressRefused("the URL may not carry credentials")
    host = parts.hostname
    if not host:
        raise AddressRefused("the URL has no host")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"{host} does not resolve") from exc
    addresses = [
        ipaddress.ip_address(info[4][0].split("%", 1)[0])
        for info in infos
        if info[0] in (socket.AF_INET, socket.AF_INET6)
    ]
    if not addresses:
        raise AddressRefused(f"{host} does not resolve")
    allowed = allowed_networks()
    for address in addresses:
        reason = address_refusal(address, allowed=allowed)
        if reason:
            shown = f"{host} resolves to {reason}" if host != str(address) else reason
            raise AddressRefused(shown)
    return CheckedTarget(url=url, parts=parts, host=host, port=port, address=addresses[0])


class PinnedAddressAdapter(HTTPAdapter):
    """Connects to the checked address, whatever the URL's name resolves to by now.

    As requests-hardened's IPFilterAdapter does, but to an address checked
    beforehand (with our allowlist and IPv4-mapped handling), so the name is
    resolved once. The Host header and, for HTTPS, the SNI name and
    certificate check keep the original host name.
    """

    def __init__(self, target: CheckedTarget):
        self.target = target
        self.deadline = SocketDeadline()
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.deadline.pool_classes()

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        request.headers = CaseInsensitiveDict(request.headers or {})
        host = self.target.host
        host_header = f"[{host}]" if ":" in host else host
        if self.target.parts.port is not None:
            host_header += f":{self.target.parts.port}"
        request.headers["Host"] = host_header
        if self.target.parts.scheme == "https":
            pool_kwargs["assert_hostname"] = host
            pool_kwargs["server_hostname"] = host
        address = self.target.address
        host_params["host"] = f"[{address}]" if address.version == 6 else str(address)
        return host_params, pool_kwargs

    def get_connection(self, url, proxies=None):  # pragma: no cover - deprecated path
        raise NotImplementedError("use get_connection_with_tls_context")


class SocketDeadline:
    """Cuts every socket a session opened once a total time is up.

    Socket timeouts bound each read, not the exchange: a receiver that sends
    a byte every few seconds would hold a worker for ever. `start(seconds)`
    arms a timer that shuts the sockets down; the blocked read then fails.
    """

    def __init__(self):
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self.expired = False

    def pool_classes(self) -> dict[str, type]:
        track = self._track

        class Connection(HTTPConnection):
            def _new_conn(self):
                return track(super()._new_conn())

        class TLSConnection(HTTPSConnection):
            def _new_conn(self):
                return track(super()._new_conn())

        class Pool(HTTPConnectionPool):
            ConnectionCls = Connection

        class TLSPool(HTTPSConnectionPool):
            ConnectionCls = TLSConnection

        return {"http": Pool, "https": TLSPool}

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _cut(sock)
        return sock

    def start(self, seconds: float) -> None:
        """Arm the deadline for one exchange (a kept-alive session arms it for each)."""
        with self._lock:
            self.expired = False
            self._sockets = [sock for sock in self._sockets if sock.fileno() != -1]
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _cut(sock)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def pinned_session(target: CheckedTarget) -> requests.Session:
    """A session that can reach only `target`: no proxies from the environment, no redirects."""
    session = requests.Session()
    session.trust_env = False  # an HTTPS_PROXY would connect somewhere unchecked
    adapter = PinnedAddressAdapter(target)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
