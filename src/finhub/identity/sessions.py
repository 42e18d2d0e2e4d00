"""Sessions: one per signed-in device, for people and staff alike.

The session token is the credential. Browsers hold it in an HttpOnly cookie (and send the
session's CSRF token in `X-CSRF-Token` on every state-changing request); API clients send it as
`Authorization: Bearer fhs_…`. Sessions end after `session_idle_minutes` without use and
`session_max_hours` after sign-in, and can be revoked one by one or all at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi.responses import Response

from finhub.config import Settings
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.jsonutil import dumps
from finhub.kit.secrets import new_secret, secret_hash

SESSION_COOKIE = "fh_session"
CSRF_HEADER = "x-csrf-token"
TOKEN_PREFIX = "fhs_"  # noqa: S105 (a prefix, not a secret)
# Writing `last_seen_at` on every request would turn each read into a write; a minute of
# imprecision in the idle timeout is the price.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class NewSession:
    id: str
    token: str
    csrf_token: str
    aal: int
    created_at: datetime
    expires_at: datetime
    idle_expires_at: datetime


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    aal: int
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


async def start_session(
    conn: Connection,
    settings: Settings,
    *,
    now: datetime,
    aal: int,
    user_id: str | None = None,
    staff_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    device_id: str | None = None,
) -> NewSession:
    """Open a session. `aal` 2 means a second factor (or a passkey) was used, which also counts
    as a fresh step-up."""
    token = new_secret(TOKEN_PREFIX)
    csrf_token = secrets.token_urlsafe(32)
    session_id = new_id("ses")
    expires_at = now + timedelta(hours=settings.session_max_hours)
    idle_expires_at = min(expires_at, now + timedelta(minutes=settings.session_idle_minutes))
    await conn.execute(
        """
        INSERT INTO sessions (id, token_hash, user_id, staff_id, aal, stepped_up_at, csrf_token,
                              ip, user_agent, device_id, created_at, last_seen_at,
                              idle_expires_at, expires_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            session_id,
            secret_hash(token),
            user_id,
            staff_id,
            aal,
            now if aal >= 2 else None,
            csrf_token,
            ip,
            (user_agent or "")[:512] or None,
            device_id,
            now,
            now,
            idle_expires_at,
            expires_at,
        ),
    )
    return NewSession(session_id, token, csrf_token, aal, now, expires_at, idle_expires_at)


def session_payload(session: NewSession) -> dict[str, Any]:
    return {
        "object": "session",
        "id": session.id,
        "access_token": session.token,
        "token_type": "Bearer",
        "csrf_token": session.csrf_token,
        "aal": session.aal,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        "idle_expires_at": session.idle_expires_at,
    }


def session_response(session: NewSession, settings: Settings, status: int = 200) -> Response:
    """The sign-in answer: the token in the body for API clients and in a cookie for browsers."""
    response = Response(dumps(session_payload(session)), status, media_type="application/json")
    set_session_cookie(response, session, settings)
    return response


def set_session_cookie(response: Response, session: NewSession, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=settings.session_max_hours * 3600,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.cookie_secure, httponly=True, samesite="lax"
    )


LOOKUP_SQL = """
    SELECT s.id, s.user_id, s.staff_id, s.aal, s.stepped_up_at, s.csrf_token, s.last_seen_at,
           s.expires_at, u.status AS user_status, st.status AS staff_status,
           st.roles AS staff_roles
      FROM sessions s
      LEFT JOIN users u ON u.id = s.user_id
      LEFT JOIN staff_members st ON st.id = s.staff_id
     WHERE s.token_hash = %s AND s.revoked_at IS NULL
       AND s.expires_at > %s AND s.idle_expires_at > %s
"""


async def find_live_session(conn: Connection, token: str, now: datetime) -> dict[str, Any] | None:
    cursor = await conn.execute(LOOKUP_SQL, (secret_hash(token), now, now))
    return await cursor.fetchone()


async def touch(conn: Connection, settings: Settings, row: dict[str, Any], now: datetime) -> None:
    """Slide the idle timeout, at most once a minute per session."""
    if now - row["last_seen_at"] < TOUCH_EVERY:
        return
    idle = now + timedelta(minutes=settings.session_idle_minutes)
    await conn.execute(
        "UPDATE sessions SET last_seen_at = %s, idle_expires_at = least(%s, expires_at)"
        " WHERE id = %s",
        (now, idle, row["id"]),
    )


async def mark_second_factor(conn: Connection, session_id: str, now: datetime) -> None:
    """A second factor was just proven on this session: it is aal 2 and stepped up."""
    await conn.execute(
        "UPDATE sessions SET aal = 2, stepped_up_at = %s WHERE id = %s", (now, session_id)
    )


# Owners are given by id: ids are prefixed (`usr_`, `stf_`), so one can't match both columns.


async def list_sessions(conn: Connection, now: datetime, owner_id: str) -> list[SessionInfo]:
    cursor = await conn.execute(
        """
        SELECT id, aal, host(ip) AS ip, user_agent, created_at, last_seen_at, expires_at
          FROM sessions
         WHERE (user_id = %(owner)s OR staff_id = %(owner)s)
           AND revoked_at IS NULL AND expires_at > %(now)s AND idle_expires_at > %(now)s
         ORDER BY created_at DESC
        """,
        {"owner": owner_id, "now": now},
    )
    return [SessionInfo(**row) async for row in cursor]


async def revoke(conn: Connection, session_id: str, now: datetime, owner_id: str) -> bool:
    """Revoke one of the owner's sessions; False when the owner has no such live session."""
    cursor = await conn.execute(
        "UPDATE sessions SET revoked_at = %(now)s WHERE id = %(id)s"
        " AND (user_id = %(owner)s OR staff_id = %(owner)s) AND revoked_at IS NULL",
        {"now": now, "id": session_id, "owner": owner_id},
    )
    return cursor.rowcount == 1


async def revoke_all(
    conn: Connection, now: datetime, owner_id: str, *, keep: str | None = None
) -> int:
    """Revoke every session of the owner except `keep` ("sign out my other devices", and after
    a password reset with `keep=None`)."""
    cursor = await conn.execute(
        "UPDATE sessions SET revoked_at = %(now)s"
        " WHERE (user_id = %(owner)s OR staff_id = %(owner)s) AND revoked_at IS NULL"
        " AND id IS DISTINCT FROM %(keep)s",
        {"now": now, "owner": owner_id, "keep": keep},
    )
    return cursor.rowcount
