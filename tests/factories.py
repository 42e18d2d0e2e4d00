"""Plain factory functions for identities, with keyword defaults (DESIGN.md §8).

They write rows directly, for tests whose subject is something else; the flows that create
people and staff for real (sign-up, `finhub staff create`) have their own tests.
"""

from __future__ import annotations

from datetime import datetime

from finhub.config import Settings
from finhub.identity import sessions
from finhub.kit.clock import Clock, SystemClock
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id


async def create_user(
    conn: Connection,
    *,
    email: str | None = None,
    status: str = "active",
    password_hash: str | None = None,
    display_name: str = "Test Person",
    verified_at: datetime | None = None,
) -> str:
    user_id = new_id("usr")
    email = email or f"{user_id.lower()}@example.com"
    await conn.execute(
        """
        INSERT INTO users (id, email, email_normalized, display_name, password_hash, status,
                           email_verified_at)
        VALUES (%s, %s, %s, %s, %s, %s, coalesce(%s, CASE WHEN %s = 'active' THEN now() END))
        """,
        (user_id, email, email.lower(), display_name, password_hash, status, verified_at, status),
    )
    return user_id


async def create_staff(
    conn: Connection,
    *,
    roles: tuple[str, ...] = ("admin",),
    email: str | None = None,
    password_hash: str = "!unusable",  # noqa: S107 (matches no password)
) -> str:
    staff_id = new_id("stf")
    email = email or f"{staff_id.lower()}@staff.example.com"
    await conn.execute(
        """
        INSERT INTO staff_members (id, email, email_normalized, display_name, password_hash, roles)
        VALUES (%s, %s, %s, 'Test Staff', %s, %s)
        """,
        (staff_id, email, email.lower(), password_hash, list(roles)),
    )
    return staff_id


# Tests move the shared clock forward; sessions made here outlive that.
LONG_SESSIONS = Settings(session_idle_minutes=60 * 24 * 3650, session_max_hours=24 * 3650)


async def session_token(
    conn: Connection,
    *,
    user_id: str | None = None,
    staff_id: str | None = None,
    aal: int = 2,
    settings: Settings | None = None,
    clock: Clock | None = None,
) -> str:
    """A bearer token for a signed-in session (aal 2 and stepped up by default). Pass the
    app's clock when the test needs the step-up to be fresh."""
    session = await sessions.start_session(
        conn,
        settings or LONG_SESSIONS,
        now=(clock or SystemClock()).now(),
        aal=aal,
        user_id=user_id,
        staff_id=staff_id,
    )
    return session.token
