"""Teams (departments): create, rename, delete, and choose members of the organisation."""

from __future__ import annotations

from typing import Any

from finhub.organizations.schemas import TeamOut
from tests.organizations.conftest import MemberFactory, Org, OrgFactory, problem


async def _team(org: Org, name: str) -> dict[str, Any]:
    response = await org.owner.client.post(f"/v1/organizations/{org.id}/teams", json={"name": name})
    assert response.status_code == 201, response.text
    team: dict[str, Any] = response.json()
    return team


async def test_team_lifecycle(org: Org) -> None:
    base = f"/v1/organizations/{org.id}/teams"
    finance = TeamOut.model_validate(await _team(org, "Finance"))
    assert (finance.name, finance.member_count, finance.description) == ("Finance", 0, None)
    sales = await _team(org, "Sales")
    listed = (await org.owner.client.get(base)).json()["data"]
    assert [t["id"] for t in listed] == [sales["id"], finance.id]

    problem(await org.owner.client.post(base, json={"name": "finance"}), 409, "team_name_taken")
    problem(
        await org.owner.client.patch(f"{base}/{sales['id']}", json={"name": "FINANCE"}),
        409,
        "team_name_taken",
    )
    renamed = await org.owner.client.patch(
        f"{base}/{sales['id']}", json={"name": "Sales EMEA", "description": "Europe"}
    )
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Sales EMEA", "Europe")
    problem(
        await org.owner.client.patch(f"{base}/{sales['id']}", json={"name": None}),
        422,
        "validation_error",
    )

    deleted = await org.owner.client.delete(f"{base}/{finance.id}")
    assert deleted.json() == {"object": "organization_team", "id": finance.id, "deleted": True}
    problem(await org.owner.client.get(f"{base}/{finance.id}"), 404, "team_not_found")
    assert [t["id"] for t in (await org.owner.client.get(base)).json()["data"]] == [sales["id"]]


async def test_team_members_must_belong_to_the_organisation(
    org: Org, make_org: OrgFactory, add_member: MemberFactory
) -> None:
    team = await _team(org, "Treasury")
    members_path = f"/v1/organizations/{org.id}/teams/{team['id']}/members"
    maker = await add_member(org, "maker")
    maker_id = maker.member_ids[org.id]

    added = await org.owner.client.post(members_path, json={"member_id": maker_id})
    assert added.status_code == 201, added.text
    assert added.json()["team_ids"] == [team["id"]]
    again = await org.owner.client.post(members_path, json={"member_id": maker_id})
    assert again.status_code == 200
    listed = (await org.owner.client.get(members_path)).json()["data"]
    assert [m["id"] for m in listed] == [maker_id]
    team_now = await org.owner.client.get(f"/v1/organizations/{org.id}/teams/{team['id']}")
    assert team_now.json()["member_count"] == 1

    other = await make_org()
    outsider = other.owner.member_ids[other.id]
    problem(
        await org.owner.client.post(members_path, json={"member_id": outsider}),
        404,
        "member_not_found",
    )

    removed = await org.owner.client.delete(f"{members_path}/{maker_id}")
    assert removed.status_code == 200, removed.text
    problem(await org.owner.client.delete(f"{members_path}/{maker_id}"), 404, "member_not_found")
    assert (await org.owner.client.get(members_path)).json()["data"] == []
    member = await org.owner.client.get(f"/v1/organizations/{org.id}/members/{maker_id}")
    assert member.json()["team_ids"] == []


async def test_removing_a_member_or_team_removes_the_pairing(
    org: Org, add_member: MemberFactory
) -> None:
    team = await _team(org, "Audit")
    members_path = f"/v1/organizations/{org.id}/teams/{team['id']}/members"
    viewer = await add_member(org, "viewer")
    viewer_id = viewer.member_ids[org.id]
    await org.owner.client.post(members_path, json={"member_id": viewer_id})
    await org.owner.client.delete(f"/v1/organizations/{org.id}/members/{viewer_id}")
    assert (await org.owner.client.get(members_path)).json()["data"] == []

    other = await add_member(org, "viewer")
    await org.owner.client.post(members_path, json={"member_id": other.member_ids[org.id]})
    await org.owner.client.delete(f"/v1/organizations/{org.id}/teams/{team['id']}")
    member = await org.owner.client.get(
        f"/v1/organizations/{org.id}/members/{other.member_ids[org.id]}"
    )
    assert member.json()["team_ids"] == []


async def test_team_management_needs_teams_manage(org: Org, add_member: MemberFactory) -> None:
    team = await _team(org, "Legal")
    maker = await add_member(org, "maker")
    base = f"/v1/organizations/{org.id}/teams"
    problem(await maker.client.post(base, json={"name": "Mine"}), 403, "permission_denied")
    problem(
        await maker.client.patch(f"{base}/{team['id']}", json={"name": "X"}),
        403,
        "permission_denied",
    )
    problem(await maker.client.delete(f"{base}/{team['id']}"), 403, "permission_denied")
    problem(
        await maker.client.post(
            f"{base}/{team['id']}/members", json={"member_id": maker.member_ids[org.id]}
        ),
        403,
        "permission_denied",
    )
    assert (await maker.client.get(f"{base}/{team['id']}")).json()["name"] == "Legal"
