"""Single-use tokens behind emailed links and multi-step flows.

A token is a 256-bit secret behind the prefix `fht_`; the table keeps
its SHA-256, the purpose, the subject and an expiry. `consume` marks it used in the same
statement that checks it, so two concurrent uses can't both succeed and a replay always fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from finhub.errors import FinhubError
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.secrets import new_secret, secret_hash


class InvalidToken(FinhubError):
    status = 400
    code = "invalid_token"
    title = "Invalid or expired token"


@dataclass(frozen=True, slots=True)
class OneTimeToken:
    id: str
    purpose: str
    subject_id: str
    data: dict[str, Any]
    expires_at: datetime


async def issue(
    conn: Connection,
    *,
    purpose: str,
    subject_id: str,
    ttl: timedelta,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> str:
    secret = new_secret("fht_")
    await conn.execute(
        """
        INSERT INTO one_time_tokens (id, purpose, subject_id, token_hash, data, created_at,
                                     expires_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        """,
        (
            new_id("tok"),
            purpose,
            subject_id,
            secret_hash(secret),
            Jsonb(data or {}),
            now,
            now + ttl,
        ),
    )
    return secret


async def consume(conn: Connection, *, purpose: str, token: str, now: datetime) -> OneTimeToken:
    """Use the token once; unknown, used, expired or other-purpose tokens all answer the same."""
    cursor = await conn.execute(
        """
        UPDATE one_time_tokens SET used_at = %s
         WHERE token_hash = %s AND purpose = %s AND used_at IS NULL AND expires_at > %s
        RETURNING id, purpose, subject_id, data, expires_at
        """,
        (now, secret_hash(token), purpose, now),
    )
    row = await cursor.fetchone()
    if row is None:
        raise InvalidToken("The token is invalid, expired or already used.")
    return OneTimeToken(**row)


async def peek(conn: Connection, *, purpose: str, token: str, now: datetime) -> OneTimeToken:
    """Check a token without using it (e.g. to show an invitation before it is accepted)."""
    cursor = await conn.execute(
        """
        SELECT id, purpose, subject_id, data, expires_at FROM one_time_tokens
         WHERE token_hash = %s AND purpose = %s AND used_at IS NULL AND expires_at > %s
        """,
        (secret_hash(token), purpose, now),
    )
    row = await cursor.fetchone()
    if row is None:
        raise InvalidToken("The token is invalid, expired or already used.")
    return OneTimeToken(**row)


async def revoke_all(conn: Connection, *, purpose: str, subject_id: str, now: datetime) -> None:
    """Retire every open token of a purpose (a new reset link supersedes older ones)."""
    await conn.execute(
        "UPDATE one_time_tokens SET used_at = %s"
        " WHERE subject_id = %s AND purpose = %s AND used_at IS NULL",
        (now, subject_id, purpose),
    )
