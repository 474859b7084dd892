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
    ("http://100.64.0.1/hook", "carrier-grade NAT"),
    ("http://192.168.1.1/hook", "private"),
    ("http://169.254.10.1/hook", "link-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[fc00::1]/hook", "private"),
    ("http://[fec0::1]/hook", "site-local"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://[ff02::1]/hook", "multicast"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://240.0.0.1/hook", "reserved"),
]


# Every kind of address that is not public, IPv4 and IPv6, in the forms that
# reach an IPv4 address (mapped, NAT64, 6to4, Teredo): each is refused.
NOT_PUBLIC = [
    # IPv4
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "10.255.255.255",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.1.2.3",
    "169.254.0.1",
    "169.254.169.254",
    "169.254.170.2",
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.1",
    "192.0.0.8",
    "192.0.0.170",
    "192.0.0.171",
    "192.0.0.255",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.0.1",
    "198.18.0.1",
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "100.100.100.200",
    # IPv6
    "::",
    "::1",
    "::127.0.0.1",
    "::10.0.0.1",
    "::8.8.8.8",
    "::ffff:127.0.0.1",
    "::ffff:10.1.2.3",
    "::ffff:169.254.169.254",
    "::ffff:192.168.0.1",
    "::ffff:0:7f00:1",
    "64:ff9b::7f00:1",
    "64:ff9b::a00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::808:808",
    "100::1",
    "100:0:0:1::1",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:2::1",
    "2001:10::1",
    "2001:db8::1",
    "2001:db8:ffff::1",
    "2002:7f00:1::1",
    "2002:a00:1::1",
    "2002:808:808::1",
    "3fff::1",
    "5f00::1",
    "fc00::1",
    "fd00::1",
    "fd00:ec2::254",
    "fe80::1",
    "febf::1",
    "fec0::1",
    "fec0::a00:1",
    "feff::1",
    "ff02::1",
    "ff05::2",
    "ff0e::1",
    "4000::1",
    "8000::1",
    "e000::1",
    "200::1",
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "151.101.1.140",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2a00:1450:4001:82a::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_the_refusal_matrix_refuses_every_non_public_address(address):
    reason = address_refusal(ipaddress.ip_address(address))
    assert reason is not None and reason.startswith(str(ipaddress.ip_address(address)))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_accepted(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_refusals_name_what_the_address_is():
    def why(address):
        return address_refusal(ipaddress.ip_address(address))

    assert why("fec0::1") == "fec0::1 is a deprecated site-local address"
    assert why("64:ff9b::a00:1") == "64:ff9b::a00:1 (that is 10.0.0.1) is a private address"
    assert why("2002:808:808::1") == "2002:808:808::1 is a 6to4 address"
    assert why("2001:0:4136:e378:8000:63bf:3fff:fdd2").endswith("is a Teredo address")
    assert why("198.18.0.1") == "198.18.0.1 is a benchmarking address"
    assert why("::10.0.0.1") == "::a00:1 is a reserved (not global unicast) address"
    assert why("fd00:ec2::254") == "fd00:ec2::254 is a cloud metadata address"


def test_the_allowlist_still_opens_what_it_names(settings):
    allowed = allowed_networks(["fec0::/32", "198.18.0.0/15"])
    assert address_refusal(ipaddress.ip_address("fec0::1"), allowed=allowed) is None
    assert address_refusal(ipaddress.ip_address("198.18.0.1"), allowed=allowed) is None
    assert address_refusal(ipaddress.ip_address("fec0:1::1"), allowed=allowed) is not None


@pytest.mark.parametrize("host", ["[fec0::1]", "[64:ff9b::7f00:1]", "[::ffff:a00:1]", "198.18.0.1"])
def test_literal_addresses_are_refused_in_urls(org, no_allowlist, host):
    with pytest.raises(ValidationError) as caught:
        subscribe(org, f"http://{host}/hook")
    assert " is a" in caught.value.message_dict["url"][0]
    assert not Subscription.objects.exists()


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
