"""Sessions as credentials, `Access` declarations and single-use tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import Depends
from httpx import ASGITransport, AsyncClient

from finhub.api import json_response
from finhub.app import create_app
from finhub.config import Settings
from finhub.identity import sessions, tokens
from finhub.identity.principal import Access, Principal
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from tests.factories import create_staff, create_user

SHORT = Settings(session_idle_minutes=30, session_max_hours=2, cookie_secure=True)


@pytest.fixture(scope="module")
async def probe(
    database_url: str, data_dir: Path
) -> AsyncIterator[tuple[AsyncClient, OffsetClock]]:
    """An app with its own clock, default-length sessions and routes that echo the caller."""
    clock = OffsetClock()
    settings = SHORT.model_copy(update={"data_dir": data_dir, "database_url": database_url})
    app = create_app(settings, database_url, clock=clock)

    async def whoami(principal: Principal) -> Any:
        return json_response(200, {"kind": principal.kind, "id": principal.id})

    async def people(principal: Annotated[Principal, Depends(Access("user"))]) -> Any:
        return await whoami(principal)

    async def admins(
        principal: Annotated[Principal, Depends(Access("staff", staff_roles=("admin",)))],
    ) -> Any:
        return await whoami(principal)

    async def sensitive(
        principal: Annotated[Principal, Depends(Access("user", step_up=True))],
    ) -> Any:
        return await whoami(principal)

    app.add_api_route("/test/people", people, methods=["GET", "POST"])
    app.add_api_route("/test/admins", admins, methods=["GET"])
    app.add_api_route("/test/sensitive", sensitive, methods=["POST"])
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app), base_url="https://finhub.test"
        ) as client,
    ):
        yield client, clock


async def new_session(db: Database, clock: OffsetClock, **owner: Any) -> sessions.NewSession:
    async with db.transaction() as conn:
        if not owner:
            owner = {"user_id": await create_user(conn)}
        return await sessions.start_session(conn, SHORT, now=clock.now(), aal=1, **owner)


def bearer(session: sessions.NewSession) -> dict[str, str]:
    return {"Authorization": f"Bearer {session.token}"}


async def test_a_bearer_session_identifies_its_person(
    probe: tuple[AsyncClient, OffsetClock], db: Database
) -> None:
    client, clock = probe
    session = await new_session(db, clock)
    response = await client.get("/test/people", headers=bearer(session))
    assert response.status_code == 200
    assert response.json()["kind"] == "user"


async def test_sessions_end_when_idle_at_their_maximum_and_when_revoked(
    probe: tuple[AsyncClient, OffsetClock], db: Database
) -> None:
    client, clock = probe
    idle = await new_session(db, clock)
    clock.advance(timedelta(minutes=31))
    response = await client.get("/test/people", headers=bearer(idle))
    assert (response.status_code, response.json()["code"]) == (401, "invalid_session")

    used = await new_session(db, clock)
    for _ in range(5):  # used every 25 minutes: the idle timeout slides, the maximum doesn't
        assert (await client.get("/test/people", headers=bearer(used))).status_code == 200
        clock.advance(timedelta(minutes=25))
    assert (await client.get("/test/people", headers=bearer(used))).status_code == 401

    revoked = await new_session(db, clock)
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT user_id FROM sessions WHERE id = %s", (revoked.id,))
        row = await cursor.fetchone()
        assert row is not None
        assert await sessions.revoke(conn, revoked.id, clock.now(), row["user_id"])
    assert (await client.get("/test/people", headers=bearer(revoked))).status_code == 401


async def test_a_cookie_session_needs_the_csrf_token_to_change_anything(
    probe: tuple[AsyncClient, OffsetClock], db: Database
) -> None:
    client, clock = probe
    session = await new_session(db, clock)
    client.cookies.set(sessions.SESSION_COOKIE, session.token)
    try:
        assert (await client.get("/test/people")).status_code == 200
        refused = await client.post("/test/people")
        assert (refused.status_code, refused.json()["code"]) == (403, "csrf_token_invalid")
        wrong = await client.post("/test/people", headers={"X-CSRF-Token": "x" * 43})
        assert wrong.status_code == 403
        accepted = await client.post("/test/people", headers={"X-CSRF-Token": session.csrf_token})
        assert accepted.status_code == 200
    finally:
        client.cookies.clear()
    # A bearer token is not sent by browsers on their own, so it needs no CSRF token.
    assert (await client.post("/test/people", headers=bearer(session))).status_code == 200


async def test_access_checks_the_kind_and_the_staff_role(
    probe: tuple[AsyncClient, OffsetClock], db: Database
) -> None:
    client, clock = probe
    async with db.transaction() as conn:
        admin = await create_staff(conn, roles=("admin",))
        support = await create_staff(conn, roles=("support",))
    person = await new_session(db, clock)
    admin_session = await new_session(db, clock, staff_id=admin)
    support_session = await new_session(db, clock, staff_id=support)
    assert (await client.get("/test/admins", headers=bearer(admin_session))).status_code == 200
    denied = await client.get("/test/admins", headers=bearer(support_session))
    assert (denied.status_code, denied.json()["code"]) == (403, "permission_denied")
    wrong = await client.get("/test/admins", headers=bearer(person))
    assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_principal_type")
    staff_on_people = await client.get("/test/people", headers=bearer(admin_session))
    assert staff_on_people.json()["code"] == "wrong_principal_type"


async def test_a_role_removed_from_staff_takes_effect_on_the_next_request(
    probe: tuple[AsyncClient, OffsetClock], db: Database
) -> None:
    client, clock = probe
    async with db.transaction() as conn:
        staff_id = await create_staff(conn, roles=("admin", "support"))
    session = await new_session(db, clock, staff_id=staff_id)
    assert (await client.get("/test/admins", headers=bearer(session))).status_code == 200
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE staff_members SET roles = '{support}' WHERE id = %s", (staff_id,)
        )
    assert (await client.get("/test/admins", headers=bearer(session))).status_code == 403


async def test_step_up_needs_a_recent_second_factor_on_the_session(
    probe: tuple[AsyncClient, OffsetClock], db: Database
) -> None:
    client, clock = probe
    session = await new_session(db, clock)
    needed = await client.post("/test/sensitive", headers=bearer(session))
    assert (needed.status_code, needed.json()["code"]) == (403, "step_up_required")
    assert "totp" in needed.json()["methods"]
    async with db.transaction() as conn:
        await sessions.mark_second_factor(conn, session.id, clock.now())
    assert (await client.post("/test/sensitive", headers=bearer(session))).status_code == 200
    clock.advance(timedelta(minutes=6))
    assert (await client.post("/test/sensitive", headers=bearer(session))).status_code == 403


async def test_a_disabled_person_is_signed_out_everywhere(
    probe: tuple[AsyncClient, OffsetClock], db: Database
) -> None:
    client, clock = probe
    session = await new_session(db, clock)
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE users SET status = 'disabled'"
            " WHERE id = (SELECT user_id FROM sessions WHERE id = %s)",
            (session.id,),
        )
    assert (await client.get("/test/people", headers=bearer(session))).status_code == 401


async def test_every_v1_operation_documents_its_access(app_client: AsyncClient) -> None:
    schema = (await app_client.get("/openapi.json")).json()
    ledger = schema["paths"]["/v1/ledger/accounts"]["get"]
    assert ledger["x-finhub-access"]["principals"] == ["staff"]
    assert ledger["x-finhub-access"]["staff_roles"] == ["admin", "operations"]
    assert {"sessionToken": []} in ledger["security"]
    posts = schema["paths"]["/v1/ledger/accounts"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" for p in posts)


# --- single-use tokens -------------------------------------------------------------------------


async def test_a_token_works_once_for_its_purpose_until_it_expires(
    conn: Connection, clock: OffsetClock
) -> None:
    now = clock.now()
    token = await tokens.issue(
        conn, purpose="verify_email", subject_id="usr_x", ttl=timedelta(hours=1), now=now
    )
    with pytest.raises(tokens.InvalidToken):
        await tokens.consume(conn, purpose="password_reset", token=token, now=now)
    assert (
        await tokens.peek(conn, purpose="verify_email", token=token, now=now)
    ).subject_id == "usr_x"
    used = await tokens.consume(conn, purpose="verify_email", token=token, now=now)
    assert used.subject_id == "usr_x"
    with pytest.raises(tokens.InvalidToken):
        await tokens.consume(conn, purpose="verify_email", token=token, now=now)

    late = await tokens.issue(
        conn, purpose="verify_email", subject_id="usr_x", ttl=timedelta(hours=1), now=now
    )
    with pytest.raises(tokens.InvalidToken):
        await tokens.consume(conn, purpose="verify_email", token=late, now=now + timedelta(hours=2))

    superseded = await tokens.issue(
        conn, purpose="password_reset", subject_id="usr_y", ttl=timedelta(hours=1), now=now
    )
    await tokens.revoke_all(conn, purpose="password_reset", subject_id="usr_y", now=now)
    with pytest.raises(tokens.InvalidToken):
        await tokens.consume(conn, purpose="password_reset", token=superseded, now=now)


async def test_two_concurrent_uses_of_a_token_let_exactly_one_through(
    db: Database, clock: OffsetClock
) -> None:
    async with db.transaction() as conn:
        token = await tokens.issue(
            conn, purpose="race", subject_id="usr_r", ttl=timedelta(hours=1), now=clock.now()
        )

    async def use() -> bool:
        try:
            async with db.transaction() as conn:
                await tokens.consume(conn, purpose="race", token=token, now=clock.now())
        except tokens.InvalidToken:
            return False
        return True

    results = await asyncio.gather(*(use() for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]
