"""All SQL of API keys. Every read is filtered by who asks: a person's own keys, or one
organisation's keys (the service checks the organisation permission first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from finhub.identity.api_keys.models import ApiKey, Mode, Network
from finhub.kit.db.engine import Connection

KEY_COLUMNS = """
    k.id, k.user_id, k.organization_id, k.name, k.mode, k.scopes, k.allowed_ips,
    k.secret_prefix, k.secret_last4, k.created_by, k.created_at, k.expires_at, k.last_used_at,
    k.rolled_at, k.previous_secret_expires_at, k.revoked_at
"""


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """What authentication needs about the key a presented secret belongs to."""

    id: str
    user_id: str | None
    organization_id: str | None
    mode: Mode
    scopes: list[str]
    allowed_ips: list[Network] | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    is_current_secret: bool  # False: the secret replaced by the last roll
    previous_secret_expires_at: datetime | None
    owner_status: str | None  # the owning person's account status; None for organisations


async def insert_key(
    conn: Connection,
    *,
    key_id: str,
    user_id: str | None,
    organization_id: str | None,
    name: str,
    mode: Mode,
    scopes: list[str],
    allowed_ips: list[Network] | None,
    secret_hash: bytes,
    secret_prefix: str,
    secret_last4: str,
    created_by: str,
    now: datetime,
    expires_at: datetime | None,
) -> ApiKey:
    cursor = await conn.execute(
        f"""
        INSERT INTO api_keys AS k (id, user_id, organization_id, name, mode, scopes, allowed_ips,
                                   secret_hash, secret_prefix, secret_last4, created_by,
                                   created_at, expires_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s::cidr[], %s, %s, %s, %s, %s, %s)
        RETURNING {KEY_COLUMNS}
        """,
        (
            key_id,
            user_id,
            organization_id,
            name,
            mode,
            scopes,
            _cidr_texts(allowed_ips),
            secret_hash,
            secret_prefix,
            secret_last4,
            created_by,
            now,
            expires_at,
        ),
    )
    return _key(await cursor.fetchone())


# Two unique indexes answer this (a BitmapOr of both): one lookup per authenticated request.
MATCH_SQL = """
    SELECT k.id, k.user_id, k.organization_id, k.mode, k.scopes, k.allowed_ips, k.expires_at,
           k.revoked_at, k.last_used_at, k.secret_hash = %(hash)s AS is_current_secret,
           k.previous_secret_expires_at, u.status AS owner_status
      FROM api_keys k
      LEFT JOIN users u ON u.id = k.user_id
     WHERE k.secret_hash = %(hash)s OR k.previous_secret_hash = %(hash)s
"""


async def match_secret(conn: Connection, secret_hash: bytes) -> SecretMatch | None:
    cursor = await conn.execute(MATCH_SQL, {"hash": secret_hash})
    row = await cursor.fetchone()
    return SecretMatch(**row) if row is not None else None


async def mark_used(
    conn: Connection, key_id: str, *, now: datetime, stale_before: datetime, ip: str | None
) -> None:
    """Record a use, unless one was recorded since `stale_before` (concurrent requests of one
    key then write once, not once each)."""
    await conn.execute(
        """
        UPDATE api_keys SET last_used_at = %(now)s, last_used_ip = %(ip)s
         WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < %(stale_before)s)
        """,
        {"now": now, "ip": ip, "id": key_id, "stale_before": stale_before},
    )


async def find_visible_key(
    conn: Connection, key_id: str, *, user_id: str, lock: bool = False
) -> ApiKey | None:
    """The person's own key, or an organisation's key (whose organisation the service must
    then authorise); any other id finds nothing."""
    cursor = await conn.execute(
        f"""
        SELECT {KEY_COLUMNS} FROM api_keys k
         WHERE k.id = %(id)s AND (k.user_id = %(user)s OR k.organization_id IS NOT NULL)
        {"FOR UPDATE" if lock else ""}
        """,
        {"id": key_id, "user": user_id},
    )
    row = await cursor.fetchone()
    return _key(row) if row is not None else None


async def list_keys(
    conn: Connection,
    *,
    user_id: str | None = None,
    organization_id: str | None = None,
    mode: Mode | None = None,
    limit: int,
    starting_after: str | None = None,
) -> list[ApiKey]:
    """One owner's keys (exactly one of `user_id`, `organization_id`), newest first."""
    if (user_id is None) == (organization_id is None):
        raise ValueError("list the keys of exactly one owner")
    owner_column = "k.user_id" if user_id is not None else "k.organization_id"
    cursor = await conn.execute(
        f"""
        SELECT {KEY_COLUMNS} FROM api_keys k
         WHERE {owner_column} = %(owner)s
           AND (%(mode)s::text IS NULL OR k.mode = %(mode)s)
           AND (%(after)s::text IS NULL OR k.id < %(after)s)
         ORDER BY k.id DESC
         LIMIT %(limit)s
        """,
        {
            "owner": user_id or organization_id,
            "mode": mode,
            "after": starting_after,
            "limit": limit,
        },
    )
    return [_key(row) async for row in cursor]


async def replace_secret(
    conn: Connection,
    key_id: str,
    *,
    secret_hash: bytes,
    secret_prefix: str,
    secret_last4: str,
    previous_secret_expires_at: datetime,
    now: datetime,
) -> ApiKey:
    """Install a new secret; the current one becomes the previous one, valid until
    `previous_secret_expires_at` (a secret older than that is forgotten)."""
    cursor = await conn.execute(
        f"""
        UPDATE api_keys k
           SET previous_secret_hash = k.secret_hash,
               previous_secret_expires_at = %(previous_until)s,
               secret_hash = %(hash)s, secret_prefix = %(prefix)s, secret_last4 = %(last4)s,
               rolled_at = %(now)s
         WHERE k.id = %(id)s
        RETURNING {KEY_COLUMNS}
        """,
        {
            "id": key_id,
            "hash": secret_hash,
            "prefix": secret_prefix,
            "last4": secret_last4,
            "previous_until": previous_secret_expires_at,
            "now": now,
        },
    )
    return _key(await cursor.fetchone())


async def mark_revoked(conn: Connection, key_id: str, *, now: datetime, by: str) -> ApiKey:
    cursor = await conn.execute(
        f"""
        UPDATE api_keys k SET revoked_at = %(now)s, revoked_by = %(by)s
         WHERE k.id = %(id)s
        RETURNING {KEY_COLUMNS}
        """,
        {"id": key_id, "now": now, "by": by},
    )
    return _key(await cursor.fetchone())


def _cidr_texts(networks: list[Network] | None) -> list[str] | None:
    return [str(network) for network in networks] if networks is not None else None


def _key(row: dict[str, Any] | None) -> ApiKey:
    assert row is not None, "the statement returns the row it wrote"
    return ApiKey(**row)
