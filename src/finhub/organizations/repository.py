"""All of the organisations' SQL. Every query names the organisation it reads or changes, so an
id from another organisation finds nothing. Functions take the caller's connection and never
commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from psycopg.errors import UniqueViolation

from finhub.errors import FinhubError
from finhub.kit.db.engine import Connection, Row

ORGANIZATION_COLUMNS = """
    o.id, o.legal_name, o.display_name, o.registration_number, o.country, o.created_by,
    o.created_at, o.updated_at
"""

# A member with the person's name and address, their role (built-in name or custom role id and
# name) and their teams.
MEMBER_SELECT = """
    SELECT m.id, m.organization_id, m.user_id, u.email, u.display_name,
           coalesce(m.builtin_role, m.custom_role_id) AS role,
           coalesce(m.builtin_role, r.name) AS role_name,
           m.joined_at, m.updated_at,
           ARRAY(SELECT tm.team_id FROM organization_team_members tm
                  WHERE tm.member_id = m.id ORDER BY tm.team_id) AS team_ids
      FROM organization_members m
      JOIN users u ON u.id = m.user_id
      LEFT JOIN organization_roles r
             ON r.organization_id = m.organization_id AND r.id = m.custom_role_id
"""

ROLE_COLUMNS = "id, organization_id, name, description, permissions, created_at, updated_at"

TEAM_SELECT = """
    SELECT t.id, t.organization_id, t.name, t.description, t.created_at, t.updated_at,
           (SELECT count(*) FROM organization_team_members tm WHERE tm.team_id = t.id)
               AS member_count
      FROM organization_teams t
"""

INVITATION_SELECT = """
    SELECT i.id, i.organization_id, i.email, i.email_normalized,
           coalesce(i.builtin_role, i.custom_role_id) AS role,
           coalesce(i.builtin_role, r.name) AS role_name,
           i.team_ids, i.status, i.invited_by, i.created_at, i.expires_at, i.accepted_at,
           i.accepted_by, i.revoked_at
      FROM organization_invitations i
      LEFT JOIN organization_roles r
             ON r.organization_id = i.organization_id AND r.id = i.custom_role_id
