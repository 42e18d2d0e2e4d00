"""Members and roles: the permissions matrix walked per built-in role, custom roles, role
changes taking effect at once, the rules on owners and on granting more than one holds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from httpx import AsyncClient

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.organizations import members
from finhub.organizations.errors import LastOwner
from finhub.organizations.permissions import (
    BUILT_IN_ROLES,
    PERMISSION_SCOPES,
    PERMISSIONS,
    ROLE_PERMISSIONS,
)
from finhub.organizations.schemas import PermissionMatrixOut, RoleOut
from tests.organizations.conftest import MemberFactory, Org, Person, problem, user_caller


def _must_pass(response: Any) -> None:
    assert response.status_code < 300, response.text


# One representative request per permission; each answers 2xx when allowed.
async def _try(permission: str, org: Org, who: Person, target: Person | None = None) -> Any:
    client: AsyncClient = who.client
    base = f"/v1/organizations/{org.id}"
    if permission == "org:manage":
        return await client.patch(base, json={"display_name": "Renamed"})
    if permission == "members:read":
        return await client.get(f"{base}/members")
    if permission == "members:manage":
        assert target is not None
        path = f"{base}/members/{target.member_ids[org.id]}"
        return await client.patch(path, json={"role": "maker"})
    if permission == "roles:manage":
        body = {"name": f"Role {who.user_id[-6:]}", "permissions": ["members:read"]}
        return await client.post(f"{base}/roles", json=body)
    if permission == "teams:manage":
        return await client.post(f"{base}/teams", json={"name": f"Team {who.user_id[-6:]}"})
    raise AssertionError(permission)


ACTIONS = ("org:manage", "members:read", "members:manage", "roles:manage", "teams:manage")


@pytest.mark.parametrize("role", BUILT_IN_ROLES)
@pytest.mark.parametrize("permission", ACTIONS)
async def test_each_built_in_role_is_allowed_or_refused_per_the_matrix(
    org: Org, add_member: MemberFactory, role: str, permission: str
) -> None:
    member = await add_member(org, role)
    target = await add_member(org, "viewer") if permission == "members:manage" else None
    response = await _try(permission, org, member, target)
    if permission in ROLE_PERMISSIONS[role]:
        _must_pass(response)
    else:
        problem(response, 403, "permission_denied")


def test_the_matrix_is_consistent() -> None:
    assert ROLE_PERMISSIONS["owner"] == frozenset(PERMISSIONS)
    assert set(PERMISSION_SCOPES) == set(PERMISSIONS)
    assert set(ROLE_PERMISSIONS) == set(BUILT_IN_ROLES)
    viewer = ROLE_PERMISSIONS["viewer"]
    assert all(p.endswith(":read") for p in viewer)
    assert "payments:create" in ROLE_PERMISSIONS["maker"]
    assert "payments:approve" not in ROLE_PERMISSIONS["maker"]
    assert "payments:approve" in ROLE_PERMISSIONS["approver"]
    assert "payments:create" not in ROLE_PERMISSIONS["approver"]
    assert {"api_keys:manage", "webhooks:manage"} <= ROLE_PERMISSIONS["developer"]


async def test_the_matrix_endpoint_shows_permissions_and_built_in_roles(
    org: Org, add_member: MemberFactory
) -> None:
    viewer = await add_member(org, "viewer")
    response = await viewer.client.get(f"/v1/organizations/{org.id}/permissions")
    assert response.status_code == 200, response.text
    matrix = PermissionMatrixOut.model_validate(response.json())
    assert [p.id for p in matrix.permissions] == list(PERMISSIONS)
    assert {r.id: frozenset(r.permissions) for r in matrix.roles} == ROLE_PERMISSIONS


# --- custom roles -----------------------------------------------------------------------------


async def _create_role(org: Org, name: str, permissions: list[str]) -> dict[str, Any]:
    response = await org.owner.client.post(
        f"/v1/organizations/{org.id}/roles", json={"name": name, "permissions": permissions}
    )
    assert response.status_code == 201, response.text
    role: dict[str, Any] = response.json()
    return role


async def test_custom_role_lifecycle(org: Org, add_member: MemberFactory) -> None:
    base = f"/v1/organizations/{org.id}/roles"
    role = await _create_role(org, "Bookkeeper", ["payments:read", "members:read"])
    assert RoleOut.model_validate(role).permissions == ["members:read", "payments:read"]
    assert (await org.owner.client.get(f"{base}/{role['id']}")).json() == role
    assert [r["id"] for r in (await org.owner.client.get(base)).json()["data"]] == [role["id"]]

    problem(
        await org.owner.client.post(
            base, json={"name": "bookkeeper", "permissions": ["audit:read"]}
        ),
        409,
        "role_name_taken",
    )
    changed = await org.owner.client.patch(
        f"{base}/{role['id']}", json={"permissions": ["teams:manage", "members:read"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["permissions"] == ["members:read", "teams:manage"]

    holder = await add_member(org, role["id"])
    problem(await org.owner.client.delete(f"{base}/{role['id']}"), 409, "role_in_use")
    member_path = f"/v1/organizations/{org.id}/members/{holder.member_ids[org.id]}"
    _must_pass(await org.owner.client.patch(member_path, json={"role": "viewer"}))
    deleted = await org.owner.client.delete(f"{base}/{role['id']}")
    assert deleted.json() == {"object": "organization_role", "id": role["id"], "deleted": True}
    problem(await org.owner.client.get(f"{base}/{role['id']}"), 404, "role_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Admin", "permissions": ["members:read"]},  # a built-in role's name
        {"name": "X", "permissions": []},
        {"name": "X", "permissions": ["payments:steal"]},
        {"name": "", "permissions": ["members:read"]},
        {"name": "X", "permissions": ["members:read"], "extra": 1},
    ],
)
async def test_invalid_custom_roles_are_refused(org: Org, body: dict[str, Any]) -> None:
    base = f"/v1/organizations/{org.id}/roles"
    problem(await org.owner.client.post(base, json=body), 422, "validation_error")
    assert (await org.owner.client.get(base)).json()["data"] == []


async def test_a_custom_role_grants_exactly_its_permissions(
    org: Org, add_member: MemberFactory
) -> None:
    role = await _create_role(org, "Team lead", ["members:read", "teams:manage"])
    lead = await add_member(org, role["id"])
    _must_pass(await _try("teams:manage", org, lead))
    _must_pass(await _try("members:read", org, lead))
    problem(await _try("roles:manage", org, lead), 403, "permission_denied")
    problem(await _try("org:manage", org, lead), 403, "permission_denied")


async def test_nobody_builds_or_grants_a_role_beyond_their_own(
    org: Org, add_member: MemberFactory
) -> None:
    role = await _create_role(org, "Role admin", ["members:read", "roles:manage", "members:manage"])
    manager = await add_member(org, role["id"])
    base = f"/v1/organizations/{org.id}"
    escalate = {"name": "Payer", "permissions": ["payments:create"]}
    problem(await manager.client.post(f"{base}/roles", json=escalate), 403, "permission_denied")
    mine = await manager.client.post(
        f"{base}/roles", json={"name": "Reader", "permissions": ["members:read"]}
    )
    assert mine.status_code == 201, mine.text

    viewer = await add_member(org, "viewer")
    path = f"{base}/members/{viewer.member_ids[org.id]}"
    problem(await manager.client.patch(path, json={"role": "admin"}), 403, "permission_denied")
    own = f"{base}/members/{manager.member_ids[org.id]}"
    problem(await manager.client.patch(own, json={"role": "admin"}), 403, "permission_denied")
    # viewer holds payments:read and balances:read, which this role lacks
    problem(
        await manager.client.patch(path, json={"role": mine.json()["id"]}), 403, "permission_denied"
    )
    members = (await org.owner.client.get(f"{base}/members/{viewer.member_ids[org.id]}")).json()
    assert members["role"] == "viewer"


# --- members ----------------------------------------------------------------------------------


async def test_role_changes_take_effect_on_the_next_request(
    org: Org, add_member: MemberFactory
) -> None:
    maker = await add_member(org, "admin")
    teams = f"/v1/organizations/{org.id}/teams"
    _must_pass(await maker.client.post(teams, json={"name": "Finance"}))
    path = f"/v1/organizations/{org.id}/members/{maker.member_ids[org.id]}"
    changed = await org.owner.client.patch(path, json={"role": "viewer"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["role"], changed.json()["role_name"]) == ("viewer", "viewer")
    problem(await maker.client.post(teams, json={"name": "Sales"}), 403, "permission_denied")
    names = [t["name"] for t in (await org.owner.client.get(teams)).json()["data"]]
    assert names == ["Finance"]


async def test_removed_members_lose_access_at_once(org: Org, add_member: MemberFactory) -> None:
    viewer = await add_member(org, "viewer")
    base = f"/v1/organizations/{org.id}"
    _must_pass(await viewer.client.get(base))
    removed = await org.owner.client.delete(f"{base}/members/{viewer.member_ids[org.id]}")
    assert removed.json() == {
        "object": "organization_member",
        "id": viewer.member_ids[org.id],
        "deleted": True,
    }
    problem(await viewer.client.get(base), 404, "organization_not_found")
    assert (await viewer.client.get("/v1/organizations")).json()["data"] == []


async def test_a_member_may_leave(org: Org, add_member: MemberFactory) -> None:
    viewer = await add_member(org, "viewer")
    base = f"/v1/organizations/{org.id}"
    other = await add_member(org, "viewer")
    # leaving is allowed, removing someone else is not
    problem(
        await viewer.client.delete(f"{base}/members/{other.member_ids[org.id]}"),
        403,
        "permission_denied",
    )
    _must_pass(await viewer.client.delete(f"{base}/members/{viewer.member_ids[org.id]}"))
    problem(await viewer.client.get(base), 404, "organization_not_found")


async def test_the_last_owner_is_protected(org: Org, add_member: MemberFactory) -> None:
    base = f"/v1/organizations/{org.id}/members"
    owner_path = f"{base}/{org.owner.member_ids[org.id]}"
    problem(await org.owner.client.patch(owner_path, json={"role": "admin"}), 409, "last_owner")
    problem(await org.owner.client.delete(owner_path), 409, "last_owner")
    admin = await add_member(org, "admin")
    problem(await admin.client.delete(owner_path), 403, "owner_required")
    problem(await admin.client.patch(owner_path, json={"role": "viewer"}), 403, "owner_required")
    assert (await org.owner.client.get(owner_path)).json()["role"] == "owner"

    # with a second owner, the first may step down and then leave
    admin_path = f"{base}/{admin.member_ids[org.id]}"
    problem(await admin.client.patch(admin_path, json={"role": "owner"}), 403, "owner_required")
    _must_pass(await org.owner.client.patch(admin_path, json={"role": "owner"}))
    _must_pass(await org.owner.client.patch(owner_path, json={"role": "viewer"}))
    _must_pass(await org.owner.client.delete(owner_path))
    problem(await admin.client.delete(admin_path), 409, "last_owner")


async def test_unknown_roles_and_members(org: Org, add_member: MemberFactory) -> None:
    viewer = await add_member(org, "viewer")
    path = f"/v1/organizations/{org.id}/members/{viewer.member_ids[org.id]}"
    problem(await org.owner.client.patch(path, json={"role": "boss"}), 422, "validation_error")
    problem(await org.owner.client.patch(path, json={"role": "role_nope"}), 404, "role_not_found")
    problem(
        await org.owner.client.patch(
            f"/v1/organizations/{org.id}/members/mem_nope", json={"role": "viewer"}
        ),
        404,
        "member_not_found",
    )
    assert (await org.owner.client.get(path)).json()["role"] == "viewer"


async def test_two_owners_stepping_down_at_once_leave_one_owner(
    org: Org, add_member: MemberFactory, db: Database, clock: OffsetClock
) -> None:
    second = await add_member(org, "owner")

    async def step_down(user_id: str, member_id: str) -> str:
        try:
            async with db.transaction() as conn:
                await members.change_role(
                    conn, user_caller(user_id, clock.now()), org.id, member_id, "admin"
                )
        except LastOwner:
            return "refused"
        return "demoted"

    outcomes = await asyncio.gather(
        step_down(org.owner.user_id, org.owner.member_ids[org.id]),
        step_down(second.user_id, second.member_ids[org.id]),
    )
    assert sorted(outcomes) == ["demoted", "refused"]
    listed = (await org.owner.client.get(f"/v1/organizations/{org.id}/members")).json()["data"]
    assert [m["role"] for m in listed].count("owner") == 1


async def test_members_are_paged(org: Org, add_member: MemberFactory) -> None:
    added = [await add_member(org, "viewer") for _ in range(3)]
    base = f"/v1/organizations/{org.id}/members"
    first = (await org.owner.client.get(base, params={"limit": 2})).json()
    second = (
        await org.owner.client.get(
            base, params={"limit": 2, "starting_after": first["next_starting_after"]}
        )
    ).json()
    seen = [m["id"] for m in first["data"] + second["data"]]
    expected = [p.member_ids[org.id] for p in reversed(added)] + [org.owner.member_ids[org.id]]
    assert seen == expected
    assert (first["has_more"], second["has_more"]) == (True, False)
