"""A real SMTP server for the tests (aiosmtpd on a free local port), with optional TLS and
authentication, and a self-signed certificate made with `cryptography`."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Delivered:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class MailSink:
    """The aiosmtpd handler: keeps every accepted message."""

    messages: list[Delivered] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        self.messages.append(
            Delivered(
                sender=str(envelope.mail_from),
                recipients=list(envelope.rcpt_tos),
                message=message,
                login=login,
            )
        )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Delivered]:
        return [m for m in self.messages if address in m.recipients]


class PasswordCheck:
    def __init__(self, login: str, password: str) -> None:
        self.login, self.password = login.encode(), password.encode()

    def __call__(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.login,
            self.password,
        )
        return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)


@dataclass
class SmtpServer:
    port: int
    sink: MailSink


@asynccontextmanager
async def smtp_server(port: int | None = None, **options: Any) -> AsyncIterator[SmtpServer]:
    """Serve SMTP on 127.0.0.1 until the block ends. `options` go to aiosmtpd (TLS, auth)."""
    sink = MailSink()
    port = port or free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, **options)
    await asyncio.to_thread(controller.start)
    try:
        yield SmtpServer(port, sink)
    finally:
        await asyncio.to_thread(controller.stop)


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def self_signed_certificate(directory: Path) -> Certificate:
    """A certificate for 127.0.0.1 and localhost, which is its own authority."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "finhub test SMTP")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)
