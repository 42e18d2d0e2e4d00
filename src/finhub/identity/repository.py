"""All SQL of people's accounts: users, consents, known devices and places.

Every query names the person it is about (`user_id`) or the normalised email it looks for, so
no function can reach another person's rows by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from finhub.kit.db.engine import Connection

USER_COLUMNS = """
    id, email, email_normalized, phone, display_name, password_hash, status, email_verified_at,
    kyc_tier, locale, home_currency, created_at, updated_at
"""


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    email_normalized: str
    phone: str | None
    display_name: str | None
    password_hash: str | None
    status: str
    email_verified_at: datetime | None
    kyc_tier: str
    locale: str
    home_currency: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Consent:
    id: str
    kind: str
    version: str
    granted: bool
    created_at: datetime


# --- users ------------------------------------------------------------------------------------


async def find_user_by_email(conn: Connection, email_normalized: str) -> User | None:
    cursor = await conn.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE email_normalized = %s", (email_normalized,)
    )
    row = await cursor.fetchone()
    return User(**row) if row else None


async def get_user(conn: Connection, user_id: str, *, for_update: bool = False) -> User | None:
    lock = " FOR UPDATE" if for_update else ""
    cursor = await conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s{lock}", (user_id,))
    row = await cursor.fetchone()
    return User(**row) if row else None


async def insert_user(
    conn: Connection,
    *,
    user_id: str,
    email: str,
    email_normalized: str,
    phone: str | None,
    display_name: str | None,
    password_hash: str,
    now: datetime,
) -> bool:
    """Create a person awaiting email verification; False if the email is already taken (a
    concurrent sign-up with the same address)."""
    cursor = await conn.execute(
        """
        INSERT INTO users (id, email, email_normalized, phone, display_name, password_hash,
                           status, created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, 'pending_verification', %s, %s)
        ON CONFLICT (email_normalized) DO NOTHING
        """,
        (user_id, email, email_normalized, phone, display_name, password_hash, now, now),
    )
    return cursor.rowcount == 1


async def mark_email_verified(conn: Connection, user_id: str, now: datetime) -> bool:
    """Verify the email and activate a pending account (a disabled one stays disabled)."""
    cursor = await conn.execute(
        """
        UPDATE users
           SET email_verified_at = coalesce(email_verified_at, %(now)s),
               status = CASE WHEN status = 'pending_verification' THEN 'active' ELSE status END,
               updated_at = %(now)s
         WHERE id = %(id)s
        """,
        {"id": user_id, "now": now},
    )
    return cursor.rowcount == 1


async def set_password_hash(
    conn: Connection, user_id: str, password_hash: str, now: datetime
) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = %s, updated_at = %s WHERE id = %s",
        (password_hash, now, user_id),
    )


async def update_profile(
    conn: Connection, user_id: str, changes: dict[str, Any], now: datetime
) -> None:
    """Change profile columns; `changes` keys come from `PROFILE_COLUMNS` only."""
    unknown = set(changes) - PROFILE_COLUMNS
    if unknown:
        raise ValueError(f"not profile columns: {sorted(unknown)}")
    if not changes:
        return
    assignments = ", ".join(f"{column} = %({column})s" for column in sorted(changes))
    await conn.execute(
        f"UPDATE users SET {assignments}, updated_at = %(now)s WHERE id = %(id)s",
        {**changes, "now": now, "id": user_id},
    )


PROFILE_COLUMNS = frozenset({"display_name", "locale", "home_currency", "phone"})


async def change_email(
    conn: Connection, user_id: str, *, email: str, email_normalized: str, now: datetime
) -> bool:
    """Switch to a verified new address; False when another account has taken it meanwhile."""
    try:
        async with conn.transaction():
            await conn.execute(
                """
                UPDATE users SET email = %s, email_normalized = %s, email_verified_at = %s,
                                 updated_at = %s
                 WHERE id = %s
                """,
                (email, email_normalized, now, now, user_id),
            )
    except psycopg.errors.UniqueViolation:
        return False
    return True


async def email_taken(conn: Connection, email_normalized: str) -> bool:
    cursor = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM users WHERE email_normalized = %s) AS taken",
        (email_normalized,),
    )
    row = await cursor.fetchone()
    return bool(row and row["taken"])


# --- consents ---------------------------------------------------------------------------------


async def insert_consent(
    conn: Connection,
    *,
    consent_id: str,
    user_id: str,
    kind: str,
    version: str,
    granted: bool,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO consents (id, user_id, kind, version, granted, ip, user_agent, created_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (consent_id, user_id, kind, version, granted, ip, user_agent, now),
    )


async def current_consents(conn: Connection, user_id: str) -> list[Consent]:
    """The newest record of each kind."""
    cursor = await conn.execute(
        """
        SELECT DISTINCT ON (kind) id, kind, version, granted, created_at
          FROM consents WHERE user_id = %s
         ORDER BY kind, created_at DESC, id DESC
        """,
        (user_id,),
    )
    return [Consent(**row) async for row in cursor]


# --- known devices and places -----------------------------------------------------------------


async def has_known_devices(conn: Connection, user_id: str) -> bool:
    cursor = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM known_devices WHERE user_id = %s) AS known", (user_id,)
    )
    row = await cursor.fetchone()
    return bool(row and row["known"])


async def is_known_device(conn: Connection, user_id: str, device_key: str) -> bool:
    cursor = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM known_devices WHERE user_id = %s AND device_key = %s)"
        " AS known",
        (user_id, device_key),
    )
    row = await cursor.fetchone()
    return bool(row and row["known"])


async def remember_device(
    conn: Connection, user_id: str, device_key: str, user_agent: str | None, now: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO known_devices (user_id, device_key, user_agent, first_seen_at, last_seen_at)
        VALUES (%(user)s, %(key)s, %(agent)s, %(now)s, %(now)s)
        ON CONFLICT (user_id, device_key) DO UPDATE
           SET last_seen_at = %(now)s, user_agent = coalesce(%(agent)s, known_devices.user_agent)
        """,
        {"user": user_id, "key": device_key, "agent": user_agent, "now": now},
    )


async def is_known_place(conn: Connection, user_id: str, network: str) -> bool:
    cursor = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM known_places WHERE user_id = %s AND network = %s::cidr)"
        " AS known",
        (user_id, network),
    )
    row = await cursor.fetchone()
    return bool(row and row["known"])


async def remember_place(conn: Connection, user_id: str, network: str, now: datetime) -> None:
    await conn.execute(
        """
        INSERT INTO known_places (user_id, network, first_seen_at, last_seen_at)
        VALUES (%(user)s, %(network)s::cidr, %(now)s, %(now)s)
        ON CONFLICT (user_id, network) DO UPDATE SET last_seen_at = %(now)s
        """,
        {"user": user_id, "network": network, "now": now},
    )
