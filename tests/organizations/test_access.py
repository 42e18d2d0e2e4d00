"""`require_permission` as other modules use it, and how API keys act in organisations: an
organisation's key only inside its own organisation and only within its scopes; a person's key
as that person, narrowed by its scopes; organisations are founded and invitations accepted by
people only."""

from __future__ import annotations

from typing import Any

import pytest

from finhub.identity.principal import Principal
from finhub.identity.scopes import SCOPES
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.organizations import invitations, members, service
from finhub.organizations.access import Caller
from finhub.organizations.errors import (
    InsufficientScope,
    OrganizationNotFound,
    OwnersOnly,
    PeopleOnly,
    PermissionDenied,
)
from finhub.organizations.permissions import PERMISSION_SCOPES, PERMISSIONS, ROLE_PERMISSIONS
from finhub.organizations.schemas import OrganizationCreate
from tests.organizations.conftest import (
    MemberFactory,
    Org,
    OrgFactory,
    problem,
    registration,
    user_caller,
)


def org_key(organization_id: str, *scopes: str) -> Principal:
    return Principal(
        kind="api_key", id="key_test", organization_id=organization_id, scopes=frozenset(scopes)
    )


def person(user_id: str) -> Principal:
    return Principal(kind="user", id=user_id, user_id=user_id)


@pytest.mark.parametrize("role", sorted(ROLE_PERMISSIONS))
@pytest.mark.parametrize("permission", sorted(PERMISSIONS))
async def test_require_permission_follows_the_matrix(
    conn: Connection, org: Org, add_member: MemberFactory, role: str, permission: str
) -> None:
    member = await add_member(org, role)
    check = service.require_permission(conn, person(member.user_id), org.id, permission)
    if permission in ROLE_PERMISSIONS[role]:
        await check
    else:
        with pytest.raises(PermissionDenied) as refused:
            await check
        assert (refused.value.status, refused.value.code) == (403, "permission_denied")


async def test_outsiders_get_404(conn: Connection, org: Org, make_org: OrgFactory) -> None:
    other = await make_org()
    for principal, organization_id in [
        (person(other.owner.user_id), org.id),
        (person(org.owner.user_id), "org_missing"),
        (
            Principal(kind="staff", id="stf_x", staff_id="stf_x", staff_roles=frozenset({"admin"})),
            org.id,
        ),
        (org_key(other.id, "organizations:read", "organizations:write"), org.id),
        (org_key("org_missing", "organizations:read"), "org_missing"),
    ]:
        with pytest.raises(OrganizationNotFound) as missing:
            await service.require_permission(conn, principal, organization_id, "members:read")
        assert (missing.value.status, missing.value.code) == (404, "organization_not_found")


async def test_unknown_permissions_are_a_programming_error(conn: Connection, org: Org) -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        await service.require_permission(conn, person(org.owner.user_id), org.id, "org:destroy")


async def test_an_organisations_key_is_gated_by_its_scopes(conn: Connection, org: Org) -> None:
    reader = org_key(org.id, "organizations:read")
    await service.require_permission(conn, reader, org.id, "members:read")
    await service.require_permission(conn, reader, org.id, "developers:read")
    for permission in ("members:manage", "api_keys:manage", "payments:create"):
        with pytest.raises(InsufficientScope) as refused:
            await service.require_permission(conn, reader, org.id, permission)
        assert refused.value.extra["required_scopes"] == [PERMISSION_SCOPES[permission]]
        assert refused.value.status == 403

    writer = org_key(org.id, "organizations:write", "payments:write")
    await service.require_permission(conn, writer, org.id, "api_keys:manage")
    await service.require_permission(conn, writer, org.id, "payments:create")
    with pytest.raises(InsufficientScope):
        await service.require_permission(conn, writer, org.id, "balances:read")


async def test_a_personal_key_acts_as_its_person_narrowed_by_scopes(
    conn: Connection, org: Org, add_member: MemberFactory
) -> None:
    maker = await add_member(org, "maker")
    key = Principal(
        kind="api_key", id="key_p", user_id=maker.user_id, scopes=frozenset({"organizations:read"})
    )
    await service.require_permission(conn, key, org.id, "members:read")
    with pytest.raises(InsufficientScope):
        await service.require_permission(conn, key, org.id, "payments:create")  # role: yes
    with pytest.raises(PermissionDenied):
        await service.require_permission(conn, key, org.id, "org:manage")  # role: no
    listed = await service.list_organizations(conn, key, limit=10, starting_after=None)
    assert [row["id"] for row in listed] == [org.id]


