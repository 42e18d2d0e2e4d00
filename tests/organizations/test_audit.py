"""Every change to an organisation leaves an audit event, with before/after for changes and
the organisation set; refused requests leave none."""

from __future__ import annotations

from typing import Any

from finhub.kit.db import Database
from tests.organizations.conftest import Inviter, MemberFactory, Org, PersonFactory, problem


async def _events(db: Database, organization_id: str) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT action, actor_type, actor_id, subject_user_id, object_type, object_id,"
            " before, after FROM audit_events WHERE organization_id = %s ORDER BY seq",
            (organization_id,),
        )
        return await cursor.fetchall()


async def test_changes_are_audited(
    org: Org,
    add_member: MemberFactory,
    make_person: PersonFactory,
    invite_directly: Inviter,
    db: Database,
) -> None:
    client = org.owner.client
    base = f"/v1/organizations/{org.id}"
    await client.patch(base, json={"display_name": "Acme"})
    role = (
        await client.post(f"{base}/roles", json={"name": "R", "permissions": ["audit:read"]})
    ).json()
    await client.patch(f"{base}/roles/{role['id']}", json={"permissions": ["members:read"]})
    await client.delete(f"{base}/roles/{role['id']}")
    team = (await client.post(f"{base}/teams", json={"name": "T"})).json()
    maker = await add_member(org, "maker")
    maker_id = maker.member_ids[org.id]
    await client.post(f"{base}/teams/{team['id']}/members", json={"member_id": maker_id})
    await client.delete(f"{base}/teams/{team['id']}/members/{maker_id}")
    await client.patch(f"{base}/teams/{team['id']}", json={"name": "T2"})
    await client.delete(f"{base}/teams/{team['id']}")
    await client.patch(f"{base}/members/{maker_id}", json={"role": "viewer"})
    invitee = await make_person()
    invitation, token = await invite_directly(org, invitee.email)
    await invitee.client.post("/v1/organizations/invitations/accept", json={"token": token})
    second, _ = await invite_directly(org, "someone@example.com")
    await client.delete(f"{base}/invitations/{second['id']}")
    await client.delete(f"{base}/members/{maker_id}")
    await maker.client.get(base)  # reads are not audited
    problem(
        await maker.client.patch(base, json={"display_name": "x"}), 404, "organization_not_found"
    )

    events = await _events(db, org.id)
    assert [e["action"] for e in events] == [
        "organization.created",
        "organization.updated",
        "role.created",
        "role.updated",
        "role.deleted",
        "team.created",
        "team.member_added",
        "team.member_removed",
        "team.updated",
        "team.deleted",
        "member.role_changed",
        "invitation.sent",
        "invitation.accepted",
        "invitation.sent",
        "invitation.revoked",
        "member.removed",
    ]
    by_action = {e["action"]: e for e in events}
    changed = by_action["member.role_changed"]
    assert (changed["before"], changed["after"]) == ({"role": "maker"}, {"role": "viewer"})
    assert (changed["subject_user_id"], changed["object_id"]) == (maker.user_id, maker_id)
    assert (changed["actor_type"], changed["actor_id"]) == ("user", org.owner.user_id)
    assert by_action["organization.updated"]["before"] == {"display_name": None}
    assert by_action["organization.updated"]["after"] == {"display_name": "Acme"}
    assert by_action["role.updated"]["after"] == {"permissions": ["members:read"]}
    accepted = by_action["invitation.accepted"]
    assert (accepted["actor_id"], accepted["object_id"]) == (invitee.user_id, invitation["id"])
    assert by_action["member.removed"]["before"] == {"user_id": maker.user_id, "role": "viewer"}
    assert all("token" not in str(e) and "fht_" not in str(e) for e in events)


async def test_leaving_is_audited_as_such(
    org: Org, add_member: MemberFactory, db: Database
) -> None:
    viewer = await add_member(org, "viewer")
    await viewer.client.delete(f"/v1/organizations/{org.id}/members/{viewer.member_ids[org.id]}")
    left = (await _events(db, org.id))[-1]
    assert (left["action"], left["actor_id"], left["subject_user_id"]) == (
        "member.left",
        viewer.user_id,
        viewer.user_id,
    )
