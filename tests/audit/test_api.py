"""The audit API: a person's own security events, and the staff search (itself audited)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from finhub.audit.endpoints import PersonAccess
from finhub.audit.service import AuditContext, record
from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.factories import create_staff, create_user, session_token


async def person(db: Database, settings: Settings, clock: OffsetClock) -> tuple[str, str]:
    """A new person and a bearer token of theirs."""
    async with db.transaction() as conn:
        user_id = await create_user(conn)
        token = await session_token(conn, user_id=user_id, settings=settings, clock=clock)
    return user_id, token


async def staff_token(
    db: Database, settings: Settings, clock: OffsetClock, *roles: str
) -> tuple[str, str]:
    async with db.transaction() as conn:
        staff_id = await create_staff(conn, roles=roles)
        token = await session_token(conn, staff_id=staff_id, settings=settings, clock=clock)
    return staff_id, token


async def events_about(db: Database, user_id: str, *actions: str) -> list[str]:
    """Record one event per action about `user_id` (committed); their ids, oldest first."""
    context = AuditContext(actor_type="user", actor_id=user_id, ip="192.0.2.10", user_agent="UA")
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT seq FROM audit_chain_head")
        head = await cursor.fetchone()
        assert head is not None
        for action in actions:
            await record(
                conn, context, action, subject_user_id=user_id, details={"method": "password"}
            )
        cursor = await conn.execute(
            "SELECT id FROM audit_events WHERE subject_user_id = %s AND seq > %s ORDER BY seq",
            (user_id, head["seq"]),
        )
        return [row["id"] for row in await cursor.fetchall()]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def client(app: Any) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://finhub.test") as c:
        yield c


# --- a person's own events --------------------------------------------------------------------


async def test_a_person_sees_only_their_own_security_events(
    client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    alice, alice_token = await person(db, settings, clock)
    bob, _ = await person(db, settings, clock)
    alice_events = await events_about(db, alice, "auth.sign_in", "auth.totp_enabled")
    await events_about(db, bob, "auth.sign_in")

    response = await client.get("/v1/me/security-events", headers=bearer(alice_token))
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["object"] == "list"
    assert [event["id"] for event in page["data"]] == list(reversed(alice_events))
    newest = page["data"][0]
    assert newest["object"] == "security_event"
    assert newest["action"] == "auth.totp_enabled"
    assert newest["ip"] == "192.0.2.10"
    assert newest["user_agent"] == "UA"
    assert newest["details"] == {"method": "password"}
    assert "hash" not in newest
    assert "actor_id" not in newest


async def test_security_events_page_and_filter(
    client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    alice, token = await person(db, settings, clock)
    ids = await events_about(
        db, alice, "auth.sign_in", "auth.sign_in_failed", "api_key.created", "auth.sign_in"
    )

    first = (await client.get("/v1/me/security-events?limit=3", headers=bearer(token))).json()
    assert [e["id"] for e in first["data"]] == [ids[3], ids[2], ids[1]]
    assert first["has_more"] is True
    assert first["next_starting_after"] == ids[1]
    rest = (
        await client.get(
            f"/v1/me/security-events?limit=3&starting_after={ids[1]}", headers=bearer(token)
        )
    ).json()
    assert [e["id"] for e in rest["data"]] == [ids[0]]
    assert rest["has_more"] is False

    auth_only = (
        await client.get("/v1/me/security-events?action=auth", headers=bearer(token))
    ).json()
    assert [e["id"] for e in auth_only["data"]] == [ids[3], ids[1], ids[0]]
    exact = (
        await client.get("/v1/me/security-events?action=auth.sign_in", headers=bearer(token))
    ).json()
    assert [e["id"] for e in exact["data"]] == [ids[3], ids[0]]
    no_partial_words = (
        await client.get("/v1/me/security-events?action=au", headers=bearer(token))
    ).json()
    assert no_partial_words["data"] == []


async def test_security_events_filter_by_time(
    client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    alice, token = await person(db, settings, clock)
    ids = await events_about(db, alice, "auth.sign_in", "auth.sign_in", "auth.sign_in")
    async with db.connection() as conn:
        cursor = await conn.execute("SELECT occurred_at FROM audit_events WHERE id = %s", (ids[1],))
        row = await cursor.fetchone()
    assert row is not None
    middle = row["occurred_at"].isoformat()

    since = await client.get(
        "/v1/me/security-events", params={"occurred_after": middle}, headers=bearer(token)
    )
    until = await client.get(
        "/v1/me/security-events", params={"occurred_before": middle}, headers=bearer(token)
    )
    assert [e["id"] for e in since.json()["data"]] == [ids[2], ids[1]]
    assert [e["id"] for e in until.json()["data"]] == [ids[0]]
    naive = await client.get(
        "/v1/me/security-events",
        params={"occurred_after": "2026-01-01T00:00:00"},
        headers=bearer(token),
    )
    assert naive.status_code == 422
    assert naive.json()["code"] == "validation_error"


async def test_another_persons_event_as_cursor_pages_nothing(
    client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    alice, token = await person(db, settings, clock)
    bob, _ = await person(db, settings, clock)
    await events_about(db, alice, "auth.sign_in")
    bobs = await events_about(db, bob, "auth.sign_in")
    response = await client.get(
        f"/v1/me/security-events?starting_after={bobs[0]}", headers=bearer(token)
    )
    assert response.status_code == 200
    assert response.json()["data"] == []


async def test_security_events_need_a_person(client: AsyncClient, app_client: AsyncClient) -> None:
    anonymous = await client.get("/v1/me/security-events")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    staff = await app_client.get("/v1/me/security-events")
    assert staff.status_code == 403
    assert staff.json()["code"] == "wrong_principal_type"


async def api_key(client: AsyncClient, token: str, scopes: list[str]) -> str:
    """A personal API key's secret, issued through the API by the person with `token`."""
    response = await client.post(
        "/v1/api-keys",
        json={"name": "audit reader", "mode": "live", "scopes": scopes},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


async def test_a_personal_api_key_reads_its_owners_events(
    client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    alice, token = await person(db, settings, clock)
    reader = await api_key(client, token, ["audit:read"])
    other = await api_key(client, token, ["wallets:read"])
    ids = await events_about(db, alice, "auth.sign_in")

    response = await client.get("/v1/me/security-events?action=auth", headers=bearer(reader))
    assert response.status_code == 200, response.text
    assert [e["id"] for e in response.json()["data"]] == ids
    refused = await client.get("/v1/me/security-events", headers=bearer(other))
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"


def test_the_endpoint_asks_api_keys_for_the_audit_read_scope() -> None:
    assert PersonAccess.kinds == ("user", "api_key")
    assert PersonAccess.scopes == ("audit:read",)


# --- staff ------------------------------------------------------------------------------------


async def test_staff_search_by_each_filter(
    app_client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    alice, _ = await person(db, settings, clock)
    context = AuditContext(
        actor_type="staff", actor_id="stf_searcher_probe", ip="192.0.2.99", request_id="req_probe"
    )
    async with db.transaction() as conn:
        await record(
            conn,
            context,
            "organization.member_role_changed",
            outcome="denied",
            subject_user_id=alice,
            organization_id="org_probe",
            object_type="membership",
            object_id="mem_probe",
            before={"role": "viewer"},
            after={"role": "admin"},
        )
    for query in (
        {"subject_user_id": alice},
        {"actor_id": "stf_searcher_probe"},
        {"organization_id": "org_probe"},
        {"object_type": "membership", "object_id": "mem_probe"},
        {"request_id": "req_probe"},
        {"action": "organization.member_role_changed", "outcome": "denied"},
        {"action": "organization", "actor_type": "staff", "subject_user_id": alice},
    ):
        response = await app_client.get("/v1/staff/audit-events", params=query)
        assert response.status_code == 200, (query, response.text)
        found = response.json()["data"]
        assert len(found) == 1, query
        event = found[0]
        assert event["object"] == "audit_event"
        assert event["before"] == {"role": "viewer"}
        assert event["after"] == {"role": "admin"}
        assert event["ip"] == "192.0.2.99"
        assert len(event["hash"]) == 64
        assert len(event["prev_hash"]) == 64
    mismatched = await app_client.get(
        "/v1/staff/audit-events", params={"subject_user_id": alice, "outcome": "success"}
    )
    assert mismatched.json()["data"] == []


async def test_staff_searches_are_themselves_recorded(
    db: Database, settings: Settings, clock: OffsetClock, client: AsyncClient
) -> None:
    staff_id, token = await staff_token(db, settings, clock, "compliance")
    response = await client.get(
        "/v1/staff/audit-events",
        params={"action": "auth", "limit": 5},
        headers={**bearer(token), "User-Agent": "backoffice", "X-Request-ID": "req_search_1"},
    )
    assert response.status_code == 200, response.text
    recorded = await client.get(
        "/v1/staff/audit-events",
        params={"action": "audit.searched", "actor_id": staff_id},
        headers=bearer(token),
    )
    searches = recorded.json()["data"]
    assert len(searches) == 1  # the second search is recorded after it has read
    search = searches[0]
    assert search["actor_type"] == "staff"
    assert search["user_agent"] == "backoffice"
    assert search["details"] == {"filters": {"action": "auth"}, "starting_after": None}

    viewed = await client.get(f"/v1/staff/audit-events/{search['id']}", headers=bearer(token))
    assert viewed.status_code == 200
    assert viewed.json()["id"] == search["id"]
    assert viewed.json()["seq"] == search["seq"]
    views = await client.get(
        "/v1/staff/audit-events",
        params={"action": "audit.viewed", "object_id": search["id"]},
        headers=bearer(token),
    )
    assert [v["actor_id"] for v in views.json()["data"]] == [staff_id]


async def test_staff_search_pages_by_seq(app_client: AsyncClient, db: Database) -> None:
    ids = await events_about(db, "usr_paging_probe", *(["test.paged"] * 5))
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"subject_user_id": "usr_paging_probe", "limit": 2}
        if cursor:
            params["starting_after"] = cursor
        page = (await app_client.get("/v1/staff/audit-events", params=params)).json()
        seen += [event["id"] for event in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_starting_after"]
    assert seen == list(reversed(ids))


async def test_an_unknown_event_answers_404(app_client: AsyncClient) -> None:
    response = await app_client.get("/v1/staff/audit-events/evt_01NOSUCHEVENT0000000000000")
    assert response.status_code == 404
    assert response.json()["code"] == "audit_event_not_found"


async def test_only_admin_and_compliance_staff_search(
    db: Database, settings: Settings, clock: OffsetClock, client: AsyncClient
) -> None:
    _, support = await staff_token(db, settings, clock, "support")
    _, user = await person(db, settings, clock)
    for token, code in ((support, "permission_denied"), (user, "wrong_principal_type")):
        for path in ("/v1/staff/audit-events", "/v1/staff/audit-events/evt_x"):
            response = await client.get(path, headers=bearer(token))
            assert response.status_code == 403, path
            assert response.json()["code"] == code
    anonymous = await client.get("/v1/staff/audit-events")
    assert anonymous.status_code == 401


async def test_bad_filters_are_a_422_that_records_nothing(
    db: Database, settings: Settings, clock: OffsetClock, client: AsyncClient
) -> None:
    staff_id, token = await staff_token(db, settings, clock, "admin")
    for params in ({"actor_type": "robot"}, {"limit": 0}, {"action": "a" * 101}):
        response = await client.get("/v1/staff/audit-events", params=params, headers=bearer(token))
        assert response.status_code == 422, params
        assert response.json()["code"] == "validation_error"
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM audit_events WHERE actor_id = %s", (staff_id,)
        )
        row = await cursor.fetchone()
    assert row is not None
    assert row["n"] == 0


async def test_another_actors_address_is_not_shown_to_the_subject(
    client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    alice, alice_token = await person(db, settings, clock)
    admin_of_her_org, _ = await person(db, settings, clock)
    async with db.transaction() as conn:
        await record(
            conn,
            AuditContext(actor_type="user", actor_id=admin_of_her_org, ip="198.51.100.7",
                         user_agent="Admin's browser"),
            "member.role_changed",
            subject_user_id=alice,
        )  # fmt: skip
        await record(
            conn,
            AuditContext(actor_type="anonymous", actor_id=None, ip="203.0.113.9"),
            "auth.sign_in_failed",
            outcome="failure",
            subject_user_id=alice,
        )
    page = (await client.get("/v1/me/security-events", headers=bearer(alice_token))).json()
    by_action = {event["action"]: event for event in page["data"]}
    assert by_action["member.role_changed"]["ip"] is None
    assert by_action["member.role_changed"]["user_agent"] is None
    # Someone unknown trying her password: the address is what she needs to see.
    assert by_action["auth.sign_in_failed"]["ip"] == "203.0.113.9"
