"""`/v1/me`: profile, phone and email changes with step-up, sessions and consents."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from finhub.audit.service import AuditContext
from finhub.config import Settings
from finhub.identity.api_keys.models import NewKey
from finhub.identity.api_keys.service import create_key
from finhub.identity.consents import PRIVACY_VERSION, TERMS_VERSION
from finhub.identity.principal import Principal
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.factories import session_token
from tests.identity.people.support import (
    audit_events,
    auth,
    bearer,
    client_from,
    link_token,
    mails_to,
    sign_in,
    sign_up_and_verify,
    unique_email,
    user_id_of,
)


async def _stepped_up_token(
    db: Database, settings: Settings, clock: OffsetClock, user_id: str, *, fresh: bool = True
) -> str:
    """A session that proved a second factor just now (`fresh`) or never."""
    async with db.transaction() as conn:
        return await session_token(
            conn, user_id=user_id, aal=2 if fresh else 1, settings=settings, clock=clock
        )


async def test_profile_shows_the_account(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db, phone="+66812345678")
    async with client_from(app) as client:
        token = await bearer(client, email)
        response = await client.get("/v1/me", headers=auth(token))
    assert response.status_code == 200
    profile = response.json()
    assert profile == {
        "object": "user",
        "id": await user_id_of(db, email),
        "email": email,
        "phone": "+66812345678",
        "display_name": "Ada Example",
        "status": "active",
        "email_verified": True,
        "kyc_tier": "basic",
        "locale": "en",
        "home_currency": "EUR",
        "second_factor_methods": [],
        "created_at": profile["created_at"],
    }


async def test_me_needs_credentials(anonymous_client: AsyncClient) -> None:
    for method, path in (("GET", "/v1/me"), ("PATCH", "/v1/me"), ("GET", "/v1/me/sessions")):
        response = await anonymous_client.request(method, path, json={})
        assert response.status_code == 401, path


async def test_staff_sessions_are_not_a_person(app_client: AsyncClient) -> None:
    response = await app_client.get("/v1/me")
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_principal_type"


async def test_patch_changes_name_language_and_currency(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        token = await bearer(client, email)
        response = await client.patch(
            "/v1/me",
            json={"display_name": "Ada L.", "locale": "zh-Hans", "home_currency": "THB"},
            headers=auth(token),
        )
    assert response.status_code == 200
    body = response.json()
    assert (body["display_name"], body["locale"], body["home_currency"]) == (
        "Ada L.",
        "zh-Hans",
        "THB",
    )
    events = await audit_events(db, await user_id_of(db, email), "user.profile_updated")
    assert events[0]["details"] is None


async def test_patch_refuses_bad_values_and_changes_nothing(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        token = await bearer(client, email)
        answers = [
            await client.patch("/v1/me", json=body, headers=auth(token))
            for body in (
                {"home_currency": "XYZ"},
                {"home_currency": "eur"},
                {"locale": "fr"},
                {"email": "new@example.com"},
                {"display_name": ""},
            )
        ]
        after = (await client.get("/v1/me", headers=auth(token))).json()
    assert [answer.status_code for answer in answers] == [422] * 5
    assert answers[0].json()["code"] == "unsupported_currency"
    assert (after["home_currency"], after["locale"], after["display_name"]) == (
        "EUR",
        "en",
        "Ada Example",
    )


async def test_a_phone_change_needs_a_fresh_second_factor(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    email = await sign_up_and_verify(app, db)
    user_id = await user_id_of(db, email)
    stale = await _stepped_up_token(db, settings, clock, user_id, fresh=False)
    fresh = await _stepped_up_token(db, settings, clock, user_id)
    async with client_from(app) as client:
        refused = await client.patch(
            "/v1/me", json={"phone": "+4915123456789"}, headers=auth(stale)
        )
        allowed = await client.patch(
            "/v1/me", json={"phone": "+4915123456789"}, headers=auth(fresh)
        )
    assert refused.status_code == 403
    assert refused.json()["code"] == "step_up_required"
    assert allowed.status_code == 200
    assert allowed.json()["phone"] == "+4915123456789"


async def test_email_change_switches_after_the_new_address_confirms(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    email = await sign_up_and_verify(app, db)
    user_id = await user_id_of(db, email)
    new_email = unique_email("moved")
    async with client_from(app) as client:
        stale = await _stepped_up_token(db, settings, clock, user_id, fresh=False)
        refused = await client.post(
            "/v1/me/email", json={"new_email": new_email}, headers=auth(stale)
        )
        fresh = await _stepped_up_token(db, settings, clock, user_id)
        accepted = await client.post(
            "/v1/me/email", json={"new_email": new_email}, headers=auth(fresh)
        )
        before = (await client.get("/v1/me", headers=auth(fresh))).json()["email"]
        token = await link_token(db, new_email, "auth.email_change", "/verify-email")
        switched = await client.post("/v1/auth/verify-email", json={"token": token})
        after = (await client.get("/v1/me", headers=auth(fresh))).json()
        old_sign_in = await sign_in(client, email)
        new_sign_in = await sign_in(client, new_email)
    assert refused.status_code == 403
    assert refused.json()["code"] == "step_up_required"
    assert accepted.status_code == 202
    assert before == email
    assert switched.status_code == 200
    assert switched.json()["email"] == new_email
    assert (after["email"], after["email_verified"]) == (new_email, True)
    assert old_sign_in.status_code == 401
    assert new_sign_in.status_code == 200
    notices = await mails_to(db, email, "auth.email_changed")
    assert len(notices) == 1
    assert new_email in notices[0]["text_body"]
    events = await audit_events(db, user_id, "user.email_changed")
    assert len(events) == 1


async def test_email_change_to_a_taken_address_answers_the_same(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    email = await sign_up_and_verify(app, db)
    taken = await sign_up_and_verify(app, db)
    fresh = await _stepped_up_token(db, settings, clock, await user_id_of(db, email))
    async with client_from(app) as client:
        to_taken = await client.post("/v1/me/email", json={"new_email": taken}, headers=auth(fresh))
        to_free = await client.post(
            "/v1/me/email", json={"new_email": unique_email()}, headers=auth(fresh)
        )
        me = (await client.get("/v1/me", headers=auth(fresh))).json()
    assert (to_taken.status_code, to_taken.content) == (to_free.status_code, to_free.content)
    assert me["email"] == email
    assert await mails_to(db, taken, "auth.email_change") == []
    assert len(await mails_to(db, taken, "auth.sign_up_existing")) == 1


async def test_sessions_list_marks_the_current_one(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app, user_agent="phone-app/2.1") as phone:
        await bearer(phone, email)
    async with client_from(app) as laptop:
        token = await bearer(laptop, email)
        first_page = await laptop.get("/v1/me/sessions?limit=1", headers=auth(token))
        everything = await laptop.get("/v1/me/sessions", headers=auth(token))
    assert first_page.status_code == 200
    assert first_page.json()["has_more"] is True
    sessions = everything.json()["data"]
    assert len(sessions) == 2
    assert [s["current"] for s in sessions] == [True, False]
    assert sessions[1]["user_agent"] == "phone-app/2.1"
    assert first_page.json()["next_starting_after"] == sessions[0]["id"]


async def test_revoking_a_session_takes_effect_at_once(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    intruder_email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        other = await bearer(client, email)
        current = await bearer(client, email)
        intruder = await bearer(client, intruder_email)
        listed = (await client.get("/v1/me/sessions", headers=auth(current))).json()["data"]
        other_id = next(s["id"] for s in listed if not s["current"])
        foreign = await client.delete(f"/v1/me/sessions/{other_id}", headers=auth(intruder))
        still_alive = await client.get("/v1/me", headers=auth(other))
        revoked = await client.delete(f"/v1/me/sessions/{other_id}", headers=auth(current))
        again = await client.delete(f"/v1/me/sessions/{other_id}", headers=auth(current))
        dead = await client.get("/v1/me", headers=auth(other))
    assert foreign.status_code == 404
    assert still_alive.status_code == 200
    assert revoked.status_code == 204
    assert again.status_code == 404
    assert dead.status_code == 401
    events = await audit_events(db, await user_id_of(db, email), "auth.session_revoked")
    assert len(events) == 1


async def test_sign_out_other_devices(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        others = [await bearer(client, email) for _ in range(3)]
        current = await bearer(client, email)
        response = await client.post("/v1/me/sessions/revoke-others", headers=auth(current))
        statuses = [(await client.get("/v1/me", headers=auth(t))).status_code for t in others]
        mine = await client.get("/v1/me/sessions", headers=auth(current))
    assert response.status_code == 200
    assert response.json() == {"object": "session_revocation", "revoked_sessions": 3}
    assert statuses == [401, 401, 401]
    assert [s["current"] for s in mine.json()["data"]] == [True]


async def test_consents_show_and_change(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        token = await bearer(client, email)
        initial = (await client.get("/v1/me/consents", headers=auth(token))).json()
        opted_in = await client.post(
            "/v1/me/consents", json={"marketing_opt_in": True}, headers=auth(token)
        )
        outdated = await client.post(
            "/v1/me/consents", json={"accept_terms_version": "1999-01-01"}, headers=auth(token)
        )
        current = await client.post(
            "/v1/me/consents",
            json={"accept_terms_version": TERMS_VERSION, "marketing_opt_in": False},
            headers=auth(token),
        )
    assert initial["terms"]["accepted_version"] == TERMS_VERSION
    assert initial["terms"]["up_to_date"] is True
    assert initial["privacy"]["current_version"] == PRIVACY_VERSION
    assert initial["marketing"]["opted_in"] is False
    assert opted_in.status_code == 200
    assert opted_in.json()["marketing"]["opted_in"] is True
    assert outdated.status_code == 422
    assert outdated.json()["code"] == "consent_version_mismatch"
    assert current.status_code == 200
    assert current.json()["marketing"]["opted_in"] is False
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT kind, granted FROM consents WHERE user_id = %s ORDER BY created_at, id",
            (await user_id_of(db, email),),
        )
        history = [(row["kind"], row["granted"]) async for row in cursor]
    # Every change is a new record; the failed request left none.
    assert sorted(history[:3]) == [("marketing", False), ("privacy", True), ("terms", True)]
    assert history[3:] == [("marketing", True), ("terms", True), ("marketing", False)]


async def test_api_keys_read_the_profile_but_never_change_credentials(
    app: Any, db: Database, clock: OffsetClock
) -> None:
    email = await sign_up_and_verify(app, db)
    user_id = await user_id_of(db, email)
    person = Principal(kind="user", id=user_id, user_id=user_id)
    async with db.transaction() as conn:
        issued = await create_key(
            conn,
            AuditContext.system("tests"),
            person,
            NewKey(name="reader", mode="test", scopes=["profile:read"]),
            now=clock.now(),
        )
    key = auth(issued.secret)
    async with client_from(app) as client:
        reads = [await client.get(path, headers=key) for path in READABLE]
        patch = await client.patch("/v1/me", json={"locale": "th"}, headers=key)
        password = await client.post(
            "/v1/me/password",
            json={"current_password": "x" * 12, "new_password": "y" * 12},
            headers=key,
        )
        others = await client.post("/v1/me/sessions/revoke-others", headers=key)
    assert [read.status_code for read in reads] == [200, 200, 200]
    assert reads[0].json()["id"] == user_id
    assert patch.status_code == 403
    assert patch.json()["code"] == "insufficient_scope"
    assert password.status_code == others.status_code == 403
    assert password.json()["code"] == others.json()["code"] == "wrong_principal_type"


READABLE = ("/v1/me", "/v1/me/sessions", "/v1/me/consents")
