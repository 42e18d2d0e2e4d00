"""The in-app inbox: `notify` from any module, and the `/v1/me/notifications` API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from httpx import ASGITransport, AsyncClient

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.notifications.inbox import notify
from tests.factories import create_staff, create_user, session_token


@pytest.fixture
async def client(app: Any) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://finhub.test") as c:
        yield c


async def person(db: Database, settings: Settings, clock: OffsetClock) -> tuple[str, str]:
    async with db.transaction() as conn:
        user_id = await create_user(conn)
        token = await session_token(conn, user_id=user_id, settings=settings, clock=clock)
    return user_id, token


async def notes_for(db: Database, user_id: str, count: int) -> list[str]:
    """`count` committed notifications; their ids, oldest first."""
    ids = []
    async with db.transaction() as conn:
        for number in range(count):
            ids.append(
                await notify(
                    conn,
                    user_id=user_id,
                    kind="security.new_sign_in",
                    title=f"New sign-in {number}",
                    body="From Firefox on Linux.",
                    data={"session_id": f"ses_{number}", "network": None},
                )
            )
    return ids


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def unread(client: AsyncClient, token: str) -> int:
    response = await client.get("/v1/me/notifications/unread-count", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "unread_count"
    count: int = response.json()["unread"]
    return count


# --- notify -----------------------------------------------------------------------------------


async def test_notify_writes_in_the_callers_transaction(conn: Connection) -> None:
    user_id = await create_user(conn)
    notification_id = await notify(
        conn, user_id=user_id, kind="payment.received", title="Paid", body="You got 5 EUR."
    )
    assert notification_id.startswith("ntf_")
    cursor = await conn.execute("SELECT * FROM notifications WHERE id = %s", (notification_id,))
    row = await cursor.fetchone()
    assert row is not None
    assert (row["user_id"], row["kind"], row["title"], row["body"]) == (
        user_id,
        "payment.received",
        "Paid",
        "You got 5 EUR.",
    )
    assert row["data"] == {}
    assert row["read_at"] is None


async def test_notify_shortens_rather_than_fails(conn: Connection) -> None:
    user_id = await create_user(conn)
    notification_id = await notify(
        conn, user_id=user_id, kind="test.long", title="t" * 500, body="b" * 5000
    )
    cursor = await conn.execute(
        "SELECT length(title) AS title, length(body) AS body FROM notifications WHERE id = %s",
        (notification_id,),
    )
    row = await cursor.fetchone()
    assert row == {"title": 200, "body": 4000}


async def test_notify_refuses_a_malformed_kind_or_an_unknown_person(conn: Connection) -> None:
    user_id = await create_user(conn)
    with pytest.raises(ValueError, match="kind"):
        await notify(conn, user_id=user_id, kind="New Sign In", title="x", body="y")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        await notify(conn, user_id="usr_nobody", kind="test.note", title="x", body="y")


# --- the API ----------------------------------------------------------------------------------


async def test_a_person_lists_their_inbox_newest_first(
    client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    alice, token = await person(db, settings, clock)
    bob, _ = await person(db, settings, clock)
    ids = await notes_for(db, alice, 3)
    await notes_for(db, bob, 2)

    response = await client.get("/v1/me/notifications", headers=bearer(token))
    assert response.status_code == 200, response.text
    page = response.json()
    assert [n["id"] for n in page["data"]] == list(reversed(ids))
    newest = page["data"][0]
    assert newest["object"] == "notification"
    assert newest["kind"] == "security.new_sign_in"
    assert newest["title"] == "New sign-in 2"
    assert newest["data"] == {"session_id": "ses_2", "network": None}
    assert newest["read_at"] is None

    first = (await client.get("/v1/me/notifications?limit=2", headers=bearer(token))).json()
    assert [n["id"] for n in first["data"]] == [ids[2], ids[1]]
    assert first["has_more"] is True
    rest = (
        await client.get(
            "/v1/me/notifications",
            params={"limit": 2, "starting_after": first["next_starting_after"]},
            headers=bearer(token),
        )
    ).json()
    assert [n["id"] for n in rest["data"]] == [ids[0]]
    assert rest["has_more"] is False


async def test_reading_marks_and_counts(
    client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    alice, token = await person(db, settings, clock)
    ids = await notes_for(db, alice, 3)
    assert await unread(client, token) == 3

    read = await client.post(f"/v1/me/notifications/{ids[1]}/read", headers=bearer(token))
    assert read.status_code == 200, read.text
    first_read_at = read.json()["read_at"]
    assert first_read_at is not None
    assert await unread(client, token) == 2

    clock.advance(timedelta(minutes=1))
    again = await client.post(f"/v1/me/notifications/{ids[1]}/read", headers=bearer(token))
    assert again.json()["read_at"] == first_read_at

    unread_page = (
        await client.get("/v1/me/notifications?unread_only=true", headers=bearer(token))
    ).json()
    assert [n["id"] for n in unread_page["data"]] == [ids[2], ids[0]]

    everything = await client.post("/v1/me/notifications/read-all", headers=bearer(token))
    assert everything.status_code == 200
    assert everything.json() == {"object": "notifications_read", "marked": 2}
    assert await unread(client, token) == 0
    assert (
        await client.get("/v1/me/notifications?unread_only=true", headers=bearer(token))
    ).json()["data"] == []


async def test_another_persons_notification_answers_404_and_stays_unread(
    client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    _, alice_token = await person(db, settings, clock)
    bob, bob_token = await person(db, settings, clock)
    [bobs] = await notes_for(db, bob, 1)

    for notification_id in (bobs, "ntf_01NOSUCHNOTIFICATION000000"):
        response = await client.post(
            f"/v1/me/notifications/{notification_id}/read", headers=bearer(alice_token)
        )
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "notification_not_found"
    await client.post("/v1/me/notifications/read-all", headers=bearer(alice_token))
    assert await unread(client, bob_token) == 1
    listed = await client.get(
        f"/v1/me/notifications?starting_after={bobs}", headers=bearer(alice_token)
    )
    assert bobs not in [n["id"] for n in listed.json()["data"]]


async def test_the_inbox_is_for_people_and_their_keys(
    client: AsyncClient,
    app_client: AsyncClient,
    db: Database,
    settings: Settings,
    clock: OffsetClock,
) -> None:
    alice, token = await person(db, settings, clock)
    [note] = await notes_for(db, alice, 1)
    keys = {}
    for scopes in (["notifications:read"], ["wallets:read"]):
        created = await client.post(
            "/v1/api-keys",
            json={"name": "inbox", "mode": "live", "scopes": scopes},
            headers=bearer(token),
        )
        assert created.status_code == 201, created.text
        keys[scopes[0]] = created.json()["secret"]

    reader = bearer(keys["notifications:read"])
    listed = await client.get("/v1/me/notifications", headers=reader)
    assert [n["id"] for n in listed.json()["data"]] == [note]
    assert (await client.get("/v1/me/notifications/unread-count", headers=reader)).json()[
        "unread"
    ] == 1
    # Marking read changes state: a person's own session only.
    refused = await client.post(f"/v1/me/notifications/{note}/read", headers=reader)
    assert refused.status_code == 403
    assert refused.json()["code"] == "wrong_principal_type"

    unscoped = await client.get("/v1/me/notifications", headers=bearer(keys["wallets:read"]))
    assert unscoped.status_code == 403
    assert unscoped.json()["code"] == "insufficient_scope"

    staff = await app_client.get("/v1/me/notifications")
    assert staff.status_code == 403
    for method, path in (
        ("GET", "/v1/me/notifications"),
        ("GET", "/v1/me/notifications/unread-count"),
        ("POST", "/v1/me/notifications/read-all"),
        ("POST", f"/v1/me/notifications/{note}/read"),
    ):
        anonymous = await client.request(method, path)
        assert anonymous.status_code == 401, path
    assert await unread(client, token) == 1


async def test_bad_paging_is_a_422(
    client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    _, token = await person(db, settings, clock)
    for params in ({"limit": 0}, {"limit": 101}, {"unread_only": "maybe"}):
        response = await client.get("/v1/me/notifications", params=params, headers=bearer(token))
        assert response.status_code == 422, params
        assert response.json()["code"] == "validation_error"


async def test_staff_have_no_inbox_here(
    client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    async with db.transaction() as conn:
        staff_id = await create_staff(conn, roles=("support",))
        token = await session_token(conn, staff_id=staff_id, settings=settings, clock=clock)
    response = await client.post("/v1/me/notifications/read-all", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_principal_type"
