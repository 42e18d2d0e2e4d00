"""Passkeys through the API with a software authenticator: registration, management,
password-less sign-in, the sign-in second step, step-up, and a cloned key's stale counter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.identity.factors.authenticator import SoftAuthenticator
from tests.identity.factors.support import (
    Person,
    audit_actions,
    client_for,
    mail_tags,
    new_person,
    problem_code,
)

ORIGIN = "http://finhub.test"


async def register(person: Person, device: SoftAuthenticator, name: str = "Laptop") -> Any:
    options = await person.client.post("/v1/me/passkeys/registration-options")
    assert options.status_code == 200, options.text
    credential = device.create(options.json()["public_key"])
    return await person.client.post(
        "/v1/me/passkeys", json={"credential": credential, "name": name}
    )


async def sign_in_with(app: Any, device: SoftAuthenticator) -> Any:
    async with client_for(app) as anonymous:
        options = await anonymous.post("/v1/auth/passkeys/sign-in-options")
        assert options.status_code == 200, options.text
        assertion = device.get(options.json()["public_key"])
        return await anonymous.post("/v1/auth/passkeys/sign-in", json={"credential": assertion})


async def test_registration_keeps_the_passkey(person: Person, db: Database) -> None:
    device = SoftAuthenticator(ORIGIN)

    response = await register(person, device)

    assert response.status_code == 201, response.text
    passkey = response.json()
    assert passkey["object"] == "passkey"
    assert passkey["id"].startswith("pk_")
    assert passkey["name"] == "Laptop"
    assert passkey["transports"] == ["internal"]
    listed = (await person.client.get("/v1/me/passkeys")).json()
    assert [p["id"] for p in listed["data"]] == [passkey["id"]]
    assert (await person.client.get("/v1/me/factors")).json()["methods"] == ["passkey"]
    assert "factor.passkey_added:success" in await audit_actions(db, person.id)
    assert "factor.passkey_added" in await mail_tags(db, person.email)


async def test_registration_options_ask_for_a_discoverable_credential(person: Person) -> None:
    options = (await person.client.post("/v1/me/passkeys/registration-options")).json()

    public_key = options["public_key"]
    assert public_key["rp"] == {"name": "finhub", "id": "finhub.test"}
    assert public_key["authenticatorSelection"]["residentKey"] == "required"
    assert public_key["attestation"] == "none"


async def test_a_challenge_is_single_use(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    user_id, email, token = await new_person(db, settings, clock, aal=2)  # stepped up
    async with client_for(app, token) as client:
        person = Person(user_id, email, client)
        await _use_a_challenge_twice(person)


async def _use_a_challenge_twice(person: Person) -> None:
    device = SoftAuthenticator(ORIGIN)
    options = (await person.client.post("/v1/me/passkeys/registration-options")).json()
    first = device.create(options["public_key"])
    second = device.create(options["public_key"])

    accepted = await person.client.post("/v1/me/passkeys", json={"credential": first})
    refused = await person.client.post("/v1/me/passkeys", json={"credential": second})

    assert accepted.status_code == 201
    assert refused.status_code == 400
    assert problem_code(refused) == "invalid_passkey"


async def test_a_response_for_another_origin_is_refused(person: Person) -> None:
    device = SoftAuthenticator("https://evil.example")

    response = await register(person, device)

    assert response.status_code == 400
    assert problem_code(response) == "invalid_passkey"
    assert (await person.client.get("/v1/me/passkeys")).json()["data"] == []


async def test_a_challenge_expires(person: Person, clock: OffsetClock) -> None:
    device = SoftAuthenticator(ORIGIN)
    options = (await person.client.post("/v1/me/passkeys/registration-options")).json()
    clock.advance(timedelta(minutes=6))

    response = await person.client.post(
        "/v1/me/passkeys", json={"credential": device.create(options["public_key"])}
    )

    assert problem_code(response) == "invalid_passkey"


async def test_password_less_sign_in_opens_an_aal2_session(
    app: Any, person: Person, db: Database
) -> None:
    device = SoftAuthenticator(ORIGIN)
    await register(person, device)

    response = await sign_in_with(app, device)

    assert response.status_code == 200, response.text
    session = response.json()
    assert session["object"] == "session"
    assert session["aal"] == 2
    async with client_for(app, session["access_token"]) as signed_in:
        assert (await signed_in.get("/v1/me/passkeys")).status_code == 200
    assert "auth.sign_in:success" in await audit_actions(db, person.id)


async def test_a_passkey_that_did_not_verify_the_user_neither_registers_nor_signs_in(
    app: Any, person: Person
) -> None:
    presence_only = SoftAuthenticator(ORIGIN, verifies_user=False)
    refused = await register(person, presence_only)
    assert refused.status_code == 400, refused.text
    assert problem_code(refused) == "invalid_passkey"

    device = SoftAuthenticator(ORIGIN)
    assert (await register(person, device)).status_code == 201
    device.verifies_user = False  # the same key, used without its PIN or biometric
    response = await sign_in_with(app, device)
    assert response.status_code == 400, response.text
    assert problem_code(response) == "invalid_passkey"


async def test_an_unregistered_passkey_does_not_sign_in(app: Any) -> None:
    device = SoftAuthenticator(ORIGIN)
    device.create(
        {"rp": {"id": "finhub.test"}, "user": {"id": "dXNy"}, "challenge": "AAAA"}
    )  # known to the device, never registered with finhub

    response = await sign_in_with(app, device)

    assert response.status_code == 400
    assert problem_code(response) == "invalid_passkey"


async def test_a_cloned_authenticator_with_an_old_counter_is_refused(
    app: Any, person: Person, db: Database
) -> None:
    device = SoftAuthenticator(ORIGIN)
    await register(person, device)
    clone = device.clone()
    assert (await sign_in_with(app, device)).status_code == 200
    assert (await sign_in_with(app, device)).status_code == 200

    response = await sign_in_with(app, clone)

    assert response.status_code == 400
    assert problem_code(response) == "passkey_counter_regressed"
    assert "auth.sign_in_failed:failure" in await audit_actions(db, person.id)
    assert "factor.passkey_counter_regressed" in await mail_tags(db, person.email)


async def test_renaming_and_removing(person: Person, db: Database, clock: OffsetClock) -> None:
    device = SoftAuthenticator(ORIGIN)
    passkey_id = (await register(person, device)).json()["id"]

    renamed = await person.client.patch(f"/v1/me/passkeys/{passkey_id}", json={"name": "Phone"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Phone"

    refused = await person.client.delete(f"/v1/me/passkeys/{passkey_id}")
    assert problem_code(refused) == "step_up_required"

    options = (await person.client.post("/v1/auth/step-up/passkey-options")).json()
    stepped = await person.client.post(
        "/v1/auth/step-up",
        json={"method": "passkey", "credential": device.get(options["public_key"])},
    )
    assert stepped.status_code == 200, stepped.text
    removed = await person.client.delete(f"/v1/me/passkeys/{passkey_id}")

    assert removed.status_code == 200
    assert (await person.client.get("/v1/me/passkeys")).json()["data"] == []
    actions = await audit_actions(db, person.id)
    assert "factor.passkey_renamed:success" in actions
    assert "factor.passkey_removed:success" in actions


async def test_another_persons_passkey_answers_404(
    app: Any, person: Person, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    passkey_id = (await register(person, SoftAuthenticator(ORIGIN))).json()["id"]
    _, _, token = await new_person(db, settings, clock, aal=2)
    async with client_for(app, token) as other:
        renamed = await other.patch(f"/v1/me/passkeys/{passkey_id}", json={"name": "Mine"})
        removed = await other.delete(f"/v1/me/passkeys/{passkey_id}")

    assert renamed.status_code == 404
    assert removed.status_code == 404
    assert (await person.client.get("/v1/me/passkeys")).json()["data"][0]["name"] == "Laptop"


async def test_a_second_passkey_needs_a_step_up(person: Person, clock: OffsetClock) -> None:
    await register(person, SoftAuthenticator(ORIGIN))

    response = await person.client.post("/v1/me/passkeys/registration-options")

    assert response.status_code == 403
    assert problem_code(response) == "step_up_required"
