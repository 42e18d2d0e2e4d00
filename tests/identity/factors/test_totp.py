"""The authenticator app (TOTP) and recovery codes through the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp

from finhub.config import Settings
from finhub.identity.factors.crypto import Sealed
from finhub.identity.factors.service import keyring_for
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.secrets import load_or_create_secret_key
from tests.factories import session_token
from tests.identity.factors.support import (
    PASSWORD,
    Person,
    audit_actions,
    client_for,
    enable_totp,
    inbox_kinds,
    mail_tags,
    new_person,
    problem_code,
    step_up_with_totp,
    totp_code,
)


async def test_enrolment_answers_the_secret_uri_and_qr_codes(person: Person) -> None:
    response = await person.client.post("/v1/me/factors/totp")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["object"] == "totp_enrolment"
    assert body["id"].startswith("fac_")
    uri = pyotp.parse_uri(body["otpauth_uri"])
    assert uri.secret == body["secret"]
    assert uri.issuer == "finhub"
    assert uri.name == person.email
    assert body["qr_svg"].startswith("data:image/svg+xml")
    assert body["qr_png"].startswith("data:image/png;base64,")


async def test_nothing_is_enabled_until_a_code_confirms_it(person: Person) -> None:
    await person.client.post("/v1/me/factors/totp")

    factors = (await person.client.get("/v1/me/factors")).json()

    assert factors["methods"] == []
    assert factors["totp_enabled"] is False


async def test_a_wrong_code_does_not_enable_it(person: Person) -> None:
    await person.client.post("/v1/me/factors/totp")

    response = await person.client.post("/v1/me/factors/totp/confirm", json={"code": "000000"})

    assert response.status_code == 400
    assert problem_code(response) == "invalid_second_factor"
    assert (await person.client.get("/v1/me/factors")).json()["methods"] == []


async def test_confirming_without_starting_is_a_conflict(person: Person) -> None:
    response = await person.client.post("/v1/me/factors/totp/confirm", json={"code": "123456"})

    assert response.status_code == 409
    assert problem_code(response) == "totp_not_started"


async def test_confirming_enables_it_with_ten_recovery_codes(
    person: Person, db: Database, clock: OffsetClock
) -> None:
    _, codes = await enable_totp(person.client, clock)

    assert len(codes) == 10
    assert len(set(codes)) == 10
    factors = (await person.client.get("/v1/me/factors")).json()
    assert factors["methods"] == ["totp", "recovery_code"]
    assert factors["recovery_codes_remaining"] == 10
    assert "factor.totp_enabled:success" in await audit_actions(db, person.id)
    assert "factor.totp_enabled" in await mail_tags(db, person.email)
    assert "factor.totp_enabled" in await inbox_kinds(db, person.id)


async def test_a_second_enrolment_is_refused_while_one_is_active(
    person: Person, clock: OffsetClock
) -> None:
    secret, _ = await enable_totp(person.client, clock)
    await step_up_with_totp(person.client, secret, clock)

    response = await person.client.post("/v1/me/factors/totp")

    assert response.status_code == 409
    assert problem_code(response) == "totp_already_enabled"


async def test_the_secret_is_sealed_at_rest_with_a_key_id(
    settings: Settings, person: Person, db: Database, clock: OffsetClock
) -> None:
    secret, _ = await enable_totp(person.client, clock)

    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, secret_ciphertext, key_id FROM totp_factors WHERE identity_id = %s",
            (person.id,),
        )
        row = await cursor.fetchone()

    assert row is not None
    assert secret.encode() not in row["secret_ciphertext"]
    keyring = keyring_for(load_or_create_secret_key(settings.data_dir, settings.secret_key))
    opened = keyring.open(Sealed(row["key_id"], row["secret_ciphertext"]), context=row["id"])
    assert opened == secret.encode()
    assert row["key_id"] == keyring.current_id


async def test_a_step_up_with_the_current_code_works_once(
    person: Person, clock: OffsetClock
) -> None:
    secret, _ = await enable_totp(person.client, clock)
    code = totp_code(secret, clock.now())

    first = await person.client.post("/v1/auth/step-up", json={"method": "totp", "code": code})
    replay = await person.client.post("/v1/auth/step-up", json={"method": "totp", "code": code})

    assert first.status_code == 200, first.text
    assert first.json()["object"] == "step_up"
    assert replay.status_code == 400
    assert problem_code(replay) == "code_already_used"


async def test_a_code_older_than_the_last_used_one_is_a_replay(
    person: Person, clock: OffsetClock
) -> None:
    secret, _ = await enable_totp(person.client, clock)
    totp = pyotp.TOTP(secret)
    newer = totp.at(clock.now(), counter_offset=1)
    older = totp.at(clock.now())

    accepted = await person.client.post("/v1/auth/step-up", json={"method": "totp", "code": newer})
    refused = await person.client.post("/v1/auth/step-up", json={"method": "totp", "code": older})

    assert accepted.status_code == 200
    assert problem_code(refused) == "code_already_used"


async def test_codes_two_steps_away_are_refused(person: Person, clock: OffsetClock) -> None:
    secret, _ = await enable_totp(person.client, clock)
    stale = pyotp.TOTP(secret).at(clock.now(), counter_offset=-3)
    early = pyotp.TOTP(secret).at(clock.now(), counter_offset=3)

    for code in (stale, early):
        response = await person.client.post(
            "/v1/auth/step-up", json={"method": "totp", "code": code}
        )
        assert problem_code(response) == "invalid_second_factor"


async def test_each_recovery_code_works_once(person: Person, clock: OffsetClock) -> None:
    _, codes = await enable_totp(person.client, clock)

    first = await person.client.post(
        "/v1/auth/step-up", json={"method": "recovery_code", "code": codes[0].upper()}
    )
    again = await person.client.post(
        "/v1/auth/step-up", json={"method": "recovery_code", "code": codes[0]}
    )

    assert first.status_code == 200, first.text
    assert problem_code(again) == "invalid_second_factor"
    factors = (await person.client.get("/v1/me/factors")).json()
    assert factors["recovery_codes_remaining"] == 9


async def test_new_recovery_codes_retire_the_old_ones(
    person: Person, db: Database, clock: OffsetClock
) -> None:
    _, old_codes = await enable_totp(person.client, clock)

    response = await person.client.post("/v1/me/factors/recovery-codes")

    assert response.status_code == 201, response.text
    new_codes = response.json()["codes"]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    old = await person.client.post(
        "/v1/auth/step-up", json={"method": "recovery_code", "code": old_codes[1]}
    )
    assert problem_code(old) == "invalid_second_factor"
    new = await person.client.post(
        "/v1/auth/step-up", json={"method": "recovery_code", "code": new_codes[1]}
    )
    assert new.status_code == 200
    assert "factor.recovery_codes_regenerated:success" in await audit_actions(db, person.id)


async def test_regenerating_recovery_codes_needs_a_fresh_step_up(
    person: Person, clock: OffsetClock
) -> None:
    await enable_totp(person.client, clock)
    clock.advance(timedelta(minutes=6))

    response = await person.client.post("/v1/me/factors/recovery-codes")

    assert response.status_code == 403
    assert problem_code(response) == "step_up_required"


async def test_removing_totp_needs_step_up_and_takes_the_recovery_codes(
    person: Person, db: Database, clock: OffsetClock
) -> None:
    secret, _ = await enable_totp(person.client, clock)
    clock.advance(timedelta(minutes=6))  # the confirmation's step-up has worn off

    refused = await person.client.delete("/v1/me/factors/totp")
    assert refused.status_code == 403
    assert problem_code(refused) == "step_up_required"
    assert (await person.client.get("/v1/me/factors")).json()["totp_enabled"] is True

    await step_up_with_totp(person.client, secret, clock)
    removed = await person.client.delete("/v1/me/factors/totp")

    assert removed.status_code == 200, removed.text
    factors = (await person.client.get("/v1/me/factors")).json()
    assert factors["methods"] == []
    assert factors["recovery_codes_remaining"] == 0
    assert "factor.totp_disabled:success" in await audit_actions(db, person.id)
    assert "factor.totp_disabled" in await mail_tags(db, person.email)


async def test_wrong_codes_lock_the_identity_out(person: Person, clock: OffsetClock) -> None:
    secret, _ = await enable_totp(person.client, clock)
    for _ in range(5):
        wrong = await person.client.post(
            "/v1/auth/step-up", json={"method": "totp", "code": "000000"}
        )
        assert wrong.status_code in (400, 429)

    locked = await person.client.post(
        "/v1/auth/step-up", json={"method": "totp", "code": totp_code(secret, clock.now())}
    )

    assert locked.status_code == 429
    assert problem_code(locked) == "too_many_attempts"
    assert int(locked.headers["Retry-After"]) > 0


async def test_a_step_up_answers_its_expiry_and_wears_off(
    person: Person, clock: OffsetClock
) -> None:
    secret, _ = await enable_totp(person.client, clock)
    clock.advance(timedelta(minutes=6))
    assert (await person.client.put("/v1/me/pin", json={"pin": "483920"})).status_code == 403

    stepped = await step_up_with_totp(person.client, secret, clock)
    body = stepped.json()
    assert body["expires_at"] > body["stepped_up_at"]
    assert (await person.client.put("/v1/me/pin", json={"pin": "483920"})).status_code == 200

    clock.advance(timedelta(minutes=4))
    assert (await person.client.delete("/v1/me/pin")).status_code == 200
    assert (await person.client.put("/v1/me/pin", json={"pin": "483920"})).status_code == 200
    clock.advance(timedelta(minutes=2))
    late = await person.client.delete("/v1/me/pin")
    assert late.status_code == 403
    assert problem_code(late) == "step_up_required"


async def test_a_payment_pin_alone_guards_adding_a_second_factor(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    """Someone with only the password must not add their own authenticator to an account whose
    owner set a PIN, then use it to step up."""
    user_id, _, token = await new_person(db, settings, clock, aal=2)
    async with client_for(app, token) as owner:
        set_pin = await owner.put("/v1/me/pin", json={"pin": "482915", "password": PASSWORD})
        assert set_pin.status_code in (200, 201), set_pin.text
    async with db.transaction() as conn:
        intruder = await session_token(conn, user_id=user_id, aal=1, settings=settings, clock=clock)
    async with client_for(app, intruder) as attacker:
        response = await attacker.post("/v1/me/factors/totp")
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "step_up_required"
