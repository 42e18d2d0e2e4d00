"""Fixtures for the organisation tests: signed-in people with their own HTTP clients, and
organisations created through the API with members in given roles."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.ids import new_id
from finhub.organizations import repository
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
