"""Credentials for operator tooling that already has the database (benchmarks, smoke tests).

Whoever can write to the database can create a staff account anyway; this only saves such a
tool from driving the interactive sign-in with a second factor. The account it creates is named
for its purpose and shows in the staff list and audit searches like any other.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from finhub.config import Settings
from finhub.identity import sessions
from finhub.kit.clock import SystemClock
from finhub.kit.ids import new_id


async def operator_session_token(database_url: str, purpose: str, *, role: str = "admin") -> str:
    """A new staff account for `purpose` with one signed-in (aal 2) session; its bearer token."""
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        staff_id = new_id("stf")
        async with conn.transaction():
            await conn.execute(
                """
                INSERT INTO staff_members (id, email, email_normalized, display_name,
                                           password_hash, roles)
                VALUES (%s, %s, %s, %s, '!no-password-sign-in', %s)
                """,
                (
                    staff_id,
                    f"{staff_id.lower()}@operator.invalid",
                    f"{staff_id.lower()}@operator.invalid",
                    purpose,
                    [role],
                ),
            )
            session = await sessions.start_session(
                conn, Settings(), now=SystemClock().now(), aal=2, staff_id=staff_id
            )
    return session.token