async def test_keys_cannot_found_organisations_accept_invitations_or_make_owners(
    conn: Connection, org: Org, add_member: MemberFactory, clock: OffsetClock
) -> None:
    key = org_key(org.id, "organizations:read", "organizations:write")
    caller = Caller(key, user_caller(org.owner.user_id, clock.now()).audit, clock.now())
    body = OrganizationCreate(legal_name="K", registration_number=registration(), country="DE")
    with pytest.raises(PeopleOnly):
        await service.create_organization(conn, caller, body)
    with pytest.raises(PeopleOnly):
        await invitations.accept(conn, caller, "fht_whatever")

    viewer = await add_member(org, "viewer")
    # A key hands out no role beyond its scopes: viewers read payments and balances.
    with pytest.raises(PermissionDenied):
        await members.change_role(conn, caller, org.id, viewer.member_ids[org.id], "maker")
    key = org_key(org.id, *SCOPES)
    caller = Caller(key, caller.audit, clock.now())
    changed = await members.change_role(conn, caller, org.id, viewer.member_ids[org.id], "admin")
    assert changed["role"] == "admin"
    with pytest.raises(OwnersOnly):
        await members.change_role(conn, caller, org.id, viewer.member_ids[org.id], "owner")
    with pytest.raises(OwnersOnly):
        await members.remove_member(conn, caller, org.id, org.owner.member_ids[org.id])

    listed = await service.list_organizations(conn, key, limit=10, starting_after=None)
    assert [row["id"] for row in listed] == [org.id]
    assert await service.list_organizations(conn, key, limit=10, starting_after=org.id) == []


async def test_role_changes_apply_to_the_next_check(
    conn: Connection, org: Org, add_member: MemberFactory, clock: OffsetClock
) -> None:
    maker = await add_member(org, "maker")
    principal = person(maker.user_id)
    await service.require_permission(conn, principal, org.id, "payments:create")
    owner = user_caller(org.owner.user_id, clock.now())
    await members.change_role(conn, owner, org.id, maker.member_ids[org.id], "viewer")
    with pytest.raises(PermissionDenied):
        await service.require_permission(conn, principal, org.id, "payments:create")


async def test_a_real_organisation_key_through_the_api(
    org: Org, make_org: OrgFactory, app: Any, db: Database
) -> None:
    """Keys issued by the API keys module, used on the organisation endpoints."""
    from httpx import ASGITransport, AsyncClient

    async def issue(scopes: list[str]) -> AsyncClient:
        response = await org.owner.client.post(
            "/v1/api-keys",
            json={"name": "ops", "mode": "live", "scopes": scopes, "organization_id": org.id},
        )
        assert response.status_code == 201, response.text
        secret = response.json()["secret"]
        return AsyncClient(
            transport=ASGITransport(app=app),
            base_url="http://finhub.test",
            headers={"Authorization": f"Bearer {secret}"},
        )

    other = await make_org()
    async with await issue(["organizations:read"]) as reader:
        listed = (await reader.get("/v1/organizations")).json()["data"]
        assert [o["id"] for o in listed] == [org.id]
        assert (await reader.get(f"/v1/organizations/{org.id}/members")).status_code == 200
        problem(await reader.get(f"/v1/organizations/{other.id}"), 404, "organization_not_found")
        problem(
            await reader.post(f"/v1/organizations/{org.id}/teams", json={"name": "Bots"}),
            403,
            "insufficient_scope",
        )
        problem(
            await reader.post(
                "/v1/organizations",
                json={"legal_name": "K", "registration_number": registration(), "country": "DE"},
            ),
            403,
            "wrong_principal_type",
        )
    async with await issue(["organizations:read", "organizations:write"]) as writer:
        created = await writer.post(f"/v1/organizations/{org.id}/teams", json={"name": "Bots"})
        assert created.status_code == 201, created.text
        problem(
            await writer.post(f"/v1/organizations/{other.id}/teams", json={"name": "Bots"}),
            404,
            "organization_not_found",
        )
    teams = (await org.owner.client.get(f"/v1/organizations/{org.id}/teams")).json()["data"]
    assert [t["name"] for t in teams] == ["Bots"]
