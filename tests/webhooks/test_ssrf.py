"""SSRF: internal addresses are refused at registration and on every attempt."""

import ipaddress
import socket

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError

from webhooks.delivery import delivery_run
from webhooks.models import Delivery, DeliveryAttempt, Subscription
from webhooks.ssrf import AddressRefused, address_refusal, allowed_networks, url_check

from .support import publish, subscribe

pytestmark = pytest.mark.django_db

REFUSED = [
    ("http://10.0.0.1/hook", "private"),
    ("http://127.0.0.1:8080/hook", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://[::ffff:10.1.2.3]/hook", "private"),
    ("http://100.64.0.1/hook", "non-public"),
    ("http://192.168.1.1/hook", "private"),
    ("http://169.254.10.1/hook", "link-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[fc00::1]/hook", "private"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://[ff02::1]/hook", "multicast"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://240.0.0.1/hook", "reserved"),
]


def fake_resolver(tables):
    """A getaddrinfo that answers from `table` (name -> addresses): no network."""

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        try:
            table = {**tables, host: [str(ipaddress.ip_address(host))]}  # literals resolve
        except ValueError:
            table = tables
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for address in table[host]:
            ip = ipaddress.ip_address(address)
            if ip.version == 6:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return out

    return getaddrinfo


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_it_refuses_internal_addresses_at_registration(org, no_allowlist, url, why):
    with pytest.raises(ValidationError) as caught:
        subscribe(org, url)
    assert why in caught.value.message_dict["url"][0]
    assert not Subscription.objects.exists()


def test_it_refuses_a_name_that_resolves_to_a_private_address(org, no_allowlist, monkeypatch):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        fake_resolver(
            {"internal.example.com": ["10.0.0.7"], "mixed.example.com": ["8.8.8.8", "::1"]}
        ),
    )
    with pytest.raises(ValidationError) as caught:
        subscribe(org, "https://internal.example.com/hook")
    assert caught.value.message_dict["url"] == [
        "internal.example.com resolves to 10.0.0.7 is a private address"
    ]
    # Every address a name resolves to must be public.
    with pytest.raises(AddressRefused, match="loopback"):
        url_check("https://mixed.example.com/hook")


def test_a_name_that_does_not_resolve_is_refused(org, no_allowlist, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver({}))
    with pytest.raises(ValidationError) as caught:
        subscribe(org, "https://nowhere.example.com/hook")
    assert caught.value.message_dict["url"] == ["nowhere.example.com does not resolve"]


def test_a_public_name_is_accepted(org, no_allowlist, monkeypatch):
    monkeypatch.setattr(
        socket, "getaddrinfo", fake_resolver({"hooks.example.com": ["93.184.215.14"]})
    )
    sub, _ = subscribe(org, "https://hooks.example.com/hook")
    assert sub.url == "https://hooks.example.com/hook"
    assert str(url_check(sub.url).address) == "93.184.215.14"


def test_every_attempt_checks_again(org, receiver, loopback_allowed):
    subscribe(org, receiver.url)  # allowed while loopback was allowlisted
    publish()
    loopback_allowed.WEBHOOK_ALLOWED_NETWORKS = []

    assert delivery_run(delivery_id=Delivery.objects.get().pk) == "pending"

    attempt = DeliveryAttempt.objects.get()
    assert attempt.error_class == "ssrf" and "127.0.0.1 is a loopback address" in attempt.error
    assert receiver.requests == []


def test_the_checked_address_is_the_one_connected_to_with_the_original_host(
    org, receiver, loopback_allowed, monkeypatch
):
    port = receiver.server.server_address[1]
    lookups = []
    real = fake_resolver({"hooks.example.test": ["127.0.0.1"]})

    def counting(host, *args, **kwargs):
        lookups.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    subscribe(org, f"http://hooks.example.test:{port}/hook")
    publish()
    lookups.clear()
    assert delivery_run(delivery_id=Delivery.objects.get().pk) == "succeeded"
    # The name was looked up once; the connection went to the checked address.
    assert lookups == ["hooks.example.test", "127.0.0.1"]
    assert receiver.requests[0].headers["host"] == f"hooks.example.test:{port}"
    assert DeliveryAttempt.objects.get().address == "127.0.0.1"


def test_an_ipv6_loopback_receiver_works_when_allowlisted(org, receivers, loopback_allowed):
    try:
        receiver = receivers("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    subscribe(org, receiver.url)
    publish()
    assert delivery_run(delivery_id=Delivery.objects.get().pk) == "succeeded"
    assert DeliveryAttempt.objects.get().address == "::1"


def test_the_allowlist_opens_ranges_but_never_switches_the_checks_off(settings):
    allowed = allowed_networks(["127.0.0.0/8", "::1/128", "10.1.0.0/16"])
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allowed=allowed) is None
    assert address_refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allowed=allowed) is None
    assert address_refusal(ipaddress.ip_address("10.1.2.3"), allowed=allowed) is None
    assert "private" in address_refusal(ipaddress.ip_address("10.2.0.1"), allowed=allowed)
    metadata = allowed_networks(["169.254.0.0/16"])
    assert "metadata" in address_refusal(ipaddress.ip_address("169.254.169.254"), allowed=metadata)
    for too_broad in (["0.0.0.0/0"], ["::/0"], ["10.0.0.0/7"]):
        with pytest.raises(ImproperlyConfigured, match="too broad"):
            allowed_networks(too_broad)


def test_https_is_required_in_production(org, settings, monkeypatch):
    settings.WEBHOOK_REQUIRE_HTTPS = True
    monkeypatch.setattr(
        socket, "getaddrinfo", fake_resolver({"hooks.example.com": ["93.184.215.14"]})
    )
    with pytest.raises(ValidationError) as caught:
        subscribe(org, "http://hooks.example.com/hook")
    assert caught.value.message_dict["url"] == ["the URL must be https://"]
    for bad in ("ftp://hooks.example.com/", "https://user:pw@hooks.example.com/", "https:///x"):
        with pytest.raises(ValidationError):
            subscribe(org, bad)
