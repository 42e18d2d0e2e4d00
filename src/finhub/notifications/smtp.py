"""Delivering a message over SMTP with aiosmtplib, and building it from an `outbound_mail` row.

`FINHUB_SMTP_URL` names the server: `smtp://user:password@host:587` talks plain SMTP and
upgrades with STARTTLS whenever the server offers it; `smtps://…:465` uses TLS from the first
byte. `?ca_file=/path/ca.pem` trusts a private certificate authority.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from finhub.kit.db.engine import Row

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
SEND_TIMEOUT_SECONDS = 30.0


class MailTransport(Protocol):
    """Where messages go: SMTP in production, anything that takes a message in tests."""

    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpTransport:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    ca_file: str | None = None
    timeout: float = SEND_TIMEOUT_SECONDS

    @classmethod
    def from_url(cls, url: str) -> SmtpTransport:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("the SMTP URL must look like smtp://user:password@host:port")
        query = parse_qs(parts.query)
        return cls(
            hostname=parts.hostname,
            port=parts.port or DEFAULT_PORTS[parts.scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=parts.scheme == "smtps",
            ca_file=query["ca_file"][0] if "ca_file" in query else None,
        )

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.implicit_tls,
            # None: upgrade with STARTTLS when the server offers it.
            start_tls=False if self.implicit_tls else None,
            cert_bundle=self.ca_file,
            timeout=self.timeout,
        )

    def __repr__(self) -> str:  # never show the password in logs
        return f"SmtpTransport({self.hostname}:{self.port}, tls={self.implicit_tls})"


def build_message(mail: Row, mail_from: str) -> EmailMessage:
    """The message of an `outbound_mail` row. Its Message-ID comes from the row's id, so a
    retried delivery is recognisably the same message."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = mail["to_address"]
    message["Subject"] = mail["subject"]
    message["Date"] = format_datetime(mail["created_at"])
    message["Message-ID"] = f"<{mail['id']}@{_domain_of(mail_from)}>"
    message["X-Finhub-Tag"] = mail["tag"]
    message.set_content(mail["text_body"])
    if mail["html_body"]:
        message.add_alternative(mail["html_body"], subtype="html")
    return message


def _domain_of(address: str) -> str:
    _, email = parseaddr(address)
    _, _, domain = email.rpartition("@")
    return domain or "finhub.local"
