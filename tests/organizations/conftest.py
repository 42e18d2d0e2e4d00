"""Fixtures for the organisation tests: signed-in people with their own HTTP clients, and
organisations created through the API with members in given roles."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from finhub.audit.service import AuditContext
from finhub.config import Settings
from finhub.identity.principal import Principal
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.organizations import invitations, repository
from finhub.organizations.access import Caller
from finhub.organizations.schemas import InvitationCreate
from tests.factories import create_user, session_token

BASE_URL = "http://finhub.test"


@dataclass
class Person:
    user_id: str
    email: str
    client: AsyncClient  # an aal 2 session
    member_ids: dict[str, str] = field(default_factory=dict)  # organisation id -> member id


@dataclass
class Org:
    id: str
    owner: Person
    payload: dict[str, Any]


PersonFactory = Callable[..., Awaitable[Person]]
OrgFactory = Callable[..., Awaitable[Org]]


def registration() -> str:
    """A registration number no other test uses."""
    return "HRB " + new_id("org")[-12:]


@pytest.fixture
async def make_person(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> AsyncIterator[PersonFactory]:
    clients: list[AsyncClient] = []

    async def make(*, email: str | None = None, verified: bool = True) -> Person:
        email = email or f"{new_id('usr').lower()}@example.com"
        async with db.transaction() as conn:
            user_id = await create_user(conn, email=email)
            if not verified:
                await conn.execute(
                    "UPDATE users SET email_verified_at = NULL WHERE id = %s", (user_id,)
                )
            token = await session_token(conn, user_id=user_id, settings=settings, clock=clock)
        client = AsyncClient(
            transport=ASGITransport(app=app),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {token}"},
        )
        clients.append(client)
        return Person(user_id, email, client)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def make_org(make_person: PersonFactory, db: Database, clock: OffsetClock) -> OrgFactory:
    """An organisation founded through the API, plus members added directly in given roles."""

    async def make(**fields: Any) -> Org:
        owner = await make_person()
        body = {
            "legal_name": "Acme Trading GmbH",
            "registration_number": registration(),
            "country": "DE",
            **fields,
        }
        response = await owner.client.post("/v1/organizations", json=body)
        assert response.status_code == 201, response.text
        payload = response.json()
        members = await owner.client.get(f"/v1/organizations/{payload['id']}/members")
        owner.member_ids[payload["id"]] = members.json()["data"][0]["id"]
        return Org(payload["id"], owner, payload)

    return make


@pytest.fixture
async def org(make_org: OrgFactory) -> Org:
    return await make_org()


MemberFactory = Callable[[Org, str], Awaitable[Person]]


@pytest.fixture
async def add_member(make_person: PersonFactory, db: Database, clock: OffsetClock) -> MemberFactory:
    """A new person who is a member of `org` with `role` (a built-in name or `role_…` id)."""

    async def add(org: Org, role: str) -> Person:
        person = await make_person()
        member_id = new_id("mem")
        async with db.transaction() as conn:
            await repository.insert_member(
                conn,
                member_id=member_id,
                organization_id=org.id,
                user_id=person.user_id,
                role=role,
                now=clock.now(),
            )
        person.member_ids[org.id] = member_id
        return person

    return add


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert a problem+json answer with the status and code; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


@dataclass
class SentMail:
    to: str
    subject: str
    text: str
    tag: str


@dataclass
class RecordingMailer:
    """Keeps queued mail in memory, for service-level tests that don't need delivery."""

    sent: list[SentMail] = field(default_factory=list)

    async def queue(
        self,
        conn: Connection,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        tag: str,
    ) -> str:
        self.sent.append(SentMail(to, subject, text, tag))
        return new_id("mail")


def user_caller(user_id: str, now: datetime) -> Caller:
    principal = Principal(kind="user", id=user_id, user_id=user_id)
    return Caller(principal, AuditContext("user", user_id), now)


def token_in(text: str) -> str:
    match = re.search(r"/invitations/accept\?token=(fht_[A-Za-z0-9_\-]+)", text)
    assert match is not None, text
    return match.group(1)


Inviter = Callable[..., Awaitable[tuple[dict[str, Any], str]]]


@pytest.fixture
def invite_directly(db: Database, clock: OffsetClock, settings: Settings) -> Inviter:
    """Invite through the service (committed), as the organisation's owner; returns the
    invitation row and the token its mail carried."""

    async def invite(
        org: Org, email: str, role: str = "viewer", team_ids: list[str] | None = None
    ) -> tuple[dict[str, Any], str]:
        mailer = RecordingMailer()
        body = InvitationCreate(email=email, role=role, team_ids=team_ids or [])
        async with db.transaction() as conn:
            invitation, token = await invitations.invite(
                conn,
                user_caller(org.owner.user_id, clock.now()),
                org.id,
                body,
                mailer=mailer,
                public_url=settings.public_url,
            )
        assert [mail.to for mail in mailer.sent] == [email]
        assert token_in(mailer.sent[0].text) == token
        return invitation, token

    return invite
