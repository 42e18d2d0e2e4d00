"""Another organisation's ids answer 404 on every organisation route and change nothing.

The routes are read from the router itself, so a route added later without a case here fails
the completeness check instead of going untested.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute

from finhub.organizations.endpoints import router
from tests.organizations.conftest import (
    Inviter,
    MemberFactory,
    Org,
    OrgFactory,
    Person,
)

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/v1/organizations/{organization_id}"): {"display_name": "Hijacked"},
    ("PATCH", "/v1/organizations/{organization_id}/members/{member_id}"): {"role": "viewer"},
    ("POST", "/v1/organizations/{organization_id}/roles"): {
        "name": "Hijack",
        "permissions": ["members:read"],
    },
    ("PATCH", "/v1/organizations/{organization_id}/roles/{role_id}"): {"name": "Hijacked"},
    ("POST", "/v1/organizations/{organization_id}/invitations"): {
        "email": "intruder@example.com",
        "role": "viewer",
    },
    ("POST", "/v1/organizations/{organization_id}/teams"): {"name": "Hijack"},
    ("PATCH", "/v1/organizations/{organization_id}/teams/{team_id}"): {"name": "Hijacked"},
    ("POST", "/v1/organizations/{organization_id}/teams/{team_id}/members"): {"member_id": ""},
}


def organisation_routes() -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in router.routes
        if isinstance(route, APIRoute) and "{organization_id}" in route.path
        for method in route.methods
    )


@dataclass
class World:
    org: Org
    member: Person
    ids: dict[str, str]


async def _world(make_org: OrgFactory, add_member: MemberFactory, invite: Inviter) -> World:
    org = await make_org()
    member = await add_member(org, "viewer")
    client = org.owner.client
    role = await client.post(
        f"/v1/organizations/{org.id}/roles", json={"name": "Mine", "permissions": ["audit:read"]}
    )
    team = await client.post(f"/v1/organizations/{org.id}/teams", json={"name": "Mine"})
    await client.post(
        f"/v1/organizations/{org.id}/teams/{team.json()['id']}/members",
        json={"member_id": member.member_ids[org.id]},
    )
    invitation, _ = await invite(org, f"invitee-{org.id[-8:].lower()}@example.com")
    ids = {
        "organization_id": org.id,
        "member_id": member.member_ids[org.id],
        "role_id": role.json()["id"],
        "team_id": team.json()["id"],
        "invitation_id": invitation["id"],
    }
    return World(org, member, ids)


async def _snapshot(world: World) -> list[Any]:
    client = world.org.owner.client
    base = f"/v1/organizations/{world.org.id}"
    paths = [
        base,
        f"{base}/members",
        f"{base}/roles",
        f"{base}/teams",
        f"{base}/invitations",
        f"{base}/teams/{world.ids['team_id']}/members",
    ]
    return [(await client.get(path)).json() for path in paths]


def test_every_route_with_a_body_has_one_here() -> None:
    needing = {
        (method, path) for method, path in organisation_routes() if method in {"POST", "PATCH"}
    }
    assert needing == set(BODIES)


@pytest.fixture
async def worlds(
    make_org: OrgFactory, add_member: MemberFactory, invite_directly: Inviter
) -> tuple[World, World]:
    return (
        await _world(make_org, add_member, invite_directly),
        await _world(make_org, add_member, invite_directly),
    )


async def test_another_organisations_ids_answer_404_everywhere(
    worlds: tuple[World, World],
) -> None:
    mine, theirs = worlds
    before = await _snapshot(theirs)
    for method, template in organisation_routes():
        body = dict(BODIES.get((method, template), {}))
        if "member_id" in body:
            body["member_id"] = theirs.ids["member_id"]
        # 1. their organisation, as an outsider
        response = await mine.org.owner.client.request(
            method, template.format(**theirs.ids), json=body or None
        )
        assert response.status_code == 404, (method, template, response.text)
        assert response.json()["code"] == "organization_not_found"
        # 2. my organisation, their objects in it
        if template.count("{") > 1 or "member_id" in body:
            mixed = {**theirs.ids, "organization_id": mine.org.id}
            response = await mine.org.owner.client.request(
                method, template.format(**mixed), json=body or None
            )
            assert response.status_code == 404, (method, template, response.text)
    assert await _snapshot(theirs) == before


async def test_my_team_cannot_take_their_member(worlds: tuple[World, World]) -> None:
    mine, theirs = worlds
    path = f"/v1/organizations/{mine.org.id}/teams/{mine.ids['team_id']}/members"
    response = await mine.org.owner.client.post(path, json={"member_id": theirs.ids["member_id"]})
    assert response.status_code == 404
    assert response.json()["code"] == "member_not_found"
