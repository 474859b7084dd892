"""HTTPS to the pinned address: the TLS name (SNI, certificate check) is the URL's host."""

import datetime
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from webhooks.delivery import delivery_run
from webhooks.models import Delivery, DeliveryAttempt

from .conftest import Receiver
from .support import publish, subscribe
from .test_ssrf import fake_resolver

pytestmark = pytest.mark.django_db

HOST = "hooks.example.test"


def self_signed(tmp_path, name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch, loopback_allowed):
    """An HTTPS receiver on 127.0.0.1 with a certificate for hooks.example.test only."""
    cert, key = self_signed(tmp_path, HOST)
    receiver = Receiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    sni_names = []
    context.sni_callback = lambda sock, name, ctx: sni_names.append(name)
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    receiver.sni_names = sni_names
    loopback_allowed.WEBHOOK_CA_BUNDLE = str(cert)
    loopback_allowed.WEBHOOK_REQUIRE_HTTPS = True
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver({HOST: ["127.0.0.1"]}))
    yield receiver
    receiver.stop()


def test_https_goes_to_the_checked_address_with_the_hosts_tls_name(org, tls_receiver):
    port = tls_receiver.server.server_address[1]
    subscribe(org, f"https://{HOST}:{port}/hook")
    publish()
    assert delivery_run(delivery_id=Delivery.objects.get().pk) == "succeeded"
    assert tls_receiver.sni_names == [HOST]
    assert tls_receiver.requests[0].headers["host"] == f"{HOST}:{port}"
    assert DeliveryAttempt.objects.get().address == "127.0.0.1"


def test_a_certificate_for_another_name_is_refused(org, tls_receiver, monkeypatch):
    port = tls_receiver.server.server_address[1]
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        fake_resolver({HOST: ["127.0.0.1"], "other.example.test": ["127.0.0.1"]}),
    )
    subscribe(org, f"https://other.example.test:{port}/hook")
    publish()
    assert delivery_run(delivery_id=Delivery.objects.get().pk) == "pending"
    attempt = DeliveryAttempt.objects.get()
    assert attempt.error_class == "tls" and tls_receiver.requests == []
