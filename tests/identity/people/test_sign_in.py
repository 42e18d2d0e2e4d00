"""Password sign-in: sessions and cookies, no enumeration, throttling with exponential
lockout, new-device alerts, sign-out and CSRF."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher

from finhub.identity import passwords, tokens
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.secrets import secret_hash
from tests.identity.people.support import (
    STRONG_PASSWORD,
    audit_events,
    auth,
    client_from,
    mails_to,
    notifications_of,
    sign_in,
    sign_up_and_verify,
    sign_up_body,
    unique_email,
    unique_ip,
    user_id_of,
)

WRONG = "not the right password at all"


def _set_cookie_headers(response: Any) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


async def test_sign_in_opens_a_session_with_cookies(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        response = await sign_in(client, email)
        assert response.status_code == 200
        body = response.json()
        me = await client.get("/v1/me", headers=auth(body["access_token"]))
    assert body["object"] == "session"
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith("fhs_")
    assert body["aal"] == 1
    cookies = _set_cookie_headers(response)
    session_cookie = cookies["fh_session"].lower()
    device_cookie = cookies["fh_device"].lower()
    for cookie in (session_cookie, device_cookie):
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "path=/" in cookie
        assert "secure" not in cookie  # the test settings serve plain HTTP
    assert body["access_token"].lower() in session_cookie
    assert me.status_code == 200
    assert me.json()["email"] == email
    user_id = await user_id_of(db, email)
    events = await audit_events(db, user_id, "auth.sign_in")
    assert events[-1]["details"] == {
        "method": "password",
        "aal": 1,
        "new_device": True,
        "new_place": True,
    }
    assert events[-1]["actor_type"] == "user"


async def test_unknown_email_and_wrong_password_answer_alike(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        wrong = await sign_in(client, email, WRONG)
        unknown = await sign_in(client, unique_email(), WRONG)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "invalid_credentials"
    assert "set-cookie" not in wrong.headers
    failures = await audit_events(db, await user_id_of(db, email), "auth.sign_in_failed")
    assert [(event["outcome"], event["details"]["reason"]) for event in failures] == [
        ("failure", "invalid_credentials")
    ]


async def test_unknown_email_costs_the_same_argon2_work(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)

    async def median_seconds(address: str) -> float:
        timings = []
        async with client_from(app) as client:
            for _ in range(3):
                started = time.perf_counter()
                response = await sign_in(client, address, WRONG)
                timings.append(time.perf_counter() - started)
                assert response.status_code == 401
        return statistics.median(timings)

    known = await median_seconds(email)
    unknown = await median_seconds(unique_email())
    # Both verify an argon2 hash (tens of milliseconds); a lookup alone takes about one.
    assert 1 / 3 < unknown / known < 3


async def test_an_unverified_account_is_only_revealed_to_the_right_password(
    app: Any, db: Database
) -> None:
    email = unique_email()
    async with client_from(app) as client:
        await client.post("/v1/auth/sign-up", json=sign_up_body(email))
        wrong = await sign_in(client, email, WRONG)
        right = await sign_in(client, email)
    assert wrong.status_code == 401
    assert right.status_code == 403
    assert right.json()["code"] == "email_not_verified"
    assert "set-cookie" not in right.headers


async def test_account_lockout_grows_exponentially_and_ends(
    app: Any, db: Database, clock: OffsetClock
) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        for lockout_seconds in (60, 120, 240):
            for _ in range(5):
                assert (await sign_in(client, email, WRONG)).status_code == 401
            locked = await sign_in(client, email)  # even the right password
            assert locked.status_code == 429
            assert locked.json()["code"] == "too_many_attempts"
            retry_after = int(locked.headers["Retry-After"])
            assert lockout_seconds - 2 <= retry_after <= lockout_seconds
            clock.advance(timedelta(seconds=retry_after - 5))
            assert (await sign_in(client, email)).status_code == 429
            clock.advance(timedelta(seconds=6))
        assert (await sign_in(client, email)).status_code == 200
        # A success clears the account's count: the next wrong password is not locked out.
        assert (await sign_in(client, email, WRONG)).status_code == 401


async def test_lockout_applies_from_every_address(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as attacker:
        for _ in range(5):
            await sign_in(attacker, email, WRONG)
    async with client_from(app) as owner:
        response = await sign_in(owner, email)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    # The owner hears of it, and it is on record.
    assert len(await mails_to(db, email, "auth.locked_out")) == 1
    user_id = await user_id_of(db, email)
    assert len(await audit_events(db, user_id, "auth.locked_out")) == 1


async def test_an_address_guessing_across_accounts_is_locked_out(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    ip = unique_ip()
    async with client_from(app, ip=ip) as client:
        for _ in range(30):
            assert (await sign_in(client, unique_email(), WRONG)).status_code == 401
        blocked = await sign_in(client, email)
    async with client_from(app) as elsewhere:
        allowed = await sign_in(elsewhere, email)
    assert blocked.status_code == 429
    assert allowed.status_code == 200


async def test_a_new_device_or_place_sends_an_alert(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    user_id = await user_id_of(db, email)
    home = "198.18.7.10"
    async with client_from(app, ip=home) as browser:
        assert (await sign_in(browser, email)).status_code == 200  # the first device: no alert
        assert (await sign_in(browser, email)).status_code == 200  # same cookie: known
    async with client_from(app, ip="198.18.7.99") as script:
        # No cookie, but the same user agent on the same /24 network: known.
        assert (await sign_in(script, email)).status_code == 200
    assert await mails_to(db, email, "security.new_sign_in") == []
    assert await notifications_of(db, user_id) == []

    async with client_from(app, ip="192.0.2.44", user_agent="finhub-cli/1.0") as stranger:
        assert (await sign_in(stranger, email)).status_code == 200
    alerts = await mails_to(db, email, "security.new_sign_in")
    assert len(alerts) == 1
    assert "finhub-cli/1.0" in alerts[0]["text_body"]
    assert "192.0.2.0/24" in alerts[0]["text_body"]
    inbox = await notifications_of(db, user_id)
    assert [item["kind"] for item in inbox] == ["security.new_sign_in"]
    details = [event["details"] for event in await audit_events(db, user_id, "auth.sign_in")]
    assert [(d["new_device"], d["new_place"]) for d in details] == [
        (True, True),
        (False, False),
        (False, False),
        (True, True),
    ]


async def test_a_known_browser_in_a_new_place_sends_an_alert(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app, ip="198.18.9.1") as browser:
        await sign_in(browser, email)
        device_cookie = browser.cookies["fh_device"]
    async with client_from(app, ip="203.0.113.200") as travelling:
        travelling.cookies.set("fh_device", device_cookie, domain="finhub.test")
        assert (await sign_in(travelling, email)).status_code == 200
    alerts = await mails_to(db, email, "security.new_sign_in")
    assert len(alerts) == 1
    events = await audit_events(db, await user_id_of(db, email), "auth.sign_in")
    assert (events[-1]["details"]["new_device"], events[-1]["details"]["new_place"]) == (
        False,
        True,
    )


async def test_sign_out_ends_the_session_at_once(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        token = (await sign_in(client, email)).json()["access_token"]
        client.cookies.clear()
        out = await client.post("/v1/auth/sign-out", headers=auth(token))
        after = await client.get("/v1/me", headers=auth(token))
    assert out.status_code == 204
    cleared = _set_cookie_headers(out)["fh_session"].lower()
    assert 'fh_session=""' in cleared or "max-age=0" in cleared
    assert after.status_code == 401
    assert after.json()["code"] == "invalid_session"
    assert len(await audit_events(db, await user_id_of(db, email), "auth.sign_out")) == 1


async def test_cookie_authenticated_posts_need_the_csrf_token(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as browser:
        signed_in = await sign_in(browser, email)
        csrf = signed_in.json()["csrf_token"]
        read = await browser.get("/v1/me")  # the cookie alone is enough to read
        missing = await browser.post("/v1/auth/sign-out")
        wrong = await browser.post("/v1/auth/sign-out", headers={"X-CSRF-Token": "nope"})
        still_in = await browser.get("/v1/me")
        right = await browser.post("/v1/auth/sign-out", headers={"X-CSRF-Token": csrf})
    assert read.status_code == 200
    assert missing.status_code == wrong.status_code == 403
    assert missing.json()["code"] == "csrf_token_invalid"
    assert still_in.status_code == 200
    assert right.status_code == 204


async def test_an_outdated_hash_is_upgraded_at_sign_in(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE users SET password_hash = %s WHERE email_normalized = %s",
            (weak.hash(STRONG_PASSWORD), email.lower()),
        )
    async with client_from(app) as client:
        assert (await sign_in(client, email)).status_code == 200
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT password_hash FROM users WHERE email_normalized = %s", (email.lower(),)
        )
        row = await cursor.fetchone()
    assert row is not None
    assert not passwords.needs_rehash(row["password_hash"])
    assert f"m={passwords.ARGON2_MEMORY_KIB},t={passwords.ARGON2_TIME_COST}" in row["password_hash"]


async def test_a_second_factor_turns_sign_in_into_a_challenge(app: Any, db: Database) -> None:
    email = await sign_up_and_verify(app, db)
    user_id = await user_id_of(db, email)
    async with db.connection() as conn:
        # An unused recovery code is an enrolled second factor.
        await conn.execute(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (%s, %s, now())",
            (user_id, secret_hash("test-recovery-code")),
        )
    async with client_from(app) as client:
        response = await sign_in(client, email)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "sign_in_challenge"
    assert body["status"] == "second_factor_required"
    assert body["methods"] == ["recovery_code"]
    assert "set-cookie" not in response.headers
    async with db.connection() as conn:
        challenge = await tokens.peek(
            conn, purpose="sign_in_challenge", token=body["challenge_token"], now=datetime.now(UTC)
        )
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM sessions WHERE user_id = %s", (user_id,)
        )
        row = await cursor.fetchone()
    assert challenge.subject_id == user_id
    assert row is not None
    assert row["n"] == 0
