"""Password reset by emailed link and password change with the current password."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.identity.people.support import (
    OTHER_STRONG_PASSWORD,
    STRONG_PASSWORD,
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

RESET = "/v1/auth/password-reset"
CONFIRM = "/v1/auth/password-reset/confirm"


async def _reset_token(app: Any, db: Database, email: str) -> str:
    async with client_from(app) as client:
        response = await client.post(RESET, json={"email": email})
    assert response.status_code == 202
    return await link_token(db, email, "auth.password_reset", "/reset-password")


async def test_reset_answers_the_same_for_known_and_unknown_addresses(
    app: Any, db: Database
) -> None:
    email = await sign_up_and_verify(app, db)
    stranger = unique_email()
    async with client_from(app) as client:
        known = await client.post(RESET, json={"email": email})
        unknown = await client.post(RESET, json={"email": stranger})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert len(await mails_to(db, email, "auth.password_reset")) == 1
    assert await mails_to(db, stranger) == []


async def test_reset_sets_the_password_and_ends_every_session(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        old_sessions = [await bearer(client, email) for _ in range(2)]
    token = await _reset_token(app, db, email)
    async with client_from(app) as client:
        confirmed = await client.post(
            CONFIRM, json={"token": token, "new_password": OTHER_STRONG_PASSWORD}
        )
        replayed = await client.post(
            CONFIRM, json={"token": token, "new_password": "yet another long password"}
        )
        stale = [await client.get("/v1/me", headers=auth(t)) for t in old_sessions]
        old_password = await sign_in(client, email, STRONG_PASSWORD)
        new_password = await sign_in(client, email, OTHER_STRONG_PASSWORD)
    assert confirmed.status_code == 204
    assert replayed.status_code == 400
    assert replayed.json()["code"] == "invalid_token"
    assert [response.status_code for response in stale] == [401, 401]
    assert old_password.status_code == 401
    assert new_password.status_code == 200
    notices = await mails_to(db, email, "auth.password_changed")
    assert len(notices) == 1
    events = await audit_events(db, await user_id_of(db, email), "auth.password_reset")
    assert events[0]["details"] == {"revoked_sessions": 2}


async def test_a_refused_new_password_leaves_the_link_usable(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    token = await _reset_token(app, db, email)
    async with client_from(app) as client:
        weak = await client.post(CONFIRM, json={"token": token, "new_password": "password1234"})
        good = await client.post(
            CONFIRM, json={"token": token, "new_password": OTHER_STRONG_PASSWORD}
        )
    assert weak.status_code == 422
    assert weak.json()["code"] == "password_too_common"
    assert good.status_code == 204


async def test_a_new_reset_link_supersedes_the_old_one(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    first = await _reset_token(app, db, email)
    second = await _reset_token(app, db, email)
    async with client_from(app) as client:
        old = await client.post(
            CONFIRM, json={"token": first, "new_password": OTHER_STRONG_PASSWORD}
        )
        new = await client.post(
            CONFIRM, json={"token": second, "new_password": OTHER_STRONG_PASSWORD}
        )
    assert old.status_code == 400
    assert new.status_code == 204


async def test_an_expired_reset_link_fails(app: Any, db: Database, clock: OffsetClock) -> None:
    email = await sign_up_and_verify(app, db)
    token = await _reset_token(app, db, email)
    clock.advance(timedelta(hours=1, minutes=1))
    async with client_from(app) as client:
        response = await client.post(
            CONFIRM, json={"token": token, "new_password": OTHER_STRONG_PASSWORD}
        )
        still_old = await sign_in(client, email)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"
    assert still_old.status_code == 200


async def test_reset_requests_are_throttled_per_address(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        answers = [(await client.post(RESET, json={"email": email})).status_code for _ in range(6)]
    async with client_from(app) as elsewhere:
        also_blocked = await elsewhere.post(RESET, json={"email": email})
    assert answers == [202] * 5 + [429]
    assert also_blocked.status_code == 429
    assert int(also_blocked.headers["Retry-After"]) > 0
    assert len(await mails_to(db, email, "auth.password_reset")) == 5


async def test_change_password_needs_the_current_one_and_signs_out_other_devices(
    app: Any, db: Database
) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        other = await bearer(client, email)
        current = await bearer(client, email)
        wrong = await client.post(
            "/v1/me/password",
            json={
                "current_password": "not my password, sorry",
                "new_password": OTHER_STRONG_PASSWORD,
            },
            headers=auth(current),
        )
        weak = await client.post(
            "/v1/me/password",
            json={"current_password": STRONG_PASSWORD, "new_password": "short"},
            headers=auth(current),
        )
        changed = await client.post(
            "/v1/me/password",
            json={"current_password": STRONG_PASSWORD, "new_password": OTHER_STRONG_PASSWORD},
            headers=auth(current),
        )
        this_device = await client.get("/v1/me", headers=auth(current))
        other_device = await client.get("/v1/me", headers=auth(other))
        with_new = await sign_in(client, email, OTHER_STRONG_PASSWORD)
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "invalid_credentials"
    assert weak.status_code == 422
    assert weak.json()["code"] == "password_too_short"
    assert changed.status_code == 200
    assert changed.json() == {
        "object": "password_change",
        "status": "changed",
        "revoked_sessions": 1,
    }
    assert this_device.status_code == 200
    assert other_device.status_code == 401
    assert with_new.status_code == 200
    assert len(await mails_to(db, email, "auth.password_changed")) == 1
    user_id = await user_id_of(db, email)
    assert len(await audit_events(db, user_id, "auth.password_change_failed")) == 1
    assert len(await audit_events(db, user_id, "auth.password_changed")) == 1


async def test_change_password_is_throttled(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        token = await bearer(client, email)
        statuses = [
            (
                await client.post(
                    "/v1/me/password",
                    json={
                        "current_password": f"wrong guess number {n}",
                        "new_password": OTHER_STRONG_PASSWORD,
                    },
                    headers=auth(token),
                )
            ).status_code
            for n in range(6)
        ]
    assert statuses == [403] * 5 + [429]


async def test_change_password_is_not_for_api_keys_or_anonymous_callers(app: Any) -> None:
    async with client_from(app) as client:
        response = await client.post(
            "/v1/me/password",
            json={"current_password": STRONG_PASSWORD, "new_password": OTHER_STRONG_PASSWORD},
        )
    assert response.status_code == 401
