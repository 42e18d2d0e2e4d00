"""Custom roles: named sets of permissions an organisation builds for itself.

Whoever manages roles can only build roles within their own permissions, and can't change or
delete a role that holds more than they do. A role some member holds, or an open invitation
offers, can't be deleted.
"""

from __future__ import annotations

from typing import Any

from finhub.audit.service import record
from finhub.identity.principal import Principal
from finhub.kit.db.engine import Connection, Row
from finhub.kit.ids import new_id
from finhub.organizations import repository
from finhub.organizations.access import Caller, authorize
from finhub.organizations.errors import RoleInUse, RoleNameTaken, RoleNotFound
from finhub.organizations.schemas import RoleCreate, RoleUpdate


def _name_taken(name: str) -> RoleNameTaken:
    return RoleNameTaken(f"This organisation has a role named {name!r} already.")


async def list_roles(
    conn: Connection,
    principal: Principal,
    organization_id: str,
    *,
    limit: int,
    starting_after: str | None,
) -> list[Row]:
    await authorize(conn, principal, organization_id, "members:read")
    return await repository.list_roles(
        conn, organization_id, limit=limit, starting_after=starting_after
    )


async def get_role(
    conn: Connection, principal: Principal, organization_id: str, role_id: str
) -> Row:
    await authorize(conn, principal, organization_id, "members:read")
    return await _role(conn, organization_id, role_id)


async def create_role(
    conn: Connection, caller: Caller, organization_id: str, data: RoleCreate
) -> Row:
    actor = await authorize(conn, caller.principal, organization_id, "roles:manage")
    role_id = new_id("role")
    actor.may_grant(role_id, frozenset(data.permissions))
    async with repository.unique_or(conn, _name_taken(data.name)):
        role = await repository.insert_role(
            conn,
            role_id=role_id,
            organization_id=organization_id,
            name=data.name,
            description=data.description,
            permissions=data.permissions,
            now=caller.now,
        )
    await record(
        conn,
        caller.audit,
        "role.created",
        organization_id=organization_id,
        object_type="organization_role",
        object_id=role_id,
        after=_audited(role),
    )
    return role


async def update_role(
    conn: Connection, caller: Caller, organization_id: str, role_id: str, data: RoleUpdate
) -> Row:
    actor = await authorize(conn, caller.principal, organization_id, "roles:manage")
    before = await _role(conn, organization_id, role_id)
    actor.may_grant(role_id, frozenset(before["permissions"]))
    changes = {
        field: value
        for field, value in data.model_dump(exclude_unset=True).items()
        if value != before[field]
    }
    if "permissions" in changes:
        actor.may_grant(role_id, frozenset(changes["permissions"]))
    if not changes:
        return before
    async with repository.unique_or(conn, _name_taken(changes.get("name", ""))):
        after = await repository.update_role(conn, organization_id, role_id, changes, caller.now)
    assert after is not None  # found above, in the same transaction
    await record(
        conn,
        caller.audit,
        "role.updated",
        organization_id=organization_id,
        object_type="organization_role",
        object_id=role_id,
        before={field: before[field] for field in changes},
        after=changes,
    )
    return after


async def delete_role(conn: Connection, caller: Caller, organization_id: str, role_id: str) -> Row:
    # The lock keeps a member from being given the role while it is being deleted.
    await repository.lock_organization(conn, organization_id)
    actor = await authorize(conn, caller.principal, organization_id, "roles:manage")
    role = await _role(conn, organization_id, role_id)
    actor.may_grant(role_id, frozenset(role["permissions"]))
    usage = await repository.role_usage(conn, organization_id, role_id)
    if usage["members"] or usage["invitations"]:
        raise RoleInUse(
            "Members hold this role or open invitations offer it; give them another role "
            "(or revoke the invitations) first.",
            members=usage["members"],
            invitations=usage["invitations"],
        )
    await repository.delete_role(conn, organization_id, role_id)
    await record(
        conn,
        caller.audit,
        "role.deleted",
        organization_id=organization_id,
        object_type="organization_role",
        object_id=role_id,
        before=_audited(role),
    )
    return role


async def _role(conn: Connection, organization_id: str, role_id: str) -> Row:
    role = await repository.get_role(conn, organization_id, role_id)
    if role is None:
        raise RoleNotFound("No such role in this organisation.")
    return role


def _audited(role: Row) -> dict[str, Any]:
    return {
        "name": role["name"],
        "description": role["description"],
        "permissions": sorted(role["permissions"]),
    }
