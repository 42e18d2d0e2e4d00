"""Who may do what in an organisation, decided from the database on every call.

A person acts through their membership: their role's permissions, read fresh each time so a
role change takes effect on the very next request. An organisation's API key acts only inside
its own organisation, limited by its scopes (`PERMISSION_SCOPES`). A person's own API key acts
as that person, further limited by its scopes. Nobody else is in any organisation: they get the
same 404 as for an organisation that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from finhub.audit.service import AuditContext
from finhub.identity.principal import Principal
from finhub.kit.db.engine import Connection
from finhub.organizations import repository
from finhub.organizations.errors import (
    InsufficientScope,
    OrganizationNotFound,
    OwnersOnly,
    PermissionDenied,
)
from finhub.organizations.permissions import PERMISSION_SCOPES, PERMISSIONS, ROLE_PERMISSIONS


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal behind a request, how to audit it and the request's moment."""

    principal: Principal
    audit: AuditContext
    now: datetime


@dataclass(frozen=True, slots=True)
class Actor:
    """A caller inside one organisation, with what it may do there right now."""

    principal: Principal
    organization_id: str
    member_id: str | None  # None for the organisation's own API key
    role: str | None
    permissions: frozenset[str]  # what it may do here: its role's, narrowed by a key's scopes
    role_permissions: frozenset[str]  # its role's alone (an organisation's key: all)

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    def may_grant(self, role: str, role_permissions: frozenset[str]) -> None:
        """Nobody hands out more than they hold, and only owners make owners."""
        if role == "owner" and not self.is_owner:
            raise OwnersOnly("Only an owner can make or unmake an owner.")
        beyond = sorted(role_permissions - self.permissions)
        if beyond:
            raise PermissionDenied(
                "That role holds permissions you don't have.", missing_permissions=beyond
            )


def _not_found() -> OrganizationNotFound:
    return OrganizationNotFound("No such organisation.")


def _scoped(principal: Principal, permissions: frozenset[str]) -> frozenset[str]:
    return frozenset(p for p in permissions if principal.has_scope(PERMISSION_SCOPES[p]))


async def authorize(
    conn: Connection, principal: Principal, organization_id: str, permission: str | None = None
) -> Actor:
    """The caller as a member of the organisation, checked for `permission` when given (None:
    being in the organisation is enough)."""
    if permission is not None and permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    actor = await _actor(conn, principal, organization_id)
    if permission is not None and permission not in actor.permissions:
        _refuse(actor, permission)
    return actor


async def _actor(conn: Connection, principal: Principal, organization_id: str) -> Actor:
    if principal.kind == "api_key" and principal.organization_id is not None:
        if principal.organization_id != organization_id:
            raise _not_found()
        if not await repository.organization_exists(conn, organization_id):
            raise _not_found()
        every = frozenset(PERMISSIONS)
        return Actor(principal, organization_id, None, None, _scoped(principal, every), every)
    if principal.kind == "staff" or principal.user_id is None:
        raise _not_found()
    row = await repository.member_access(conn, organization_id, principal.user_id)
    if row is None:
        raise _not_found()
    role = row["builtin_role"] or row["custom_role_id"]
    held = role_permissions(row["builtin_role"], row["custom_permissions"])
    allowed = _scoped(principal, held) if principal.kind == "api_key" else held
    return Actor(principal, organization_id, row["id"], role, allowed, held)


def role_permissions(builtin_role: str | None, custom: list[str] | None) -> frozenset[str]:
    if builtin_role is not None:
        return ROLE_PERMISSIONS[builtin_role]
    # Only permissions finhub still knows count, should a stored role name a retired one.
    return frozenset(custom or ()) & PERMISSIONS.keys()


def _refuse(actor: Actor, permission: str) -> None:
    """The role's verdict first: a key's missing scope only matters if the role would allow."""
    scope = PERMISSION_SCOPES[permission]
    if permission in actor.role_permissions:
        raise InsufficientScope(f"The API key lacks the scope {scope}.", required_scopes=[scope])
    raise PermissionDenied(
        f"Your role in this organisation does not include {permission}.",
        required_permission=permission,
    )
