"""Support tickets over the API: a person's own tickets, the staff queue, the thread's states,
notifications, audit records, and who may see what."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.factories import create_staff, create_user, session_token

TICKET = {
    "subject": "My card top-up was declined",
    "category": "cards",
    "message": "I tried to top up 50 EUR with my Visa and it was declined twice.",
}


@pytest.fixture
async def client(app: Any) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://finhub.test") as c:
        yield c


@pytest.fixture
def person(db: Database, settings: Settings, clock: OffsetClock) -> Any:
    async def make() -> tuple[str, dict[str, str]]:
        async with db.transaction() as conn:
            user_id = await create_user(conn)
            token = await session_token(conn, user_id=user_id, settings=settings, clock=clock)
        return user_id, bearer(token)

    return make


@pytest.fixture
def staff(db: Database, settings: Settings, clock: OffsetClock) -> Any:
    async def make(role: str = "support") -> tuple[str, dict[str, str]]:
        async with db.transaction() as conn:
            staff_id = await create_staff(conn, roles=(role,))
            token = await session_token(conn, staff_id=staff_id, settings=settings, clock=clock)
        return staff_id, bearer(token)

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def open_ticket(client: AsyncClient, headers: dict[str, str], **changes: Any) -> Any:
    response = await client.post("/v1/support/tickets", json={**TICKET, **changes}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def audit_actions(db: Database, ticket_id: str) -> list[tuple[str, str, str | None]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT action, actor_type, subject_user_id FROM audit_events"
            " WHERE object_type = 'support_ticket' AND object_id = %s ORDER BY seq",
            (ticket_id,),
        )
        return [
            (r["action"], r["actor_type"], r["subject_user_id"]) for r in await cursor.fetchall()
        ]


# --- a person's tickets -------------------------------------------------------------------------


async def test_a_person_opens_a_ticket_and_reads_its_thread(
    client: AsyncClient, person: Any, db: Database
) -> None:
    user_id, headers = await person()
    ticket = await open_ticket(client, headers, subject="  Card declined  ")

    assert ticket["object"] == "support_ticket"
    assert ticket["id"].startswith("tkt_")
    assert (ticket["subject"], ticket["category"], ticket["status"]) == (
        "Card declined",
        "cards",
        "open",
    )
    assert ticket["message_count"] == 1
    assert "requester" not in ticket
    [message] = ticket["messages"]
    assert message["id"].startswith("tkm_")
    assert (message["author_type"], message["body"]) == ("user", TICKET["message"])
    assert "author_id" not in message

    read = await client.get(f"/v1/support/tickets/{ticket['id']}", headers=headers)
    assert read.status_code == 200
    assert read.json() == ticket
    assert await audit_actions(db, ticket["id"]) == [("support_ticket.opened", "user", user_id)]


async def test_my_tickets_are_listed_newest_first_in_pages(
    client: AsyncClient, person: Any
) -> None:
    _, headers = await person()
    first = await open_ticket(client, headers, subject="First")
    second = await open_ticket(client, headers, subject="Second")
    _, other = await person()
    await open_ticket(client, other, subject="Someone else's")

    page = (await client.get("/v1/support/tickets?limit=1", headers=headers)).json()
    assert [t["id"] for t in page["data"]] == [second["id"]]
    assert page["has_more"] is True
    assert "messages" not in page["data"][0]
    rest = await client.get(
        "/v1/support/tickets",
        params={"limit": 1, "starting_after": page["next_starting_after"]},
        headers=headers,
    )
    assert [t["id"] for t in rest.json()["data"]] == [first["id"]]
    assert rest.json()["has_more"] is False
    closed = await client.get("/v1/support/tickets?status=closed", headers=headers)
    assert closed.json()["data"] == []


async def test_another_persons_ticket_is_not_found(client: AsyncClient, person: Any) -> None:
    _, owner = await person()
    ticket = await open_ticket(client, owner)
    _, stranger = await person()

    read = await client.get(f"/v1/support/tickets/{ticket['id']}", headers=stranger)
    reply = await client.post(
        f"/v1/support/tickets/{ticket['id']}/messages", json={"message": "hi"}, headers=stranger
    )
    for response in (read, reply):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "support_ticket_not_found"
        assert TICKET["subject"] not in response.text
    listed = await client.get("/v1/support/tickets", headers=stranger)
    assert listed.json()["data"] == []
    thread = (await client.get(f"/v1/support/tickets/{ticket['id']}", headers=owner)).json()
    assert thread["message_count"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {**TICKET, "subject": "   "},
        {**TICKET, "subject": "s" * 201},
        {**TICKET, "category": "lottery"},
        {**TICKET, "message": ""},
        {**TICKET, "message": "m" * 5001},
        {"subject": "No message", "category": "other"},
        {**TICKET, "status": "closed"},
    ],
)
async def test_an_invalid_ticket_is_refused(
    client: AsyncClient, person: Any, body: dict[str, Any]
) -> None:
    _, headers = await person()
    response = await client.post("/v1/support/tickets", json=body, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
    listed = await client.get("/v1/support/tickets", headers=headers)
    assert listed.json()["data"] == []


async def test_a_blank_reply_is_refused(client: AsyncClient, person: Any) -> None:
    _, headers = await person()
    ticket = await open_ticket(client, headers)
    response = await client.post(
        f"/v1/support/tickets/{ticket['id']}/messages", json={"message": " \n "}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_opening_a_ticket_again_with_the_same_key_replays_it(
    client: AsyncClient, person: Any
) -> None:
    _, headers = await person()
    keyed = {**headers, "Idempotency-Key": "help-1"}
    first = await client.post("/v1/support/tickets", json=TICKET, headers=keyed)
    again = await client.post("/v1/support/tickets", json=TICKET, headers=keyed)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    listed = await client.get("/v1/support/tickets", headers=headers)
    assert [t["id"] for t in listed.json()["data"]] == [first.json()["id"]]
    other_body = await client.post(
        "/v1/support/tickets", json={**TICKET, "subject": "Other"}, headers=keyed
    )
    assert other_body.status_code == 422
    assert other_body.json()["code"] == "idempotency_key_reused"


async def test_a_person_opens_at_most_ten_tickets_a_day(client: AsyncClient, person: Any) -> None:
    _, headers = await person()
    for number in range(10):
        await open_ticket(client, headers, subject=f"Question {number}")
    response = await client.post("/v1/support/tickets", json=TICKET, headers=headers)
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    assert int(response.headers["retry-after"]) > 0


async def test_api_keys_and_staff_have_no_tickets_of_their_own(
    client: AsyncClient, person: Any, staff: Any
) -> None:
    _, headers = await person()
    key = await client.post(
        "/v1/api-keys",
        json={"name": "books", "mode": "live", "scopes": ["profile:read"]},
        headers=headers,
    )
    assert key.status_code == 201, key.text
    _, support = await staff()
    for credentials in (bearer(key.json()["secret"]), support):
        response = await client.post("/v1/support/tickets", json=TICKET, headers=credentials)
        assert response.status_code == 403
        assert response.json()["code"] == "wrong_principal_type"


# --- the staff queue ----------------------------------------------------------------------------


async def test_support_answers_and_the_person_is_notified(
    client: AsyncClient, person: Any, staff: Any, db: Database
) -> None:
    user_id, headers = await person()
    ticket = await open_ticket(client, headers)
    staff_id, support = await staff("support")

    queue = await client.get("/v1/staff/support-tickets?status=open&limit=100", headers=support)
    assert queue.status_code == 200
    listed = next(t for t in queue.json()["data"] if t["id"] == ticket["id"])
    assert listed["requester"]["id"] == user_id
    seen = (await client.get(f"/v1/staff/support-tickets/{ticket['id']}", headers=support)).json()
    assert seen["requester"]["email"].endswith("@example.com")
    assert seen["messages"][0]["author_id"] == user_id

    answer = await client.post(
        f"/v1/staff/support-tickets/{ticket['id']}/messages",
        json={"message": "Your bank declined it; please call them."},
        headers={**support, "Idempotency-Key": "answer-1"},
    )
    assert answer.status_code == 201, answer.text
    assert (answer.json()["author_type"], answer.json()["author_id"]) == ("staff", staff_id)

    thread = (await client.get(f"/v1/support/tickets/{ticket['id']}", headers=headers)).json()
    assert thread["status"] == "answered"
    assert [m["author_type"] for m in thread["messages"]] == ["user", "staff"]
    assert all("author_id" not in m for m in thread["messages"])
    inbox = (await client.get("/v1/me/notifications", headers=headers)).json()["data"]
    note = next(n for n in inbox if n["kind"] == "support.replied")
    assert note["data"]["ticket_id"] == ticket["id"]
    assert TICKET["subject"] in note["title"]
    assert "call them" in note["body"]
    assert [a[0] for a in await audit_actions(db, ticket["id"])] == [
        "support_ticket.opened",
        "support_ticket.viewed",
        "support_ticket.answered",
    ]


async def test_a_ticket_closes_and_the_persons_reply_reopens_it(
    client: AsyncClient, person: Any, staff: Any, db: Database
) -> None:
    _, headers = await person()
    ticket = await open_ticket(client, headers)
    staff_id, operations = await staff("operations")
    path = f"/v1/staff/support-tickets/{ticket['id']}"

    closed = await client.post(f"{path}/close", headers=operations)
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["closed_by"]) == ("closed", staff_id)
    assert closed.json()["closed_at"] is not None
    again = await client.post(f"{path}/close", headers=operations)
    late = await client.post(f"{path}/messages", json={"message": "x"}, headers=operations)
    for response in (again, late):
        assert response.status_code == 409
        assert response.json()["code"] == "support_ticket_closed"

    reply = await client.post(
        f"/v1/support/tickets/{ticket['id']}/messages",
        json={"message": "It happened again."},
        headers=headers,
    )
    assert reply.status_code == 201
    thread = (await client.get(f"/v1/support/tickets/{ticket['id']}", headers=headers)).json()
    assert (thread["status"], thread["closed_at"], thread["message_count"]) == ("open", None, 2)
    assert [a[:2] for a in await audit_actions(db, ticket["id"])] == [
        ("support_ticket.opened", "user"),
        ("support_ticket.closed", "staff"),
        ("support_ticket.replied", "user"),
    ]


async def test_only_support_operations_and_admin_staff_see_the_queue(
    client: AsyncClient, person: Any, staff: Any
) -> None:
    _, headers = await person()
    ticket = await open_ticket(client, headers)
    _, compliance = await staff("compliance")
    _, admin = await staff("admin")
    path = f"/v1/staff/support-tickets/{ticket['id']}"

    for method, url in (
        ("GET", "/v1/staff/support-tickets"),
        ("GET", path),
        ("POST", f"{path}/messages"),
        ("POST", f"{path}/close"),
    ):
        body = {"message": "hello"} if url.endswith("messages") else None
        refused = await client.request(method, url, json=body, headers=compliance)
        assert refused.status_code == 403, url
        assert refused.json()["code"] == "permission_denied"
        person_call = await client.request(method, url, json=body, headers=headers)
        assert person_call.status_code == 403, url
        assert person_call.json()["code"] == "wrong_principal_type"
    assert (await client.get(path, headers=admin)).status_code == 200
    unknown = await client.get("/v1/staff/support-tickets/tkt_nope", headers=admin)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "support_ticket_not_found"
    anonymous = await client.get("/v1/staff/support-tickets")
    assert anonymous.status_code == 401


async def test_every_support_endpoint_is_documented(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operations = [
        operation
        for path, item in schema["paths"].items()
        if "support" in path
        for operation in item.values()
    ]
    assert len(operations) == 8
    for operation in operations:
        assert operation["summary"]
        assert operation["description"]
        assert operation["x-finhub-access"]