"""


@asynccontextmanager
async def unique_or(conn: Connection, error: FinhubError) -> AsyncIterator[None]:
    """Run statements in a savepoint and turn a unique violation into `error` (the savepoint
    keeps the caller's transaction usable)."""
    try:
        async with conn.transaction():
            yield
    except UniqueViolation as exc:
        raise error from exc


def _role_columns(role: str) -> tuple[str | None, str | None]:
    """(builtin_role, custom_role_id) for a role given as a built-in name or a `role_…` id."""
    return (None, role) if role.startswith("role_") else (role, None)


async def _one(conn: Connection, sql: str, params: Sequence[Any] | dict[str, Any]) -> Row | None:
    cursor = await conn.execute(sql, params)
    return await cursor.fetchone()


async def _all(conn: Connection, sql: str, params: Sequence[Any]) -> list[Row]:
    cursor = await conn.execute(sql, params)
    return await cursor.fetchall()


def _page(starting_after: str | None, column: str) -> tuple[str, list[Any]]:
    """Newest first: ids are ULIDs, so `id < cursor` is the next page."""
    if starting_after is None:
        return "", []
    return f" AND {column} < %s", [starting_after]


# --- organisations ----------------------------------------------------------------------------


async def insert_organization(
    conn: Connection,
    *,
    organization_id: str,
    legal_name: str,
    display_name: str | None,
    registration_number: str,
    country: str,
    created_by: str,
    now: datetime,
) -> Row | None:
    """None when the country already has an organisation with that registration number."""
    return await _one(
        conn,
        f"""
        INSERT INTO organizations AS o (id, legal_name, display_name, registration_number,
                                        country, created_by, created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (country, registration_key) DO NOTHING
        RETURNING {ORGANIZATION_COLUMNS}
        """,
        (
            organization_id,
            legal_name,
            display_name,
            registration_number,
            country,
            created_by,
            now,
            now,
        ),
    )


async def get_organization(conn: Connection, organization_id: str) -> Row | None:
    return await _one(
        conn,
        f"SELECT {ORGANIZATION_COLUMNS} FROM organizations o WHERE o.id = %s",
        (organization_id,),
    )


async def lock_organization(conn: Connection, organization_id: str) -> None:
    """Serialise changes to an organisation's members and roles (two owners demoting each other
    at once must not leave it without an owner)."""
    await conn.execute(
        "SELECT 1 FROM organizations WHERE id = %s FOR NO KEY UPDATE", (organization_id,)
    )


async def list_organizations_of_user(
    conn: Connection, user_id: str, *, limit: int, starting_after: str | None
) -> list[Row]:
    after, params = _page(starting_after, "o.id")
    return await _all(
        conn,
        f"""
        SELECT {ORGANIZATION_COLUMNS} FROM organizations o
          JOIN organization_members m ON m.organization_id = o.id AND m.user_id = %s
         WHERE true{after}
         ORDER BY o.id DESC LIMIT %s
        """,
        [user_id, *params, limit],
    )


async def update_organization(
    conn: Connection, organization_id: str, changes: dict[str, Any], now: datetime
) -> Row | None:
    # Column names come from the service's fixed set of editable fields, never from input.
    assignments = "".join(f"{column} = %s, " for column in changes)
    return await _one(
        conn,
        f"""
        UPDATE organizations o SET {assignments}updated_at = %s WHERE o.id = %s
        RETURNING {ORGANIZATION_COLUMNS}
        """,
        [*changes.values(), now, organization_id],
    )


# --- access -----------------------------------------------------------------------------------


async def member_access(conn: Connection, organization_id: str, user_id: str) -> Row | None:
    """The caller's membership and the permissions of a custom role, read fresh each time."""
    return await _one(
        conn,
        """
        SELECT m.id, m.builtin_role, m.custom_role_id, r.permissions AS custom_permissions
          FROM organization_members m
          LEFT JOIN organization_roles r
                 ON r.organization_id = m.organization_id AND r.id = m.custom_role_id
         WHERE m.organization_id = %s AND m.user_id = %s
        """,
        (organization_id, user_id),
    )


async def organization_exists(conn: Connection, organization_id: str) -> bool:
    row = await _one(conn, "SELECT 1 AS found FROM organizations WHERE id = %s", (organization_id,))
    return row is not None


# --- members ----------------------------------------------------------------------------------


async def insert_member(
    conn: Connection,
    *,
    member_id: str,
    organization_id: str,
    user_id: str,
    role: str,
    now: datetime,
) -> bool:
    """False when the person is a member already."""
    builtin_role, custom_role_id = _role_columns(role)
    cursor = await conn.execute(
        """
        INSERT INTO organization_members (id, organization_id, user_id, builtin_role,
                                          custom_role_id, joined_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (organization_id, user_id) DO NOTHING
        """,
        (member_id, organization_id, user_id, builtin_role, custom_role_id, now, now),
    )
    return cursor.rowcount == 1


async def get_member(conn: Connection, organization_id: str, member_id: str) -> Row | None:
    return await _one(
        conn,
        MEMBER_SELECT + " WHERE m.organization_id = %s AND m.id = %s",
        (organization_id, member_id),
    )


async def list_members(
    conn: Connection, organization_id: str, *, limit: int, starting_after: str | None
) -> list[Row]:
    after, params = _page(starting_after, "m.id")
    return await _all(
        conn,
        MEMBER_SELECT + f" WHERE m.organization_id = %s{after} ORDER BY m.id DESC LIMIT %s",
        [organization_id, *params, limit],
    )


async def is_member_email(conn: Connection, organization_id: str, email_normalized: str) -> bool:
    row = await _one(
        conn,
        """
        SELECT 1 AS found FROM organization_members m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = %s AND u.email_normalized = %s
        """,
        (organization_id, email_normalized),
    )
    return row is not None


async def set_member_role(
    conn: Connection, organization_id: str, member_id: str, role: str, now: datetime
) -> None:
    builtin_role, custom_role_id = _role_columns(role)
    await conn.execute(
        """
        UPDATE organization_members SET builtin_role = %s, custom_role_id = %s, updated_at = %s
         WHERE organization_id = %s AND id = %s
        """,
        (builtin_role, custom_role_id, now, organization_id, member_id),
    )


async def delete_member(conn: Connection, organization_id: str, member_id: str) -> None:
    await conn.execute(
        "DELETE FROM organization_members WHERE organization_id = %s AND id = %s",
        (organization_id, member_id),
    )


async def count_owners(conn: Connection, organization_id: str) -> int:
    row = await _one(
        conn,
        "SELECT count(*) AS owners FROM organization_members"
        " WHERE organization_id = %s AND builtin_role = 'owner'",
        (organization_id,),
    )
    return int(row["owners"]) if row else 0


# --- custom roles -----------------------------------------------------------------------------


async def insert_role(
    conn: Connection,
    *,
    role_id: str,
    organization_id: str,
    name: str,
    description: str | None,
    permissions: list[str],
    now: datetime,
) -> Row:
    row = await _one(
        conn,
        f"""
        INSERT INTO organization_roles (id, organization_id, name, description, permissions,
                                        created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        RETURNING {ROLE_COLUMNS}
        """,
        (role_id, organization_id, name, description, permissions, now, now),
    )
    assert row is not None
    return row


async def get_role(conn: Connection, organization_id: str, role_id: str) -> Row | None:
    return await _one(
        conn,
        f"SELECT {ROLE_COLUMNS} FROM organization_roles WHERE organization_id = %s AND id = %s",
        (organization_id, role_id),
    )


async def list_roles(
    conn: Connection, organization_id: str, *, limit: int, starting_after: str | None
) -> list[Row]:
    after, params = _page(starting_after, "id")
    return await _all(
        conn,
        f"SELECT {ROLE_COLUMNS} FROM organization_roles WHERE organization_id = %s{after}"
        " ORDER BY id DESC LIMIT %s",
        [organization_id, *params, limit],
    )


async def update_role(
    conn: Connection, organization_id: str, role_id: str, changes: dict[str, Any], now: datetime
) -> Row | None:
    # Column names come from the service's fixed set of editable fields, never from input.
    assignments = "".join(f"{column} = %s, " for column in changes)
    return await _one(
        conn,
        f"""
        UPDATE organization_roles SET {assignments}updated_at = %s
         WHERE organization_id = %s AND id = %s
        RETURNING {ROLE_COLUMNS}
        """,
        [*changes.values(), now, organization_id, role_id],
    )


async def role_usage(conn: Connection, organization_id: str, role_id: str) -> Row:
    """How many members hold the role and how many open invitations offer it."""
    row = await _one(
        conn,
        """
        SELECT (SELECT count(*) FROM organization_members
                 WHERE organization_id = %(org)s AND custom_role_id = %(role)s) AS members,
               (SELECT count(*) FROM organization_invitations
                 WHERE organization_id = %(org)s AND custom_role_id = %(role)s
                   AND status = 'pending') AS invitations
        """,
        {"org": organization_id, "role": role_id},
    )
    assert row is not None
    return row


async def delete_role(conn: Connection, organization_id: str, role_id: str) -> None:
    await conn.execute(
        "DELETE FROM organization_roles WHERE organization_id = %s AND id = %s",
        (organization_id, role_id),
    )


# --- teams ------------------------------------------------------------------------------------


async def insert_team(
    conn: Connection,
    *,
    team_id: str,
    organization_id: str,
    name: str,
    description: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO organization_teams (id, organization_id, name, description, created_at,
                                        updated_at)
        VALUES (%s, %s, %s, %s, %s, %s)
        """,
        (team_id, organization_id, name, description, now, now),
    )


async def get_team(conn: Connection, organization_id: str, team_id: str) -> Row | None:
    return await _one(
        conn,
        TEAM_SELECT + " WHERE t.organization_id = %s AND t.id = %s",
        (organization_id, team_id),
    )


async def list_teams(
    conn: Connection, organization_id: str, *, limit: int, starting_after: str | None
) -> list[Row]:
    after, params = _page(starting_after, "t.id")
    return await _all(
        conn,
        TEAM_SELECT + f" WHERE t.organization_id = %s{after} ORDER BY t.id DESC LIMIT %s",
        [organization_id, *params, limit],
    )


async def existing_team_ids(
    conn: Connection, organization_id: str, team_ids: Sequence[str]
) -> set[str]:
    rows = await _all(
        conn,
        "SELECT id FROM organization_teams WHERE organization_id = %s AND id = ANY(%s)",
        (organization_id, list(team_ids)),
    )
    return {row["id"] for row in rows}


async def update_team(
    conn: Connection, organization_id: str, team_id: str, changes: dict[str, Any], now: datetime
) -> None:
    # Column names come from the service's fixed set of editable fields, never from input.
    assignments = "".join(f"{column} = %s, " for column in changes)
    await conn.execute(
        f"UPDATE organization_teams SET {assignments}updated_at = %s"
        " WHERE organization_id = %s AND id = %s",
        [*changes.values(), now, organization_id, team_id],
    )


async def delete_team(conn: Connection, organization_id: str, team_id: str) -> None:
    await conn.execute(
        "DELETE FROM organization_teams WHERE organization_id = %s AND id = %s",
        (organization_id, team_id),
    )


async def add_team_members(
    conn: Connection, organization_id: str, team_ids: Sequence[str], member_id: str, now: datetime
) -> int:
    """Put a member in teams (of the same organisation); returns how many pairings are new."""
    cursor = await conn.execute(
        """
        INSERT INTO organization_team_members (organization_id, team_id, member_id, added_at)
        SELECT %s, t.id, %s, %s FROM organization_teams t
         WHERE t.organization_id = %s AND t.id = ANY(%s)
        ON CONFLICT (team_id, member_id) DO NOTHING
        """,
        (organization_id, member_id, now, organization_id, list(team_ids)),
    )
    return cursor.rowcount


async def remove_team_member(
    conn: Connection, organization_id: str, team_id: str, member_id: str
) -> bool:
    cursor = await conn.execute(
        "DELETE FROM organization_team_members"
        " WHERE organization_id = %s AND team_id = %s AND member_id = %s",
        (organization_id, team_id, member_id),
    )
    return cursor.rowcount == 1


async def list_team_members(
    conn: Connection,
    organization_id: str,
    team_id: str,
    *,
    limit: int,
    starting_after: str | None,
) -> list[Row]:
    after, params = _page(starting_after, "m.id")
    return await _all(
        conn,
        MEMBER_SELECT
        + f"""
         WHERE m.organization_id = %s{after}
           AND EXISTS (SELECT 1 FROM organization_team_members tm
                        WHERE tm.team_id = %s AND tm.member_id = m.id)
         ORDER BY m.id DESC LIMIT %s
        """,
        [organization_id, *params, team_id, limit],
    )


# --- invitations ------------------------------------------------------------------------------


async def insert_invitation(
    conn: Connection,
    *,
    invitation_id: str,
    organization_id: str,
    email: str,
    email_normalized: str,
    role: str,
    team_ids: list[str],
    invited_by: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    builtin_role, custom_role_id = _role_columns(role)
    await conn.execute(
        """
        INSERT INTO organization_invitations (id, organization_id, email, email_normalized,
                                              builtin_role, custom_role_id, team_ids,
                                              invited_by, created_at, expires_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            invitation_id,
            organization_id,
            email,
            email_normalized,
            builtin_role,
            custom_role_id,
            team_ids,
            invited_by,
            now,
            expires_at,
        ),
    )


async def get_invitation(conn: Connection, organization_id: str, invitation_id: str) -> Row | None:
    return await _one(
        conn,
        INVITATION_SELECT + " WHERE i.organization_id = %s AND i.id = %s",
        (organization_id, invitation_id),
    )


async def invitation_for_token(conn: Connection, invitation_id: str) -> Row | None:
    """The invitation a valid token names; the token itself is the caller's authority."""
    return await _one(
        conn, INVITATION_SELECT + " WHERE i.id = %s FOR UPDATE OF i", (invitation_id,)
    )


async def list_invitations(
    conn: Connection,
    organization_id: str,
    *,
    status: str | None,
    limit: int,
    starting_after: str | None,
) -> list[Row]:
    after, params = _page(starting_after, "i.id")
    status_filter = " AND i.status = %s" if status else ""
    status_params = [status] if status else []
    return await _all(
        conn,
        INVITATION_SELECT
        + f" WHERE i.organization_id = %s{status_filter}{after} ORDER BY i.id DESC LIMIT %s",
        [organization_id, *status_params, *params, limit],
    )


async def open_invitation_for(
    conn: Connection, organization_id: str, email_normalized: str
) -> Row | None:
    return await _one(
        conn,
        INVITATION_SELECT
        + " WHERE i.organization_id = %s AND i.email_normalized = %s AND i.status = 'pending'",
        (organization_id, email_normalized),
    )


async def close_invitation(
    conn: Connection,
    invitation_id: str,
    *,
    status: str,
    now: datetime,
    accepted_by: str | None = None,
) -> None:
    await conn.execute(
        """
        UPDATE organization_invitations
           SET status = %(status)s,
               accepted_at = CASE WHEN %(status)s = 'accepted' THEN %(now)s END,
               accepted_by = %(accepted_by)s,
               revoked_at = CASE WHEN %(status)s = 'revoked' THEN %(now)s END
         WHERE id = %(id)s AND status = 'pending'
        """,
        {"status": status, "now": now, "accepted_by": accepted_by, "id": invitation_id},
    )
