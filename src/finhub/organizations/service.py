"""Organisations: members, invitations, roles, permissions and teams.

This module holds the organisation itself and `require_permission`, the check other modules
call; members, roles, teams and invitations each have their own module beside it. Services
never commit: the endpoint's transaction does.
"""

from __future__ import annotations

from typing import Any

from finhub.audit.service import record
from finhub.errors import Forbidden
from finhub.identity.principal import Principal
from finhub.kit.db.engine import Connection, Row
from finhub.kit.ids import new_id
from finhub.organizations import repository
from finhub.organizations.access import Actor, Caller, authorize
from finhub.organizations.errors import OrganizationNotFound, PeopleOnly, RegistrationTaken
from finhub.organizations.permissions import PERMISSION_SCOPES, ROLE_PERMISSIONS
from finhub.organizations.schemas import OrganizationCreate, OrganizationUpdate


async def require_permission(
    conn: Connection, principal: Principal, organization_id: str, permission: str
) -> None:
    """Pass if the caller may do `permission` (e.g. "api_keys:manage") in the organisation.

    Not a member (or no such organisation): 404 `organization_not_found`. A member whose role
    lacks the permission: 403 `permission_denied`. An organisation's API key acts within its own
    organisation only, limited by its scopes."""
    await authorize(conn, principal, organization_id, permission)


async def require_scopes_within_role(
    conn: Connection, principal: Principal, organization_id: str, scopes: list[str]
) -> None:
    """An organisation's API key may carry only scopes whose every permission the person
    giving it holds: a developer can't mint a key that manages members or approves payments,
    and a maker can't mint one that approves (maker-checker)."""
    actor = await authorize(conn, principal, organization_id)
    beyond = sorted(
        scope
        for scope in set(scopes) & set(PERMISSION_SCOPES.values())
        if any(
            permission not in actor.permissions
            for permission, granted_by in PERMISSION_SCOPES.items()
            if granted_by == scope
        )
    )
    if beyond:
        raise Forbidden(
            f"Your role can't grant the scopes {', '.join(beyond)} to an organisation key.",
            code="scope_beyond_role",
            scopes=beyond,
        )


def person_id(principal: Principal) -> str:
    """The person behind a call that only people may make."""
    if principal.kind != "user" or principal.user_id is None:
        raise PeopleOnly("Only a signed-in person can do this.")
    return principal.user_id


async def create_organization(conn: Connection, caller: Caller, data: OrganizationCreate) -> Row:
    """A person founds an organisation and becomes its first owner."""
    user_id = person_id(caller.principal)
    organization = await repository.insert_organization(
        conn,
        organization_id=new_id("org"),
        legal_name=data.legal_name,
        display_name=data.display_name,
        registration_number=data.registration_number,
        country=data.country,
        created_by=user_id,
        now=caller.now,
    )
    if organization is None:
        raise RegistrationTaken(
            f"An organisation with that registration number in {data.country} exists already."
        )
    await repository.insert_member(
        conn,
        member_id=new_id("mem"),
        organization_id=organization["id"],
        user_id=user_id,
        role="owner",
        now=caller.now,
    )
    await record(
        conn,
        caller.audit,
        "organization.created",
        subject_user_id=user_id,
        organization_id=organization["id"],
        object_type="organization",
        object_id=organization["id"],
        after=_audited(organization),
    )
    return organization


async def list_organizations(
    conn: Connection, principal: Principal, *, limit: int, starting_after: str | None
) -> list[Row]:
    """The organisations the caller belongs to (for an organisation's key: its own)."""
    if principal.kind == "api_key" and principal.organization_id is not None:
        own = await repository.get_organization(conn, principal.organization_id)
        if own is None or (starting_after is not None and own["id"] >= starting_after):
            return []
        return [own]
    if principal.user_id is None:
        return []
    return await repository.list_organizations_of_user(
        conn, principal.user_id, limit=limit, starting_after=starting_after
    )


async def get_organization(conn: Connection, principal: Principal, organization_id: str) -> Row:
    await authorize(conn, principal, organization_id)
    return await _organization(conn, organization_id)


async def update_organization(
    conn: Connection, caller: Caller, organization_id: str, data: OrganizationUpdate
) -> Row:
    actor = await authorize(conn, caller.principal, organization_id, "org:manage")
    before = await _organization(conn, organization_id)
    changes = {
        field: value
        for field, value in data.model_dump(exclude_unset=True).items()
        if value != before[field]
    }
    if not changes:
        return before
    after = await repository.update_organization(conn, organization_id, changes, caller.now)
    assert after is not None  # the row exists: authorize just found it
    await record(
        conn,
        caller.audit,
        "organization.updated",
        subject_user_id=actor.principal.user_id,
        organization_id=organization_id,
        object_type="organization",
        object_id=organization_id,
        before={field: before[field] for field in changes},
        after=changes,
    )
    return after


async def permission_matrix(
    conn: Connection, principal: Principal, organization_id: str
) -> dict[str, frozenset[str]]:
    await authorize(conn, principal, organization_id)
    return dict(ROLE_PERMISSIONS)


async def _organization(conn: Connection, organization_id: str) -> Row:
    row = await repository.get_organization(conn, organization_id)
    if row is None:
        raise OrganizationNotFound("No such organisation.")
    return row


def _audited(organization: Row) -> dict[str, Any]:
    return {
        "legal_name": organization["legal_name"],
        "display_name": organization["display_name"],
        "registration_number": organization["registration_number"],
        "country": organization["country"],
    }


__all__ = ["Actor", "Caller", "authorize", "require_permission"]
