"""Sign-up, consents and email verification through the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from finhub.identity.consents import MARKETING_VERSION, PRIVACY_VERSION, TERMS_VERSION
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.identity.people.support import (
    audit_events,
    client_from,
    link_token,
    mails_to,
    sign_in,
    sign_up_and_verify,
    sign_up_body,
    unique_email,
    user_id_of,
)


async def _user_row(db: Database, email: str) -> dict[str, Any] | None:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, status, email_verified_at, password_hash, display_name FROM users"
            " WHERE email_normalized = %s",
            (email.lower(),),
        )
        return await cursor.fetchone()


async def test_sign_up_creates_a_pending_account_and_mails_a_verification_link(
    app: Any, db: Database
) -> None:
    email = unique_email()
    async with client_from(app) as client:
        response = await client.post(
            "/v1/auth/sign-up", json=sign_up_body(email, marketing_opt_in=True)
        )
    assert response.status_code == 202
    assert response.json()["object"] == "sign_up"
    user = await _user_row(db, email)
    assert user is not None
    assert user["status"] == "pending_verification"
    assert user["email_verified_at"] is None
    assert user["password_hash"].startswith("$argon2id$")
    mails = await mails_to(db, email, "auth.verify_email")
    assert len(mails) == 1
    assert "http://finhub.test/verify-email?token=" in mails[0]["text_body"]
    events = await audit_events(db, user["id"], "auth.sign_up")
    assert [event["outcome"] for event in events] == ["success"]


async def test_consents_are_recorded_with_versions_and_origin(app: Any, db: Database) -> None:
    email = unique_email()
    async with client_from(app, ip="198.51.100.77") as client:
        await client.post("/v1/auth/sign-up", json=sign_up_body(email, marketing_opt_in=True))
    user_id = await user_id_of(db, email)
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT kind, version, granted, host(ip) AS ip FROM consents WHERE user_id = %s"
            " ORDER BY kind",
            (user_id,),
        )
        rows = await cursor.fetchall()
    origin = {"granted": True, "ip": "198.51.100.77"}
    assert rows == [
        {"kind": "marketing", "version": MARKETING_VERSION, **origin},
        {"kind": "privacy", "version": PRIVACY_VERSION, **origin},
        {"kind": "terms", "version": TERMS_VERSION, **origin},
    ]


async def test_consent_records_cannot_be_changed(app: Any, db: Database) -> None:
    email = unique_email()
    async with client_from(app) as client:
        await client.post("/v1/auth/sign-up", json=sign_up_body(email))
    user_id = await user_id_of(db, email)
    async with db.connection() as conn:
        for statement in (
            "UPDATE consents SET granted = false WHERE user_id = %s",
            "DELETE FROM consents WHERE user_id = %s",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                await conn.execute(statement, (user_id,))


async def test_outdated_terms_or_privacy_versions_are_refused(app: Any, db: Database) -> None:
    email = unique_email()
    async with client_from(app) as client:
        for field in ("accept_terms_version", "accept_privacy_version"):
            response = await client.post(
                "/v1/auth/sign-up", json=sign_up_body(email, **{field: "2001-01-01"})
            )
            assert response.status_code == 422
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "consent_version_mismatch"
    assert await _user_row(db, email) is None


async def test_weak_passwords_are_refused_with_clear_codes(app: Any, db: Database) -> None:
    email = unique_email("grace")
    cases = {
        "short pass": "password_too_short",
        "x" * 129: "password_too_long",
        "qwertyuiopasdfgh": "password_too_common",
        "Password1234": "password_too_common",
        "grace rules everything": "password_contains_personal_info",
    }
    async with client_from(app) as client:
        for password, code in cases.items():
            response = await client.post(
                "/v1/auth/sign-up", json=sign_up_body(email, password=password)
            )
            assert response.status_code == 422, password
            assert response.json()["code"] == code, password
    assert await _user_row(db, email) is None


async def test_bad_input_is_a_validation_error(app: Any) -> None:
    async with client_from(app) as client:
        for body in (
            {**sign_up_body(unique_email()), "is_admin": True},
            sign_up_body("not-an-email"),
            sign_up_body(unique_email(), phone="0812345678"),
        ):
            response = await client.post("/v1/auth/sign-up", json=body)
            assert response.status_code == 422
            assert response.json()["code"] == "validation_error"


async def test_sign_up_with_a_registered_email_answers_the_same_and_warns_the_owner(
    app: Any, db: Database
) -> None:
    email = await sign_up_and_verify(app, db)
    async with client_from(app) as client:
        fresh = await client.post("/v1/auth/sign-up", json=sign_up_body(unique_email()))
        taken = await client.post(
            "/v1/auth/sign-up",
            json=sign_up_body(email.upper(), password="another fine password 9"),
        )
        still_old_password = await sign_in(client, email)
    assert (fresh.status_code, fresh.content) == (taken.status_code, taken.content)
    assert still_old_password.status_code == 200
    warnings = await mails_to(db, email, "auth.sign_up_existing")
    assert len(warnings) == 1
    assert "already" in warnings[0]["text_body"]
    events = await audit_events(db, await user_id_of(db, email), "auth.sign_up")
    assert [event["outcome"] for event in events] == ["success", "failure"]


async def test_signing_up_again_before_verifying_sends_a_fresh_link(app: Any, db: Database) -> None:
    email = unique_email()
    async with client_from(app) as client:
        first = await client.post("/v1/auth/sign-up", json=sign_up_body(email))
        second = await client.post("/v1/auth/sign-up", json=sign_up_body(email))
        new_token = await link_token(db, email, "auth.verify_email", "/verify-email")
        new = await client.post("/v1/auth/verify-email", json={"token": new_token})
    assert (first.status_code, first.content) == (second.status_code, second.content)
    assert len(await mails_to(db, email, "auth.verify_email")) == 2
    assert await mails_to(db, email, "auth.sign_up_existing") == []
    assert new.status_code == 200


async def test_someone_who_signed_up_first_with_my_address_cannot_keep_the_account(
    app: Any, db: Database
) -> None:
    """Pre-account takeover: the owner's link activates the account with the owner's password,
    even after an intruder signed up first (and again after the owner)."""
    email = unique_email()
    intruder_password = "intruder chose this passphrase 9"
    async with client_from(app) as client:
        await client.post("/v1/auth/sign-up", json=sign_up_body(email, password=intruder_password))
        await client.post("/v1/auth/sign-up", json=sign_up_body(email))
        owners_link = await link_token(db, email, "auth.verify_email", "/verify-email")
        await client.post("/v1/auth/sign-up", json=sign_up_body(email, password=intruder_password))
        verified = await client.post("/v1/auth/verify-email", json={"token": owners_link})
        assert verified.status_code == 200, verified.text
        assert (await sign_in(client, email)).status_code == 200
        assert (await sign_in(client, email, intruder_password)).status_code == 401


async def test_verification_activates_the_account_once(app: Any, db: Database) -> None:
    email = unique_email()
    async with client_from(app) as client:
        await client.post("/v1/auth/sign-up", json=sign_up_body(email))
        refused = await sign_in(client, email)
        token = await link_token(db, email, "auth.verify_email", "/verify-email")
        verified = await client.post("/v1/auth/verify-email", json={"token": token})
        replayed = await client.post("/v1/auth/verify-email", json={"token": token})
        signed_in = await sign_in(client, email)
    assert refused.status_code == 403
    assert refused.json()["code"] == "email_not_verified"
    assert verified.status_code == 200
    assert verified.json() == {"object": "email_verification", "status": "verified", "email": email}
    assert replayed.status_code == 400
    assert replayed.json()["code"] == "invalid_token"
    assert signed_in.status_code == 200
    user = await _user_row(db, email)
    assert user is not None
    assert user["status"] == "active"
    assert len(await audit_events(db, user["id"], "auth.email_verified")) == 1


async def test_an_expired_verification_link_fails(
    app: Any, db: Database, clock: OffsetClock
) -> None:
    email = unique_email()
    async with client_from(app) as client:
        await client.post("/v1/auth/sign-up", json=sign_up_body(email))
        token = await link_token(db, email, "auth.verify_email", "/verify-email")
        clock.advance(timedelta(hours=24, minutes=1))
        response = await client.post("/v1/auth/verify-email", json={"token": token})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"
    user = await _user_row(db, email)
    assert user is not None
    assert user["status"] == "pending_verification"


async def test_a_tampered_or_foreign_purpose_token_fails(app: Any, db: Database) -> None:
    email = unique_email()
    async with client_from(app) as client:
        await client.post("/v1/auth/sign-up", json=sign_up_body(email))
        token = await link_token(db, email, "auth.verify_email", "/verify-email")
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        for candidate in (tampered, "fht_" + "a" * 43):
            response = await client.post("/v1/auth/verify-email", json={"token": candidate})
            assert response.status_code == 400
            assert response.json()["code"] == "invalid_token"
        reset = await client.post(
            "/v1/auth/password-reset/confirm",
            json={"token": token, "new_password": "an entirely new password"},
        )
    assert reset.status_code == 400
    user = await _user_row(db, email)
    assert user is not None
    assert user["status"] == "pending_verification"


async def test_resend_answers_the_same_and_supersedes_the_old_link(app: Any, db: Database) -> None:
    email = unique_email()
    async with client_from(app) as client:
        await client.post("/v1/auth/sign-up", json=sign_up_body(email))
        old_token = await link_token(db, email, "auth.verify_email", "/verify-email")
        resent = await client.post("/v1/auth/verify-email/resend", json={"email": email})
        unknown = await client.post("/v1/auth/verify-email/resend", json={"email": unique_email()})
        new_token = await link_token(db, email, "auth.verify_email", "/verify-email")
        old = await client.post("/v1/auth/verify-email", json={"token": old_token})
        new = await client.post("/v1/auth/verify-email", json={"token": new_token})
    assert (resent.status_code, resent.content) == (unknown.status_code, unknown.content)
    assert resent.status_code == 202
    assert old_token != new_token
    assert old.status_code == 400
    assert new.status_code == 200
