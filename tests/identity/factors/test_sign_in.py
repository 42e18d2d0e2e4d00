"""Completing a password sign-in with a second factor (`POST /v1/auth/sign-in/second-factor`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
from httpx import AsyncClient

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.identity.factors.authenticator import SoftAuthenticator
from tests.identity.factors.support import (
    PASSWORD,
    Person,
    audit_actions,
    client_for,
    enable_totp,
    problem_code,
)

SECOND_FACTOR = "/v1/auth/sign-in/second-factor"


async def challenge_of(client: AsyncClient, person: Person) -> str:
    response = await client.post(
        "/v1/auth/sign-in", json={"email": person.email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "sign_in_challenge", body
    token: str = body["challenge_token"]
    return token


async def test_a_password_sign_in_asks_for_the_second_factor_and_a_code_completes_it(
    app: Any, person: Person, clock: OffsetClock, db: Database
) -> None:
    secret, _ = await enable_totp(person.client, clock)
    async with client_for(app) as client:
        challenge = await challenge_of(client, person)
        clock.advance(timedelta(seconds=30))
        response = await client.post(
            SECOND_FACTOR,
            json={
                "challenge_token": challenge,
                "method": "totp",
                "code": pyotp.TOTP(secret).at(clock.now()),
            },
        )

    assert response.status_code == 200, response.text
    assert response.json()["aal"] == 2
    assert "fh_session" in response.cookies
    assert "auth.sign_in:success" in await audit_actions(db, person.id)


async def test_a_wrong_code_keeps_the_challenge_until_the_right_one(
    app: Any, person: Person, clock: OffsetClock, db: Database
) -> None:
    secret, _ = await enable_totp(person.client, clock)
    async with client_for(app) as client:
        challenge = await challenge_of(client, person)
        wrong = await client.post(
            SECOND_FACTOR, json={"challenge_token": challenge, "method": "totp", "code": "000000"}
        )
        clock.advance(timedelta(seconds=30))
        code = pyotp.TOTP(secret).at(clock.now())
        right = await client.post(
            SECOND_FACTOR, json={"challenge_token": challenge, "method": "totp", "code": code}
        )
        reused = await client.post(
            SECOND_FACTOR, json={"challenge_token": challenge, "method": "totp", "code": code}
        )

    assert problem_code(wrong) == "invalid_second_factor"
    assert right.status_code == 200, right.text
    assert problem_code(reused) == "invalid_token"
    assert "auth.second_factor_failed:failure" in await audit_actions(db, person.id)


async def test_a_recovery_code_signs_in_once(
    app: Any, person: Person, clock: OffsetClock, db: Database
) -> None:
    _, codes = await enable_totp(person.client, clock)
    async with client_for(app) as client:
        first = await client.post(
            SECOND_FACTOR,
            json={
                "challenge_token": await challenge_of(client, person),
                "method": "recovery_code",
                "code": codes[3],
            },
        )
        second = await client.post(
            SECOND_FACTOR,
            json={
                "challenge_token": await challenge_of(client, person),
                "method": "recovery_code",
                "code": codes[3],
            },
        )

    assert first.status_code == 200, first.text
    assert problem_code(second) == "invalid_second_factor"
    assert "factor.recovery_code_used:success" in await audit_actions(db, person.id)


async def test_five_wrong_codes_lock_out_and_retire_the_challenge(
    app: Any, person: Person, clock: OffsetClock
) -> None:
    secret, _ = await enable_totp(person.client, clock)
    async with client_for(app) as client:
        challenge = await challenge_of(client, person)
        answers = [
            await client.post(
                SECOND_FACTOR,
                json={"challenge_token": challenge, "method": "totp", "code": "000000"},
            )
            for _ in range(5)
        ]
        clock.advance(timedelta(seconds=30))
        code = pyotp.TOTP(secret).at(clock.now())
        retired = await client.post(
            SECOND_FACTOR, json={"challenge_token": challenge, "method": "totp", "code": code}
        )
        locked = await client.post(
            SECOND_FACTOR,
            json={
                "challenge_token": await challenge_of(client, person),
                "method": "totp",
                "code": code,
            },
        )
        clock.advance(timedelta(minutes=2))  # the first lockout lasts a minute
        later = await client.post(
            SECOND_FACTOR,
            json={
                "challenge_token": await challenge_of(client, person),
                "method": "totp",
                "code": pyotp.TOTP(secret).at(clock.now()),
            },
        )

    assert [a.status_code for a in answers] == [400] * 5
    assert problem_code(retired) == "invalid_token"
    assert locked.status_code == 429
    assert problem_code(locked) == "too_many_attempts"
    assert later.status_code == 200, later.text


async def test_an_expired_challenge_is_refused(
    app: Any, person: Person, clock: OffsetClock
) -> None:
    secret, _ = await enable_totp(person.client, clock)
    async with client_for(app) as client:
        challenge = await challenge_of(client, person)
        clock.advance(timedelta(minutes=6))
        response = await client.post(
            SECOND_FACTOR,
            json={
                "challenge_token": challenge,
                "method": "totp",
                "code": pyotp.TOTP(secret).at(clock.now()),
            },
        )

    assert problem_code(response) == "invalid_token"


async def test_a_passkey_completes_a_password_sign_in(app: Any, person: Person) -> None:
    device = SoftAuthenticator("http://finhub.test")
    options = (await person.client.post("/v1/me/passkeys/registration-options")).json()
    registered = await person.client.post(
        "/v1/me/passkeys", json={"credential": device.create(options["public_key"])}
    )
    assert registered.status_code == 201
    async with client_for(app) as client:
        challenge = await challenge_of(client, person)
        passkey_options = await client.post(
            f"{SECOND_FACTOR}/passkey-options", json={"challenge_token": challenge}
        )
        assertion = device.get(passkey_options.json()["public_key"])
        response = await client.post(
            SECOND_FACTOR,
            json={"challenge_token": challenge, "method": "passkey", "credential": assertion},
        )

    assert response.status_code == 200, response.text
    assert response.json()["aal"] == 2


async def test_the_method_needs_its_value(app: Any) -> None:
    async with client_for(app) as client:
        response = await client.post(
            SECOND_FACTOR, json={"challenge_token": "fht_x", "method": "passkey", "code": "1"}
        )

    assert response.status_code == 422
    assert problem_code(response) == "validation_error"
