"""Invitations by email: a single-use link that makes the invited person a member.

The link's token lives in `one_time_tokens` (purpose `org_invitation`, 7 days); accepting uses
it up in the same statement that checks it, so a replay fails. Only a signed-in person whose
verified address is the invited one can accept; a wrong person's attempt changes nothing and
leaves the link usable by the right one. A new invitation to the same address replaces the
open one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from finhub.audit.service import record
from finhub.identity import service as identity
from finhub.identity import tokens
from finhub.identity.principal import Principal
from finhub.kit.db.engine import Connection, Row
from finhub.kit.ids import new_id
from finhub.organizations import repository
from finhub.organizations.access import Actor, Caller, authorize
from finhub.organizations.errors import (
    AlreadyMember,
    InvitationClosed,
    InvitationEmailMismatch,
    InvitationNotFound,
    TeamNotFound,
)
from finhub.organizations.members import find_member, permissions_of_role
from finhub.organizations.schemas import InvitationCreate
from finhub.organizations.service import person_id

TOKEN_PURPOSE = "org_invitation"  # noqa: S105 (a label, not a secret)
INVITATION_TTL = timedelta(days=7)


class MailQueue(Protocol):
    """The part of `finhub.notifications.mail.Mailer` invitations use."""

    async def queue(
        self,
        conn: Connection,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        tag: str,
    ) -> str: ...


async def invite(
    conn: Connection,
    caller: Caller,
    organization_id: str,
    data: InvitationCreate,
    *,
    mailer: MailQueue,
    public_url: str,
) -> tuple[Row, str]:
    """Invite someone by email; returns the invitation and the secret token the mail carries."""
    await repository.lock_organization(conn, organization_id)
    actor = await authorize(conn, caller.principal, organization_id, "members:manage")
    actor.may_grant(data.role, await permissions_of_role(conn, organization_id, data.role))
    await _require_teams(conn, organization_id, data.team_ids)
    email = identity.normalise_email(data.email)
    if await repository.is_member_email(conn, organization_id, email):
        raise AlreadyMember("Someone with that email address is a member already.")
    replaced = await repository.open_invitation_for(conn, organization_id, email)
    if replaced is not None:
        await _close(conn, replaced["id"], "revoked", caller.now)
    invitation_id = new_id("inv")
    expires_at = caller.now + INVITATION_TTL
    await repository.insert_invitation(
        conn,
        invitation_id=invitation_id,
        organization_id=organization_id,
        email=data.email,
        email_normalized=email,
        role=data.role,
        team_ids=sorted(set(data.team_ids)),
        invited_by=caller.principal.id,
        now=caller.now,
        expires_at=expires_at,
    )
    token = await tokens.issue(
        conn,
        purpose=TOKEN_PURPOSE,
        subject_id=invitation_id,
        ttl=INVITATION_TTL,
        now=caller.now,
        data={"organization_id": organization_id},
    )
    invitation = await _invitation(conn, organization_id, invitation_id)
    await _send(conn, mailer, public_url, actor, invitation, token)
    await record(
        conn,
        caller.audit,
        "invitation.sent",
        organization_id=organization_id,
        object_type="organization_invitation",
        object_id=invitation_id,
        after={"email": data.email, "role": data.role, "team_ids": invitation["team_ids"]},
        details={"replaced_invitation_id": replaced["id"]} if replaced else None,
    )
    return invitation, token


async def list_invitations(
    conn: Connection,
    principal: Principal,
    organization_id: str,
    *,
    status: str | None,
    limit: int,
    starting_after: str | None,
) -> list[Row]:
    await authorize(conn, principal, organization_id, "members:read")
    return await repository.list_invitations(
        conn, organization_id, status=status, limit=limit, starting_after=starting_after
    )


async def get_invitation(
    conn: Connection, principal: Principal, organization_id: str, invitation_id: str
) -> Row:
    await authorize(conn, principal, organization_id, "members:read")
    return await _invitation(conn, organization_id, invitation_id)


async def revoke(conn: Connection, caller: Caller, organization_id: str, invitation_id: str) -> Row:
    await authorize(conn, caller.principal, organization_id, "members:manage")
    invitation = await _invitation(conn, organization_id, invitation_id)
    if invitation["status"] != "pending":
        raise InvitationClosed(f"The invitation is {invitation['status']} already.")
    await _close(conn, invitation_id, "revoked", caller.now)
    revoked = await _invitation(conn, organization_id, invitation_id)
    await record(
        conn,
        caller.audit,
        "invitation.revoked",
        organization_id=organization_id,
        object_type="organization_invitation",
        object_id=invitation_id,
        before={"status": "pending"},
        after={"status": "revoked"},
    )
    return revoked


async def preview(conn: Connection, token: str, now: datetime) -> tuple[Row, Row]:
    """What an open invitation offers (invitation, organisation), without using the token."""
    found = await tokens.peek(conn, purpose=TOKEN_PURPOSE, token=token, now=now)
    invitation = await repository.invitation_for_token(conn, found.subject_id)
    if invitation is None or invitation["status"] != "pending":
        raise tokens.InvalidToken("The token is invalid, expired or already used.")
    organization = await repository.get_organization(conn, invitation["organization_id"])
    assert organization is not None  # invitations reference their organisation
    return invitation, organization


async def accept(conn: Connection, caller: Caller, token: str) -> Row:
    """Make the signed-in person a member with the invited role (and teams)."""
    user_id = person_id(caller.principal)
    found = await tokens.consume(conn, purpose=TOKEN_PURPOSE, token=token, now=caller.now)
    invitation = await repository.invitation_for_token(conn, found.subject_id)
    if invitation is None or invitation["status"] != "pending":
        raise tokens.InvalidToken("The token is invalid, expired or already used.")
    await _require_invited_person(conn, user_id, invitation)
    organization_id = invitation["organization_id"]
    await repository.lock_organization(conn, organization_id)
    member_id = new_id("mem")
    joined = await repository.insert_member(
        conn,
        member_id=member_id,
        organization_id=organization_id,
        user_id=user_id,
        role=invitation["role"],
        now=caller.now,
    )
    if not joined:
        raise AlreadyMember("You are a member of this organisation already.")
    await repository.add_team_members(
        conn, organization_id, invitation["team_ids"], member_id, caller.now
    )
    await _close(conn, invitation["id"], "accepted", caller.now, accepted_by=user_id)
    member = await find_member(conn, organization_id, member_id)
    await record(
        conn,
        caller.audit,
        "invitation.accepted",
        subject_user_id=user_id,
        organization_id=organization_id,
        object_type="organization_invitation",
        object_id=invitation["id"],
        after={"member_id": member_id, "role": invitation["role"]},
    )
    return member


async def _require_invited_person(conn: Connection, user_id: str, invitation: Row) -> None:
    person = await identity.profile(conn, user_id)
    if (
        not person["email_verified"]
        or identity.normalise_email(person["email"]) != invitation["email_normalized"]
    ):
        # Raising rolls back the token's use: the invited person can still accept.
        raise InvitationEmailMismatch(
            "This invitation is for another email address; sign in with the invited, "
            "verified address to accept it."
        )


async def _require_teams(conn: Connection, organization_id: str, team_ids: list[str]) -> None:
    missing = set(team_ids) - await repository.existing_team_ids(conn, organization_id, team_ids)
    if missing:
        raise TeamNotFound("No such team in this organisation.", team_ids=sorted(missing))


async def _invitation(conn: Connection, organization_id: str, invitation_id: str) -> Row:
    invitation = await repository.get_invitation(conn, organization_id, invitation_id)
    if invitation is None:
        raise InvitationNotFound("No such invitation in this organisation.")
    return invitation


async def _close(
    conn: Connection, invitation_id: str, status: str, now: datetime, accepted_by: str | None = None
) -> None:
    await repository.close_invitation(
        conn, invitation_id, status=status, now=now, accepted_by=accepted_by
    )
    await tokens.revoke_all(conn, purpose=TOKEN_PURPOSE, subject_id=invitation_id, now=now)


async def _send(
    conn: Connection,
    mailer: MailQueue,
    public_url: str,
    actor: Actor,
    invitation: Row,
    token: str,
) -> None:
    organization = await repository.get_organization(conn, invitation["organization_id"])
    assert organization is not None
    name = organization["display_name"] or organization["legal_name"]
    inviter = await _inviter_name(conn, actor)
    link = f"{public_url.rstrip('/')}/invitations/accept?token={token}"
    text = (
        f"{inviter} invited you to join {name} on finhub as {invitation['role_name']}.\n\n"
        f"Accept the invitation here (sign in or create an account with this email address "
        f"first):\n{link}\n\n"
        f"The link works once and expires on {invitation['expires_at']:%Y-%m-%d %H:%M} UTC. "
        f"If you don't know {name}, ignore this message."
    )
    await mailer.queue(
        conn,
        to=invitation["email"],
        subject=f"You're invited to join {name} on finhub",
        text=text,
        tag=TOKEN_PURPOSE,
    )


async def _inviter_name(conn: Connection, actor: Actor) -> str:
    if actor.principal.user_id is None:
        return "An administrator"  # the organisation's own API key
    person = await identity.profile(conn, actor.principal.user_id)
    return str(person["display_name"] or person["email"])
