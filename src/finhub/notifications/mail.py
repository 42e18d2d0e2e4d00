"""Outbound mail: written to `outbound_mail` in the caller's transaction, delivered after commit
over SMTP (`FINHUB_SMTP_URL`), or kept in the local dev mailbox when no SMTP server is set."""

from __future__ import annotations

from finhub.config import Settings
from finhub.kit.db.engine import Connection, Database


class Mailer:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

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
        raise NotImplementedError

    def kick(self) -> None:
        """Deliver queued mail soon (call after the transaction that queued it commits)."""

    async def close(self) -> None:
        """Wait for deliveries in flight."""
