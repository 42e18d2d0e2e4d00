"""SQL of support tickets; every read for a person is filtered by them, so another person's
ticket id finds nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from finhub.helpdesk.models import Message, Requester, Ticket
from finhub.kit.db.engine import Connection, Row

COLUMNS = """id, user_id, subject, category, status, message_count, created_at, updated_at,
    last_message_at, closed_at, closed_by"""
MESSAGE_COLUMNS = "id, ticket_id, author_type, author_id, body, created_at"


def _ticket(row: Row) -> Ticket:
    return Ticket(**row)


async def insert_ticket(conn: Connection, values: dict[str, Any]) -> Ticket:
    cursor = await conn.execute(
        f"""
        INSERT INTO support_tickets (id, user_id, subject, category, status, created_at,
                                     updated_at, last_message_at)
        VALUES (%(id)s, %(user_id)s, %(subject)s, %(category)s, 'open', %(now)s, %(now)s,
                %(now)s)
        RETURNING {COLUMNS}
        """,
        values,
    )
    row = await cursor.fetchone()
    assert row is not None
    return _ticket(row)


async def insert_message(conn: Connection, values: dict[str, Any]) -> Message:
    """Adds the message and counts it on its ticket."""
    cursor = await conn.execute(
        f"""
        INSERT INTO support_ticket_messages (id, ticket_id, author_type, author_id, body,
                                             created_at)
        VALUES (%(id)s, %(ticket_id)s, %(author_type)s, %(author_id)s, %(body)s, %(now)s)
        RETURNING {MESSAGE_COLUMNS}
        """,
        values,
    )
    row = await cursor.fetchone()
    assert row is not None
    await conn.execute(
        "UPDATE support_tickets SET message_count = message_count + 1 WHERE id = %s",
        (values["ticket_id"],),
    )
    return Message(**row)


async def find_for_user(
    conn: Connection, ticket_id: str, user_id: str, *, lock: bool = False
) -> Ticket | None:
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM support_tickets WHERE id = %s AND user_id = %s"
        + (" FOR UPDATE" if lock else ""),
        (ticket_id, user_id),
    )
    row = await cursor.fetchone()
    return _ticket(row) if row else None


async def find(conn: Connection, ticket_id: str, *, lock: bool = False) -> Ticket | None:
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM support_tickets WHERE id = %s" + (" FOR UPDATE" if lock else ""),
        (ticket_id,),
    )
    row = await cursor.fetchone()
    return _ticket(row) if row else None


async def list_tickets(
    conn: Connection,
    *,
    user_id: str | None,
    status: str | None,
    limit: int,
    starting_after: str | None,
) -> list[Ticket]:
    """Newest first; `user_id` None lists everyone's (for staff). Fetches `limit` rows."""
    cursor = await conn.execute(
        f"""
        SELECT {COLUMNS} FROM support_tickets
         WHERE (%(user)s::text IS NULL OR user_id = %(user)s)
           AND (%(status)s::text IS NULL OR status = %(status)s)
           AND (%(after)s::text IS NULL OR id < %(after)s)
         ORDER BY id DESC
         LIMIT %(limit)s
        """,
        {"user": user_id, "status": status, "after": starting_after, "limit": limit},
    )
    return [_ticket(row) for row in await cursor.fetchall()]


async def messages_of(conn: Connection, ticket_id: str) -> list[Message]:
    cursor = await conn.execute(
        f"""
        SELECT {MESSAGE_COLUMNS} FROM support_ticket_messages
         WHERE ticket_id = %s
         ORDER BY created_at, id
        """,
        (ticket_id,),
    )
    return [Message(**row) for row in await cursor.fetchall()]


async def update_status(
    conn: Connection,
    ticket_id: str,
    *,
    status: str,
    now: datetime,
    message_at: datetime | None = None,
    closed_by: str | None = None,
) -> Ticket:
    cursor = await conn.execute(
        f"""
        UPDATE support_tickets
           SET status = %(status)s, updated_at = %(now)s,
               last_message_at = coalesce(%(message_at)s, last_message_at),
               closed_at = CASE WHEN %(status)s = 'closed' THEN %(now)s END,
               closed_by = CASE WHEN %(status)s = 'closed' THEN %(closed_by)s END
         WHERE id = %(id)s
        RETURNING {COLUMNS}
        """,
        {
            "status": status,
            "now": now,
            "message_at": message_at,
            "closed_by": closed_by,
            "id": ticket_id,
        },
    )
    row = await cursor.fetchone()
    assert row is not None
    return _ticket(row)


async def lock_person(conn: Connection, user_id: str) -> None:
    """Serialises a person's new tickets until commit, so the daily cap can't be raced."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"support:{user_id}",)
    )


async def opened_since(conn: Connection, user_id: str, since: datetime) -> list[datetime]:
    """When the person's tickets opened after `since` were opened, oldest first."""
    cursor = await conn.execute(
        "SELECT created_at FROM support_tickets WHERE user_id = %s AND created_at > %s"
        " ORDER BY created_at",
        (user_id, since),
    )
    return [row["created_at"] for row in await cursor.fetchall()]


async def requesters(conn: Connection, user_ids: list[str]) -> dict[str, Requester]:
    cursor = await conn.execute(
        "SELECT id, email, display_name FROM users WHERE id = ANY(%s)", (user_ids,)
    )
    return {row["id"]: Requester(**row) for row in await cursor.fetchall()}
