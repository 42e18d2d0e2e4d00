"""Organisations: members, invitations, roles, permissions and teams."""

from __future__ import annotations

from finhub.errors import NotFound
from finhub.identity.principal import Principal
from finhub.kit.db.engine import Connection


async def require_permission(
    conn: Connection, principal: Principal, organization_id: str, permission: str
) -> None:
    """Pass if the caller may do `permission` (e.g. "api_keys:manage") in the organisation.

    Not a member (or no such organisation): 404 `organization_not_found`. A member whose role
    lacks the permission: 403 `permission_denied`. An organisation's API key acts within its own
    organisation only, limited by its scopes."""
    raise NotFound("No such organisation.", code="organization_not_found")
