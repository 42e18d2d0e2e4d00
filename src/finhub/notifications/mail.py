"""Outbound mail: written to `outbound_mail` in the caller's transaction, delivered after commit
over SMTP (`FINHUB_SMTP_URL`), or kept in the local dev mailbox when no SMTP server is set.

Delivery claims due rows with `FOR UPDATE SKIP LOCKED` and a lease, so any number of API and
worker processes can deliver side by side without sending a message twice. A failed attempt is
retried with exponential backoff until `DeliveryPolicy.max_attempts`, then marked `failed`.
The API process delivers right after a request commits (`kick`); the periodic job
(`notifications.deliver_mail`) picks up retries and anything a stopped process left behind.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

from finhub.config import Settings
from finhub.errors import NotFound
from finhub.kit.clock import Clock, SystemClock
from finhub.kit.db.engine import Connection, Database, Row
from finhub.kit.ids import new_id
from finhub.kit.logging import get_logger
from finhub.notifications import repository
from finhub.notifications.smtp import MailTransport, SmtpTransport, build_message

log = get_logger(__name__)

ADDRESS = re.compile(r"^[^\s@]+@[^\s@]+$")
TAG = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard to try: 8 attempts over about an hour by default."""

    max_attempts: int = 8
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=5)  # a claimed row is not retried before this
    batch: int = 50

    def delay_after(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, 4 min, …"""
        doublings = min(max(attempts - 1, 0), 30)
        return min(self.first_delay * (1 << doublings), self.max_delay)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    kept: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            self.sent + other.sent,
            self.retrying + other.retrying,
            self.failed + other.failed,
            self.kept + other.kept,
        )


def transport_for(settings: Settings) -> MailTransport | None:
    """SMTP when `smtp_url` is set; None means mail is kept in the dev mailbox."""
    return SmtpTransport.from_url(settings.smtp_url) if settings.smtp_url else None


class Mailer:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Clock | None = None,
        transport: MailTransport | None = None,
        policy: DeliveryPolicy | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.transport = transport or transport_for(settings)
        self.policy = policy or DeliveryPolicy()
        self._running: asyncio.Task[None] | None = None
        self._kicked_again = False

    async def queue(
        self,
        conn: Connection,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        tag: str,
    ) -> str:
        """Queue a message inside the caller's transaction; returns its id (`mail_…`)."""
        _check_headers(to, subject, tag)
        mail_id = new_id("mail")
        now = self.clock.now()
        delivering = self.transport is not None
        await repository.insert_mail(
            conn,
            {
                "id": mail_id,
                "to_address": to,
                "subject": subject,
                "text_body": text,
                "html_body": html,
                "tag": tag,
                "status": "queued" if delivering else "kept",
                "next_attempt_at": now if delivering else None,
                "created_at": now,
            },
        )
        return mail_id

    def kick(self) -> None:
        """Deliver queued mail soon (call after the transaction that queued it commits)."""
        if self.transport is None:
            return
        if self._running is not None and not self._running.done():
            self._kicked_again = True  # the running pass may have claimed before this commit
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (a CLI command): the periodic job delivers it
        self._running = loop.create_task(self._deliver_until_idle(), name="finhub-mail")

    async def close(self) -> None:
        """Wait for deliveries in flight."""
        if self._running is not None:
            with suppress(Exception):
                await self._running

    async def _deliver_until_idle(self) -> None:
        while True:
            self._kicked_again = False
            try:
                await deliver_due(self.db, self.settings, self.transport, self.clock, self.policy)
            except Exception as error:  # the periodic job will try again
                log.error("mail delivery pass failed", error=repr(error))
                return
            if not self._kicked_again:
                return


def _check_headers(to: str, subject: str, tag: str) -> None:
    """Refuse what would corrupt the message's headers (a line break is header injection)."""
    if not ADDRESS.match(to) or len(to) > 320:
        raise ValueError(f"not a deliverable address: {to!r}")
    if "\r" in subject or "\n" in subject or len(subject) > 998:
        raise ValueError("a mail subject is one line of at most 998 characters")
    if not TAG.match(tag):
        raise ValueError(f"mail tag {tag!r} is not lower_snake_case")


async def deliver_due(
    db: Database,
    settings: Settings,
    transport: MailTransport | None,
    clock: Clock,
    policy: DeliveryPolicy | None = None,
) -> DeliveryReport:
    """Deliver every message that is due now, batch by batch; with no transport, move queued
    mail into the dev mailbox."""
    policy = policy or DeliveryPolicy()
    if transport is None:
        async with db.connection() as conn:
            return DeliveryReport(kept=await repository.keep_queued_mail(conn))
    total = DeliveryReport()
    while True:
        now = clock.now()
        async with db.connection() as conn:
            claimed = await repository.claim_due_mail(
                conn, now=now, lease_until=now + policy.lease, limit=policy.batch
            )
        for mail in claimed:
            total += await _attempt(db, settings, transport, clock, policy, mail)
        if len(claimed) < policy.batch:
            return total


async def _attempt(
    db: Database,
    settings: Settings,
    transport: MailTransport,
    clock: Clock,
    policy: DeliveryPolicy,
    mail: Row,
) -> DeliveryReport:
    attempt = mail["attempts"]
    try:
        await transport.send(build_message(mail, settings.mail_from))
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"[:MAX_ERROR]
        async with db.connection() as conn:
            if attempt >= policy.max_attempts:
                await repository.mark_failed(conn, mail["id"], attempt, reason)
                log.warning("mail given up", mail_id=mail["id"], attempts=attempt, error=reason)
                return DeliveryReport(failed=1)
            retry_at = clock.now() + policy.delay_after(attempt)
            await repository.mark_retry(conn, mail["id"], attempt, retry_at, reason)
        log.info("mail delivery failed; will retry", mail_id=mail["id"], attempts=attempt)
        return DeliveryReport(retrying=1)
    async with db.connection() as conn:
        await repository.mark_sent(conn, mail["id"], attempt, clock.now())
    return DeliveryReport(sent=1)


# --- reading the mailbox (the dev mailbox API and `finhub mail`) -------------------------------


class MailNotFound(NotFound):
    code = "mail_not_found"
    title = "No such message"


async def list_mail(
    conn: Connection,
    where: repository.MailFilter,
    *,
    limit: int,
    starting_after: str | None,
) -> list[Row]:
    """Messages of any status, newest first."""
    return await repository.list_mail(conn, where, limit=limit, starting_after=starting_after)


async def get_mail(conn: Connection, mail_id: str) -> Row:
    row = await repository.get_mail(conn, mail_id)
    if row is None:
        raise MailNotFound("No message has this id.")
    return row
