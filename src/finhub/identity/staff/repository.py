"""SQL for staff accounts (`staff_members`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from finhub.kit.db.engine import Connection

COLUMNS = "id, email, display_name, password_hash, roles, status, created_at, updated_at"


@dataclass(frozen=True, slots=True)
class StaffRow:
    id: str
    email: str
    display_name: str
    password_hash: str
    roles: list[str]
    status: str
    created_at: datetime
    updated_at: datetime


async def insert(
    conn: Connection,
    *,
    staff_id: str,
    email: str,
    display_name: str,
    password_hash: str,
    roles: list[str],
    now: datetime,
) -> StaffRow | None:
    """The new member, or None when the email address is taken."""
    cursor = await conn.execute(
        f"""
        INSERT INTO staff_members (id, email, email_normalized, display_name, password_hash,
                                   roles, created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (email_normalized) DO NOTHING
        RETURNING {COLUMNS}
        """,
        (staff_id, email, email.lower(), display_name, password_hash, roles, now, now),
    )
    row = await cursor.fetchone()
    return StaffRow(**row) if row else None


async def by_email(conn: Connection, email: str) -> StaffRow | None:
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM staff_members WHERE email_normalized = %s", (email.lower(),)
    )
    row = await cursor.fetchone()
    return StaffRow(**row) if row else None


async def get(conn: Connection, staff_id: str, *, lock: bool = False) -> StaffRow | None:
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM staff_members WHERE id = %s" + (" FOR UPDATE" if lock else ""),
        (staff_id,),
    )
    row = await cursor.fetchone()
    return StaffRow(**row) if row else None


async def page(conn: Connection, *, limit: int, starting_after: str | None) -> list[StaffRow]:
    cursor = await conn.execute(
        f"""
        SELECT {COLUMNS} FROM staff_members
         WHERE %(after)s::text IS NULL OR id > %(after)s
         ORDER BY id LIMIT %(limit)s
        """,
        {"after": starting_after, "limit": limit},
    )
    return [StaffRow(**row) async for row in cursor]


async def update(
    conn: Connection, staff_id: str, *, roles: list[str], status: str, now: datetime
) -> StaffRow:
    cursor = await conn.execute(
        f"UPDATE staff_members SET roles = %s, status = %s, updated_at = %s WHERE id = %s"
        f" RETURNING {COLUMNS}",
        (roles, status, now, staff_id),
    )
    row = await cursor.fetchone()
    assert row is not None
    return StaffRow(**row)


async def set_password(conn: Connection, staff_id: str, password_hash: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE staff_members SET password_hash = %s, updated_at = %s WHERE id = %s",
        (password_hash, now, staff_id),
    )
