"""Outbound mail against a real SMTP server: delivery after commit, retries with backoff,
giving up, TLS, credentials, one send per message with several deliverers, and the dev mailbox.

Each test has its own clock and its own recipients, so mail other tests left queued doesn't
disturb what it asserts.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.ids import new_id
from finhub.notifications.mail import DeliveryPolicy, Mailer, deliver_due
from finhub.notifications.smtp import SmtpTransport
from tests.notifications.smtp_server import (
    PasswordCheck,
    free_port,
    self_signed_certificate,
    smtp_server,
)

SENDER = "finhub <no-reply@mail.finhub.test>"


def smtp_settings(url: str | None) -> Settings:
    return Settings(smtp_url=url, mail_from=SENDER)


def recipient() -> str:
    return f"{new_id('usr').lower()}@example.com"


async def queue(mailer: Mailer, db: Database, to: str, **fields: Any) -> str:
    message = {"subject": "Confirm your email", "text": "Click http://x/verify?t=1"} | fields
    async with db.transaction() as conn:
        return await mailer.queue(conn, to=to, tag="auth.verify_email", **message)


async def stored(db: Database, mail_id: str) -> dict[str, Any]:
    async with db.connection() as conn:
        cursor = await conn.execute("SELECT * FROM outbound_mail WHERE id = %s", (mail_id,))
        row = await cursor.fetchone()
    assert row is not None
    return row


# --- delivery ---------------------------------------------------------------------------------


async def test_mail_goes_out_over_smtp_after_commit(db: Database) -> None:
    async with smtp_server() as server:
        mailer = Mailer(db, smtp_settings(f"smtp://127.0.0.1:{server.port}"), clock=OffsetClock())
        to = recipient()
        mail_id = await queue(
            mailer, db, to, html="<p>Click <a href='http://x/verify?t=1'>here</a></p>"
        )
        assert (await stored(db, mail_id))["status"] == "queued"
        mailer.kick()
        await mailer.close()
        [delivered] = server.sink.to(to)

    assert delivered.sender == "no-reply@mail.finhub.test"
    assert delivered.recipients == [to]
    message = delivered.message
    assert message["From"] == SENDER
    assert message["To"] == to
    assert message["Subject"] == "Confirm your email"
    assert message["Message-ID"] == f"<{mail_id}@mail.finhub.test>"
    assert message["X-Finhub-Tag"] == "auth.verify_email"
    assert message["Date"]
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().strip() == "Click http://x/verify?t=1"
    assert "<a href='http://x/verify?t=1'>" in html.get_content()
    row = await stored(db, mail_id)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("sent", 1, None)
    assert row["sent_at"] is not None


async def test_a_kick_during_a_delivery_pass_is_not_lost(db: Database) -> None:
    async with smtp_server() as server:
        mailer = Mailer(db, smtp_settings(f"smtp://127.0.0.1:{server.port}"), clock=OffsetClock())
        first, second = recipient(), recipient()
        await queue(mailer, db, first)
        mailer.kick()
        await queue(mailer, db, second)
        mailer.kick()
        await mailer.close()
        assert len(server.sink.to(first)) == 1
        assert len(server.sink.to(second)) == 1


async def test_a_refused_connection_is_retried_with_backoff_then_given_up(db: Database) -> None:
    clock = OffsetClock()
    settings = smtp_settings(f"smtp://127.0.0.1:{free_port()}")  # nothing listens there
    transport = SmtpTransport.from_url(str(settings.smtp_url))
    policy = DeliveryPolicy(max_attempts=3, first_delay=timedelta(seconds=30))
    mailer = Mailer(db, settings, clock=clock, policy=policy)
    mail_id = await queue(mailer, db, recipient())

    async def attempt() -> dict[str, Any]:
        await deliver_due(db, settings, transport, clock, policy)
        return await stored(db, mail_id)

    first = await attempt()
    assert (first["status"], first["attempts"]) == ("queued", 1)
    assert "connect" in first["last_error"].lower()
    wait = first["next_attempt_at"] - clock.now()
    assert timedelta(seconds=29) < wait <= timedelta(seconds=30)

    assert (await attempt())["attempts"] == 1  # not due yet: no attempt
    clock.advance(timedelta(seconds=31))
    second = await attempt()
    assert (second["status"], second["attempts"]) == ("queued", 2)
    wait = second["next_attempt_at"] - clock.now()
    assert timedelta(seconds=59) < wait <= timedelta(seconds=60)

    clock.advance(timedelta(seconds=61))
    third = await attempt()
    assert (third["status"], third["attempts"], third["next_attempt_at"]) == ("failed", 3, None)
    assert third["last_error"]
    clock.advance(timedelta(hours=2))
    assert (await attempt())["attempts"] == 3


async def test_mail_is_delivered_once_the_server_is_back(db: Database) -> None:
    clock = OffsetClock()
    port = free_port()
    settings = smtp_settings(f"smtp://127.0.0.1:{port}")
    transport = SmtpTransport.from_url(f"smtp://127.0.0.1:{port}")
    mailer = Mailer(db, settings, clock=clock)
    to = recipient()
    mail_id = await queue(mailer, db, to)
    await deliver_due(db, settings, transport, clock)
    assert (await stored(db, mail_id))["attempts"] == 1

    async with smtp_server(port) as server:
        clock.advance(timedelta(seconds=31))
        await deliver_due(db, settings, transport, clock)
        [delivered] = server.sink.to(to)
    assert delivered.message["Message-ID"] == f"<{mail_id}@mail.finhub.test>"
    row = await stored(db, mail_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)


async def test_several_deliverers_send_each_message_once(db: Database) -> None:
    """Two deliverers (as two processes would) race over the same queue."""
    async with smtp_server() as server:
        settings = smtp_settings(f"smtp://127.0.0.1:{server.port}")
        transport = SmtpTransport.from_url(str(settings.smtp_url))
        clock = OffsetClock()
        mailer = Mailer(db, settings, clock=clock)
        addresses = [recipient() for _ in range(30)]
        for address in addresses:
            await queue(mailer, db, address)
        policy = DeliveryPolicy(batch=5)
        await asyncio.gather(
            deliver_due(db, settings, transport, clock, policy),
            deliver_due(db, settings, transport, clock, policy),
            deliver_due(db, settings, transport, clock, policy),
        )
        counts = [len(server.sink.to(address)) for address in addresses]
    assert counts == [1] * len(addresses)


async def test_credentials_come_from_the_url(db: Database) -> None:
    auth: dict[str, Any] = {
        "authenticator": PasswordCheck("mailer", "p@ss word"),
        "auth_require_tls": False,
    }
    async with smtp_server(**auth) as server:
        good = smtp_settings(f"smtp://mailer:p%40ss%20word@127.0.0.1:{server.port}")
        mailer = Mailer(db, good, clock=OffsetClock())
        to = recipient()
        mail_id = await queue(mailer, db, to)
        mailer.kick()
        await mailer.close()
        [delivered] = server.sink.to(to)
        assert delivered.login == "mailer"
        assert (await stored(db, mail_id))["status"] == "sent"

        wrong = smtp_settings(f"smtp://mailer:guess@127.0.0.1:{server.port}")
        refused = Mailer(db, wrong, clock=OffsetClock())
        refused_id = await queue(refused, db, recipient())
        refused.kick()
        await refused.close()
    row = await stored(db, refused_id)
    assert (row["status"], row["attempts"]) == ("queued", 1)
    assert "535" in row["last_error"] or "auth" in row["last_error"].lower()


async def test_starttls_is_used_when_the_server_offers_it(db: Database, tmp_path: Path) -> None:
    certificate = self_signed_certificate(tmp_path)
    tls: dict[str, Any] = {"tls_context": certificate.server_context(), "require_starttls": True}
    async with smtp_server(**tls) as server:
        url = f"smtp://127.0.0.1:{server.port}?ca_file={certificate.cert_file}"
        mailer = Mailer(db, smtp_settings(url), clock=OffsetClock())
        to = recipient()
        mail_id = await queue(mailer, db, to)
        mailer.kick()
        await mailer.close()
        assert len(server.sink.to(to)) == 1
    assert (await stored(db, mail_id))["status"] == "sent"


async def test_smtps_speaks_tls_from_the_start(db: Database, tmp_path: Path) -> None:
    certificate = self_signed_certificate(tmp_path)
    async with smtp_server(ssl_context=certificate.server_context()) as server:
        trusted = f"smtps://127.0.0.1:{server.port}?ca_file={certificate.cert_file}"
        mailer = Mailer(db, smtp_settings(trusted), clock=OffsetClock())
        to = recipient()
        mail_id = await queue(mailer, db, to)
        mailer.kick()
        await mailer.close()
        assert len(server.sink.to(to)) == 1
        assert (await stored(db, mail_id))["status"] == "sent"

        untrusted = Mailer(
            db, smtp_settings(f"smtps://127.0.0.1:{server.port}"), clock=OffsetClock()
        )
        refused_id = await queue(untrusted, db, recipient())
        untrusted.kick()
        await untrusted.close()
    row = await stored(db, refused_id)
    assert (row["status"], row["attempts"]) == ("queued", 1)
    assert "certificate" in row["last_error"].lower()


def test_smtp_urls() -> None:
    plain = SmtpTransport.from_url("smtp://mail.example.com")
    assert (plain.hostname, plain.port, plain.implicit_tls, plain.username) == (
        "mail.example.com",
        25,
        False,
        None,
    )
    secure = SmtpTransport.from_url("smtps://u%40x:p%3Aw@mail.example.com")
    assert (secure.port, secure.implicit_tls, secure.username, secure.password) == (
        465,
        True,
        "u@x",
        "p:w",
    )
    assert "p:w" not in repr(secure)
    for bad in ("http://mail.example.com", "smtp://", "mail.example.com:25"):
        with pytest.raises(ValueError, match="SMTP URL"):
            SmtpTransport.from_url(bad)


# --- the dev mailbox (no SMTP server) ---------------------------------------------------------


async def test_without_smtp_mail_is_kept_in_the_dev_mailbox(db: Database) -> None:
    mailer = Mailer(db, smtp_settings(None), clock=OffsetClock())
    mail_id = await queue(mailer, db, recipient())
    mailer.kick()
    await mailer.close()
    row = await stored(db, mail_id)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("kept", 0, None)


async def test_mail_left_queued_joins_the_mailbox_once_smtp_is_unset(db: Database) -> None:
    clock = OffsetClock()
    was_configured = Mailer(db, smtp_settings("smtp://127.0.0.1:1"), clock=clock)
    mail_id = await queue(was_configured, db, recipient())
    assert (await stored(db, mail_id))["status"] == "queued"
    await deliver_due(db, smtp_settings(None), None, clock)
    assert (await stored(db, mail_id))["status"] == "kept"


async def test_a_line_break_in_a_header_is_refused(db: Database) -> None:
    mailer = Mailer(db, smtp_settings(None))
    to = recipient()
    async with db.connection() as conn:
        for fields in (
            {"to": to, "subject": "Hi\r\nBcc: victim@example.com", "tag": "test.mail"},
            {"to": f"{to}\r\nBcc: victim@example.com", "subject": "Hi", "tag": "test.mail"},
            {"to": "not-an-address", "subject": "Hi", "tag": "test.mail"},
            {"to": to, "subject": "Hi", "tag": "Not A Tag"},
        ):
            with pytest.raises(ValueError, match=r"address|subject|tag"):
                await mailer.queue(conn, text="body", **fields)
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM outbound_mail WHERE to_address LIKE %s", (to + "%",)
        )
        row = await cursor.fetchone()
    assert row is not None
    assert row["n"] == 0
