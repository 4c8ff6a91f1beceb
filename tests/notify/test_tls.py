"""Mail over TLS: smtps:// (TLS from the first byte) and ?starttls=1, against aiosmtpd with a
certificate made here and trusted through SSL_CERT_FILE; an untrusted one is refused."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette

from app.config import Settings
from app.core.records import Owner
from app.notify.scheduler import Done, Notifier
from app.notify.subscriptions import Channel, Wanted, subscribe
from app.storage.models import DeliveryRow
from tests.dashboard.pages import ingest_known_data
from tests.notify.conftest import MONDAY, Mailbox
from tests.server_processes import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "usage-metrics test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture(params=["smtps", "starttls"])
def tls_mailbox(
    request: pytest.FixtureRequest, certificate: tuple[Path, Path]
) -> Iterator[tuple[Mailbox, str]]:
    box = Mailbox(free_port())
    context = _server_context(certificate)
    if request.param == "smtps":
        controller = Controller(
            box,
            hostname="127.0.0.1",
            port=box.port,
            ssl_context=context,
            server_hostname="127.0.0.1",
        )
        url = f"smtps://127.0.0.1:{box.port}"
    else:
        # The server refuses any mail before STARTTLS: a mail that arrives went through it.
        controller = Controller(
            box, hostname="127.0.0.1", port=box.port, tls_context=context, require_starttls=True
        )
        url = f"smtp://127.0.0.1:{box.port}?starttls=1"
    controller.start()
    try:
        yield box, url
    finally:
        controller.stop()


async def test_sends_over_tls_to_a_trusted_server(
    app: Starlette,
    client: httpx.AsyncClient,
    settings: Settings,
    tls_mailbox: tuple[Mailbox, str],
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    box, url = tls_mailbox
    await ingest_known_data(client)
    await subscribe(
        Owner("organization", "org1"), Channel.EMAIL, "o@org1.example", Wanted(weekly=True), MONDAY
    )

    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # OpenSSL reads it at each context
    assert await Notifier(replace(settings, smtp_url=url)).round() == Done(sent=1)
    assert [m["To"] for m in box.mails] == ["o@org1.example"]


async def test_refuses_a_server_whose_certificate_is_not_trusted(
    app: Starlette,
    client: httpx.AsyncClient,
    settings: Settings,
    tls_mailbox: tuple[Mailbox, str],
) -> None:
    box, url = tls_mailbox
    await ingest_known_data(client)
    await subscribe(
        Owner("organization", "org1"), Channel.EMAIL, "o@org1.example", Wanted(weekly=True), MONDAY
    )

    assert await Notifier(replace(settings, smtp_url=url)).round() == Done(failed=1)
    assert box.mails == []
    error = (await DeliveryRow.get()).error
    assert error.startswith(
        "SMTP server: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
