"""All SQL of outbound mail and the in-app inbox.

Inbox queries always filter by the person, so another person's notification id finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from finhub.kit.db.engine import Connection, Row
from finhub.kit.jsonutil import dumps

MAIL_SUMMARY_COLUMNS = (
    "id, to_address, subject, tag, status, attempts, next_attempt_at, last_error, created_at, "
    "sent_at"
)
MAIL_COLUMNS = MAIL_SUMMARY_COLUMNS + ", text_body, html_body"
NOTIFICATION_COLUMNS = "id, user_id, kind, title, body, data, created_at, read_at"


# --- outbound mail ----------------------------------------------------------------------------


async def insert_mail(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(
        """
        INSERT INTO outbound_mail (id, to_address, subject, text_body, html_body, tag, status,
                                   next_attempt_at, created_at)
        VALUES (%(id)s, %(to_address)s, %(subject)s, %(text_body)s, %(html_body)s, %(tag)s,
                %(status)s, %(next_attempt_at)s, %(created_at)s)
        """,
        values,
    )


async def claim_due_mail(
    conn: Connection, *, now: datetime, lease_until: datetime, limit: int
) -> list[Row]:
    """Take up to `limit` due messages for one attempt each. Rows another process is claiming
    are skipped, and a claimed row is not due again until `lease_until`, so no two senders
    attempt the same message at once."""
    cursor = await conn.execute(
        f"""
        UPDATE outbound_mail SET attempts = attempts + 1, next_attempt_at = %(lease_until)s
        WHERE id IN (
            SELECT id FROM outbound_mail
            WHERE status = 'queued' AND next_attempt_at <= %(now)s
            ORDER BY next_attempt_at, id
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        )
        RETURNING {MAIL_COLUMNS}
        """,
        {"now": now, "lease_until": lease_until, "limit": limit},
    )
    return await cursor.fetchall()


async def mark_sent(conn: Connection, mail_id: str, attempt: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE outbound_mail SET status = 'sent', sent_at = %s, next_attempt_at = NULL, "
        "last_error = NULL WHERE id = %s AND status = 'queued' AND attempts = %s",
        (now, mail_id, attempt),
    )


async def mark_retry(
    conn: Connection, mail_id: str, attempt: int, next_attempt_at: datetime, error: str
) -> None:
    await conn.execute(
        "UPDATE outbound_mail SET next_attempt_at = %s, last_error = %s "
        "WHERE id = %s AND status = 'queued' AND attempts = %s",
        (next_attempt_at, error, mail_id, attempt),
    )


async def mark_failed(conn: Connection, mail_id: str, attempt: int, error: str) -> None:
    await conn.execute(
        "UPDATE outbound_mail SET status = 'failed', next_attempt_at = NULL, last_error = %s "
        "WHERE id = %s AND status = 'queued' AND attempts = %s",
        (error, mail_id, attempt),
    )


async def keep_queued_mail(conn: Connection) -> int:
    """With no SMTP server, mail still queued (from a time one was set) joins the mailbox."""
    cursor = await conn.execute(
        "UPDATE outbound_mail SET status = 'kept', next_attempt_at = NULL WHERE status = 'queued'"
    )
    return cursor.rowcount


@dataclass(frozen=True, slots=True)
class MailFilter:
    to_address: str | None = None
    tag: str | None = None
    status: str | None = None


async def list_mail(
    conn: Connection, where: MailFilter, *, limit: int, starting_after: str | None
) -> list[Row]:
    """Newest first (ids sort by time)."""
    clauses: list[str] = []
    params: list[Any] = []
    if where.to_address is not None:
        clauses.append("lower(to_address) = lower(%s)")
        params.append(where.to_address)
    if where.tag is not None:
        clauses.append("tag = %s")
        params.append(where.tag)
    if where.status is not None:
        clauses.append("status = %s")
        params.append(where.status)
    if starting_after is not None:
        clauses.append("id < %s")
        params.append(starting_after)
    sql = f"SELECT {MAIL_SUMMARY_COLUMNS} FROM outbound_mail"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY id DESC LIMIT %s"
    cursor = await conn.execute(sql, [*params, limit])
    return await cursor.fetchall()


async def get_mail(conn: Connection, mail_id: str) -> Row | None:
    cursor = await conn.execute(
        f"SELECT {MAIL_COLUMNS} FROM outbound_mail WHERE id = %s", (mail_id,)
    )
    return await cursor.fetchone()


# --- the inbox --------------------------------------------------------------------------------


async def insert_notification(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(
        """
        INSERT INTO notifications (id, user_id, kind, title, body, data)
        VALUES (%(id)s, %(user_id)s, %(kind)s, %(title)s, %(body)s, %(data)s)
        """,
        {**values, "data": Jsonb(values["data"], dumps=lambda v: dumps(v).decode())},
    )


async def list_notifications(
    conn: Connection,
    user_id: str,
    *,
    unread_only: bool,
    limit: int,
    starting_after: str | None,
) -> list[Row]:
    clauses = ["user_id = %s"]
    params: list[Any] = [user_id]
    if unread_only:
        clauses.append("read_at IS NULL")
    if starting_after is not None:
        clauses.append("id < %s")
        params.append(starting_after)
    cursor = await conn.execute(
        f"SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE {' AND '.join(clauses)} "
        "ORDER BY id DESC LIMIT %s",
        [*params, limit],
    )
    return await cursor.fetchall()


async def mark_notification_read(
    conn: Connection, user_id: str, notification_id: str, now: datetime
) -> Row | None:
    """The notification, read (keeping the first `read_at`); None if it isn't theirs."""
    cursor = await conn.execute(
        f"""
        UPDATE notifications SET read_at = coalesce(read_at, %s)
        WHERE id = %s AND user_id = %s
        RETURNING {NOTIFICATION_COLUMNS}
        """,
        (now, notification_id, user_id),
    )
    return await cursor.fetchone()


async def mark_all_notifications_read(conn: Connection, user_id: str, now: datetime) -> int:
    cursor = await conn.execute(
        "UPDATE notifications SET read_at = %s WHERE user_id = %s AND read_at IS NULL",
        (now, user_id),
    )
    return cursor.rowcount


async def count_unread(conn: Connection, user_id: str) -> int:
    cursor = await conn.execute(
        "SELECT count(*) AS n FROM notifications WHERE user_id = %s AND read_at IS NULL",
        (user_id,),
    )
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0
