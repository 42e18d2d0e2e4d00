"""Members of an organisation: listing them, changing their roles, removing them.

Rules: nobody grants more than they hold; only an owner makes or unmakes an owner; the last
owner can't be removed, demoted or leave. Changes lock the organisation's row first, so two
owners demoting each other at once still leave one owner.
"""

from __future__ import annotations

from finhub.audit.service import record
from finhub.identity.principal import Principal
from finhub.kit.db.engine import Connection, Row
from finhub.organizations import repository
from finhub.organizations.access import Actor, Caller, authorize, role_permissions
from finhub.organizations.errors import LastOwner, MemberNotFound, RoleNotFound


async def list_members(
    conn: Connection,
    principal: Principal,
    organization_id: str,
    *,
    limit: int,
    starting_after: str | None,
) -> list[Row]:
    await authorize(conn, principal, organization_id, "members:read")
    return await repository.list_members(
        conn, organization_id, limit=limit, starting_after=starting_after
    )


async def get_member(
    conn: Connection, principal: Principal, organization_id: str, member_id: str
) -> Row:
    await authorize(conn, principal, organization_id, "members:read")
    return await find_member(conn, organization_id, member_id)


async def find_member(conn: Connection, organization_id: str, member_id: str) -> Row:
    member = await repository.get_member(conn, organization_id, member_id)
    if member is None:
        raise MemberNotFound("No such member in this organisation.")
    return member


async def permissions_of_role(conn: Connection, organization_id: str, role: str) -> frozenset[str]:
    """What a role (built-in name or custom role id) allows; 404 for another organisation's."""
    if not role.startswith("role_"):
        return role_permissions(role, None)
    custom = await repository.get_role(conn, organization_id, role)
    if custom is None:
        raise RoleNotFound("No such role in this organisation.")
    return role_permissions(None, custom["permissions"])


async def change_role(
    conn: Connection, caller: Caller, organization_id: str, member_id: str, role: str
) -> Row:
    actor = await _locked_actor(conn, caller.principal, organization_id, "members:manage")
    member = await find_member(conn, organization_id, member_id)
    if member["role"] == role:
        return member
    actor.may_grant(
        member["role"], await permissions_of_role(conn, organization_id, member["role"])
    )
    actor.may_grant(role, await permissions_of_role(conn, organization_id, role))
    if member["role"] == "owner":
        await _keep_an_owner(conn, organization_id, "demote")
    await repository.set_member_role(conn, organization_id, member_id, role, caller.now)
    changed = await find_member(conn, organization_id, member_id)
    await record(
        conn,
        caller.audit,
        "member.role_changed",
        subject_user_id=member["user_id"],
        organization_id=organization_id,
        object_type="organization_member",
        object_id=member_id,
        before={"role": member["role"]},
        after={"role": role},
    )
    return changed


async def remove_member(
    conn: Connection, caller: Caller, organization_id: str, member_id: str
) -> Row:
    """Remove a member, or leave when it is the caller's own membership."""
    actor = await _locked_actor(conn, caller.principal, organization_id, None)
    member = await find_member(conn, organization_id, member_id)
    leaving = actor.member_id == member_id
    if not leaving:
        actor = await authorize(conn, caller.principal, organization_id, "members:manage")
        actor.may_grant(
            member["role"], await permissions_of_role(conn, organization_id, member["role"])
        )
    if member["role"] == "owner":
        await _keep_an_owner(conn, organization_id, "leave" if leaving else "remove")
    await repository.delete_member(conn, organization_id, member_id)
    await record(
        conn,
        caller.audit,
        "member.left" if leaving else "member.removed",
        subject_user_id=member["user_id"],
        organization_id=organization_id,
        object_type="organization_member",
        object_id=member_id,
        before={"user_id": member["user_id"], "role": member["role"]},
    )
    return member


async def _locked_actor(
    conn: Connection, principal: Principal, organization_id: str, permission: str | None
) -> Actor:
    """Lock the organisation, then read the caller's role (fresh under the lock)."""
    await repository.lock_organization(conn, organization_id)
    return await authorize(conn, principal, organization_id, permission)


async def _keep_an_owner(conn: Connection, organization_id: str, action: str) -> None:
    if await repository.count_owners(conn, organization_id) <= 1:
        messages = {
            "demote": "The last owner can't be demoted; make another member owner first.",
            "remove": "The last owner can't be removed; make another member owner first.",
            "leave": "The last owner can't leave; make another member owner first.",
        }
        raise LastOwner(messages[action])
