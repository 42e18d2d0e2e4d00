"""The payment PIN: its rules, who may set and change it, step-up with it, and its lockout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from finhub.identity.factors.pin import WeakPin, check_pin_rules
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.identity.factors.support import (
    PASSWORD,
    Person,
    audit_actions,
    enable_totp,
    inbox_kinds,
    problem_code,
)

PIN = "483920"


@pytest.mark.parametrize("pin", ["111111", "123456", "654321", "890123", "000000"])
def test_obvious_pins_are_refused(pin: str) -> None:
    with pytest.raises(WeakPin):
        check_pin_rules(pin)


@pytest.mark.parametrize("pin", ["483920", "102938", "112233"])
def test_other_pins_pass(pin: str) -> None:
    check_pin_rules(pin)


async def test_the_first_pin_needs_the_password_without_a_second_factor(
    person: Person, db: Database
) -> None:
    missing = await person.client.put("/v1/me/pin", json={"pin": PIN})
    wrong = await person.client.put(
        "/v1/me/pin", json={"pin": PIN, "password": "not my password at all"}
    )
    weak = await person.client.put("/v1/me/pin", json={"pin": "123456", "password": PASSWORD})
    short = await person.client.put("/v1/me/pin", json={"pin": "12a4", "password": PASSWORD})
    assert (await person.client.get("/v1/me/factors")).json()["pin_set"] is False

    accepted = await person.client.put("/v1/me/pin", json={"pin": PIN, "password": PASSWORD})

    assert problem_code(missing) == "password_required"
    assert problem_code(wrong) == "invalid_credentials"
    assert problem_code(weak) == "pin_too_weak"
    assert problem_code(short) == "invalid_pin_format"
    assert accepted.status_code == 200, accepted.text
    factors = (await person.client.get("/v1/me/factors")).json()
    assert factors["pin_set"] is True
    assert factors["step_up_methods"] == ["pin"]
    assert factors["methods"] == []  # a PIN never completes a sign-in
    assert "factor.pin_set:success" in await audit_actions(db, person.id)
    assert "factor.pin_set" in await inbox_kinds(db, person.id)


async def test_the_first_pin_needs_a_step_up_with_a_second_factor(
    person: Person, clock: OffsetClock
) -> None:
    await enable_totp(person.client, clock)
    clock.advance(timedelta(minutes=6))

    response = await person.client.put("/v1/me/pin", json={"pin": PIN, "password": PASSWORD})

    assert response.status_code == 403
    assert problem_code(response) == "step_up_required"


async def test_changing_the_pin_needs_the_current_one(person: Person, db: Database) -> None:
    await person.client.put("/v1/me/pin", json={"pin": PIN, "password": PASSWORD})

    missing = await person.client.put("/v1/me/pin", json={"pin": "591846"})
    wrong = await person.client.put("/v1/me/pin", json={"pin": "591846", "current_pin": "999990"})
    changed = await person.client.put("/v1/me/pin", json={"pin": "591846", "current_pin": PIN})

    assert problem_code(missing) == "current_pin_required"
    assert problem_code(wrong) == "invalid_pin"
    assert changed.status_code == 200
    old = await person.client.post("/v1/auth/step-up", json={"method": "pin", "pin": PIN})
    new = await person.client.post("/v1/auth/step-up", json={"method": "pin", "pin": "591846"})
    assert problem_code(old) == "invalid_pin"
    assert new.status_code == 200
    assert "factor.pin_changed:success" in await audit_actions(db, person.id)


async def test_the_pin_steps_up_a_session_for_a_step_up_action(person: Person) -> None:
    await person.client.put("/v1/me/pin", json={"pin": PIN, "password": PASSWORD})
    refused = await person.client.delete("/v1/me/pin")

    stepped = await person.client.post("/v1/auth/step-up", json={"method": "pin", "pin": PIN})
    removed = await person.client.delete("/v1/me/pin")

    assert problem_code(refused) == "step_up_required"
    assert stepped.status_code == 200
    assert stepped.json()["method"] == "pin"
    assert removed.status_code == 200
    assert (await person.client.get("/v1/me/factors")).json()["pin_set"] is False


async def test_wrong_pins_lock_out_even_the_right_one(person: Person, clock: OffsetClock) -> None:
    await person.client.put("/v1/me/pin", json={"pin": PIN, "password": PASSWORD})
    wrong = [
        await person.client.post("/v1/auth/step-up", json={"method": "pin", "pin": "999990"})
        for _ in range(5)
    ]

    locked = await person.client.post("/v1/auth/step-up", json={"method": "pin", "pin": PIN})
    clock.advance(timedelta(minutes=2))
    later = await person.client.post("/v1/auth/step-up", json={"method": "pin", "pin": PIN})

    assert [problem_code(w) for w in wrong] == ["invalid_pin"] * 5
    assert locked.status_code == 429
    assert later.status_code == 200


async def test_step_up_without_a_pin_says_so(person: Person) -> None:
    response = await person.client.post("/v1/auth/step-up", json={"method": "pin", "pin": PIN})

    assert response.status_code == 400
    assert problem_code(response) == "factor_not_enrolled"
