"""Invitations by email: sending, previewing, accepting once by the invited person only, and
the replayed, revoked, replaced and expired cases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.organizations.invitations import INVITATION_TTL
from finhub.organizations.schemas import InvitationOut, InvitationPreviewOut, MemberOut
from tests.organizations.conftest import (
    Inviter,
    MemberFactory,
    Org,
    OrgFactory,
    PersonFactory,
    problem,
    token_in,
)

ACCEPT = "/v1/organizations/invitations/accept"
PREVIEW = "/v1/organizations/invitations/preview"


async def _invitations(org: Org) -> list[dict[str, Any]]:
    response = await org.owner.client.get(f"/v1/organizations/{org.id}/invitations")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def _members(org: Org) -> list[dict[str, Any]]:
    response = await org.owner.client.get(f"/v1/organizations/{org.id}/members")
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_invite_by_email_and_accept(
    org: Org, make_person: PersonFactory, db: Database
) -> None:
    team = await org.owner.client.post(f"/v1/organizations/{org.id}/teams", json={"name": "Ops"})
    invitee = await make_person()
    body = {"email": invitee.email.upper(), "role": "maker", "team_ids": [team.json()["id"]]}
    response = await org.owner.client.post(f"/v1/organizations/{org.id}/invitations", json=body)
    assert response.status_code == 201, response.text
    invitation = InvitationOut.model_validate(response.json())
    assert (invitation.status, invitation.role, invitation.role_name) == (
        "pending",
        "maker",
        "maker",
    )

    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT to_address, subject, text_body, tag FROM outbound_mail"
            " WHERE lower(to_address) = %s ORDER BY id",
            (invitee.email,),
        )
        mails = await cursor.fetchall()
    assert len(mails) == 1
    assert mails[0]["tag"] == "org_invitation"
    assert "Acme Trading GmbH" in mails[0]["subject"]
    assert "http://finhub.test/invitations/accept?token=fht_" in mails[0]["text_body"]
    token = token_in(mails[0]["text_body"])

    accepted = await invitee.client.post(ACCEPT, json={"token": token})
    assert accepted.status_code == 201, accepted.text
    member = MemberOut.model_validate(accepted.json())
    assert (member.user_id, member.role, member.team_ids) == (
        invitee.user_id,
        "maker",
        [team.json()["id"]],
    )
    assert [i["status"] for i in await _invitations(org)] == ["accepted"]
    assert (await invitee.client.get(f"/v1/organizations/{org.id}")).status_code == 200

    problem(await invitee.client.post(ACCEPT, json={"token": token}), 400, "invalid_token")


async def test_accepting_through_a_directly_queued_invitation(
    org: Org, make_person: PersonFactory, invite_directly: Inviter
) -> None:
    invitee = await make_person()
    _, token = await invite_directly(org, invitee.email, "approver")
    accepted = await invitee.client.post(ACCEPT, json={"token": token})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["role"] == "approver"
    roles = {m["user_id"]: m["role"] for m in await _members(org)}
    assert roles == {org.owner.user_id: "owner", invitee.user_id: "approver"}


async def test_only_the_invited_verified_address_can_accept(
    org: Org, make_person: PersonFactory, invite_directly: Inviter
) -> None:
    invited_email = f"invited-{org.id[-10:].lower()}@example.com"
    _, token = await invite_directly(org, invited_email, "viewer")
    someone_else = await make_person()
    problem(
        await someone_else.client.post(ACCEPT, json={"token": token}),
        403,
        "invitation_email_mismatch",
    )
    problem(
        await someone_else.client.get(f"/v1/organizations/{org.id}"), 404, "organization_not_found"
    )

    # the right address, not yet verified
    unverified = await make_person(email=invited_email.upper(), verified=False)
    problem(
        await unverified.client.post(ACCEPT, json={"token": token}),
        403,
        "invitation_email_mismatch",
    )
    assert len(await _members(org)) == 1
    assert [i["status"] for i in await _invitations(org)] == ["pending"]


async def test_the_wrong_person_does_not_use_up_the_link(
    org: Org, make_person: PersonFactory, invite_directly: Inviter
) -> None:
    invitee = await make_person()
    _, token = await invite_directly(org, invitee.email)
    intruder = await make_person()
    problem(
        await intruder.client.post(ACCEPT, json={"token": token}), 403, "invitation_email_mismatch"
    )
    assert (await invitee.client.post(ACCEPT, json={"token": token})).status_code == 201


async def test_expired_invitations_fail(
    org: Org, make_person: PersonFactory, invite_directly: Inviter, clock: OffsetClock
) -> None:
    invitee = await make_person()
    _, token = await invite_directly(org, invitee.email)
    clock.advance(INVITATION_TTL + timedelta(minutes=1))
    problem(await invitee.client.post(ACCEPT, json={"token": token}), 400, "invalid_token")
    problem(await invitee.client.post(PREVIEW, json={"token": token}), 400, "invalid_token")
    assert [i["status"] for i in await _invitations(org)] == ["expired"]
    # an expired invitation can be sent again
    _, fresh = await invite_directly(org, invitee.email)
    assert (await invitee.client.post(ACCEPT, json={"token": fresh})).status_code == 201


async def test_revoked_invitations_fail(
    org: Org, make_person: PersonFactory, invite_directly: Inviter
) -> None:
    invitee = await make_person()
    invitation, token = await invite_directly(org, invitee.email)
    path = f"/v1/organizations/{org.id}/invitations/{invitation['id']}"
    revoked = await org.owner.client.delete(path)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    problem(await invitee.client.post(ACCEPT, json={"token": token}), 400, "invalid_token")
    problem(await org.owner.client.delete(path), 409, "invitation_closed")
    assert len(await _members(org)) == 1


async def test_a_new_invitation_replaces_the_open_one(
    org: Org, make_person: PersonFactory, invite_directly: Inviter
) -> None:
    invitee = await make_person()
    _, old = await invite_directly(org, invitee.email, "viewer")
    _, new = await invite_directly(org, invitee.email, "maker")
    assert [i["status"] for i in await _invitations(org)] == ["pending", "revoked"]
    problem(await invitee.client.post(ACCEPT, json={"token": old}), 400, "invalid_token")
    accepted = await invitee.client.post(ACCEPT, json={"token": new})
    assert accepted.json()["role"] == "maker"


async def test_preview_shows_the_offer_without_using_the_token(
    org: Org, make_person: PersonFactory, invite_directly: Inviter, anonymous_client: Any
) -> None:
    invitee = await make_person()
    invitation, token = await invite_directly(org, invitee.email, "developer")
    response = await anonymous_client.post(PREVIEW, json={"token": token})
    assert response.status_code == 200, response.text
    preview = InvitationPreviewOut.model_validate(response.json())
    assert (preview.id, preview.organization_name, preview.role) == (
        invitation["id"],
        "Acme Trading GmbH",
        "developer",
    )
    problem(await anonymous_client.post(PREVIEW, json={"token": "fht_nope"}), 400, "invalid_token")
    problem(await anonymous_client.post(ACCEPT, json={"token": token}), 401, "unauthorized")
    assert (await invitee.client.post(ACCEPT, json={"token": token})).status_code == 201


async def test_invitation_rules(
    org: Org, make_org: OrgFactory, add_member: MemberFactory, make_person: PersonFactory
) -> None:
    base = f"/v1/organizations/{org.id}/invitations"
    member = await add_member(org, "viewer")
    problem(
        await org.owner.client.post(base, json={"email": member.email, "role": "viewer"}),
        409,
        "already_member",
    )
    other = await make_org()
    foreign_team = await other.owner.client.post(
        f"/v1/organizations/{other.id}/teams", json={"name": "Theirs"}
    )
    body = {"email": "x@example.com", "role": "viewer", "team_ids": [foreign_team.json()["id"]]}
    problem(await org.owner.client.post(base, json=body), 404, "team_not_found")
    admin = await add_member(org, "admin")
    problem(
        await admin.client.post(base, json={"email": "y@example.com", "role": "owner"}),
        403,
        "owner_required",
    )
    problem(
        await member.client.post(base, json={"email": "z@example.com", "role": "viewer"}),
        403,
        "permission_denied",
    )
    for bad in ({"email": "not-an-address", "role": "viewer"}, {"email": "a@b.co", "role": "god"}):
        problem(await org.owner.client.post(base, json=bad), 422, "validation_error")
    assert await _invitations(org) == []


async def test_an_invited_custom_role_cannot_be_deleted(
    org: Org, make_person: PersonFactory, invite_directly: Inviter
) -> None:
    role = await org.owner.client.post(
        f"/v1/organizations/{org.id}/roles",
        json={"name": "Clerk", "permissions": ["payments:read"]},
    )
    role_path = f"/v1/organizations/{org.id}/roles/{role.json()['id']}"
    invitation, _ = await invite_directly(org, "clerk@example.com", role.json()["id"])
    body = problem(await org.owner.client.delete(role_path), 409, "role_in_use")
    assert (body["members"], body["invitations"]) == (0, 1)
    revoke = f"/v1/organizations/{org.id}/invitations/{invitation['id']}"
    assert (await org.owner.client.delete(revoke)).status_code == 200
    assert (await org.owner.client.delete(role_path)).status_code == 200
    closed = await org.owner.client.get(revoke)
    assert (closed.json()["status"], closed.json()["role"]) == ("revoked", None)
