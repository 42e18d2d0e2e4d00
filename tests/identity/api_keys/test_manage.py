"""Creating, listing, rolling and revoking keys through the API, and who may do it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from httpx import AsyncClient

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.secrets import secret_hash
from tests.identity.api_keys.conftest import Person, PersonFactory, Probe


async def _key_rows(db: Database, user_id: str) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT * FROM api_keys WHERE user_id = %s OR created_by = %s ORDER BY id",
            (user_id, user_id),
        )
        return await cursor.fetchall()


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code, problem
    return problem


# --- creating ---------------------------------------------------------------------------------


async def test_a_stepped_up_person_creates_a_key_whose_secret_is_stored_as_a_hash_only(
    person: Person, db: Database
) -> None:
    response = await person.client.post(
        "/v1/api-keys",
        json={
            "name": "  billing export  ",
            "mode": "live",
            "scopes": ["wallets:read", "payments:read", "wallets:read"],
            "allowed_ips": ["203.0.113.0/24", "2001:db8::1"],
        },
    )
    assert response.status_code == 201, response.text
    key = response.json()
    secret = key["secret"]
    assert secret.startswith("fh_live_")
    assert len(secret) == len("fh_live_") + 43
    assert key["object"] == "api_key"
    assert key["id"].startswith("key_")
    assert key["name"] == "billing export"
    assert key["owner"] == {"type": "user", "id": person.user_id}
    assert key["scopes"] == ["payments:read", "wallets:read"]
    assert key["allowed_ips"] == ["203.0.113.0/24", "2001:db8::1/128"]
    assert key["status"] == "active"
    assert key["created_by"] == person.user_id
    assert key["redacted_secret"] == f"{secret[:12]}…{secret[-4:]}"
    assert key["last_used_at"] is None
    assert key["expires_at"] is None

    [row] = await _key_rows(db, person.user_id)
    assert bytes(row["secret_hash"]) == secret_hash(secret)
    stored_text = " ".join(str(value) for value in row.values())
    assert secret not in stored_text
    assert secret[12:-4] not in stored_text


async def test_a_test_mode_key_has_the_test_prefix(person: Person) -> None:
    key = await person.create_key(mode="test")
    assert key["secret"].startswith("fh_test_")
    assert key["mode"] == "test"


async def test_a_session_without_a_second_factor_must_step_up_first(
    make_person: PersonFactory, db: Database
) -> None:
    password_only = await make_person(aal=1)
    response = await password_only.client.post(
        "/v1/api-keys", json={"name": "k", "mode": "live", "scopes": ["wallets:read"]}
    )
    problem = _problem(response, 403, "step_up_required")
    assert "totp" in problem["methods"]
    assert await _key_rows(db, password_only.user_id) == []


async def test_a_second_factor_proven_too_long_ago_no_longer_counts(
    person: Person, clock: OffsetClock, db: Database
) -> None:
    clock.advance(timedelta(minutes=6))
    response = await person.client.post(
        "/v1/api-keys", json={"name": "k", "mode": "live", "scopes": ["wallets:read"]}
    )
    _problem(response, 403, "step_up_required")
    assert await _key_rows(db, person.user_id) == []


async def test_bad_requests_are_refused_and_create_nothing(
    person: Person, db: Database, clock: OffsetClock
) -> None:
    base = {"name": "k", "mode": "live", "scopes": ["wallets:read"]}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"scopes": ["wallets:read", "money:print"]}, "unknown_scope"),
        ({"allowed_ips": ["10.0.0.5/24"]}, "invalid_ip_range"),
        ({"allowed_ips": ["not-an-ip"]}, "invalid_ip_range"),
        ({"expires_at": (clock.now() - timedelta(seconds=1)).isoformat()}, "invalid_expiry"),
        ({"scopes": []}, "validation_error"),
        ({"mode": "sandbox"}, "validation_error"),
        ({"name": "   "}, "validation_error"),
        ({"allowed_ips": []}, "validation_error"),
        ({"expires_at": "2030-01-01T00:00:00"}, "validation_error"),  # no offset
        ({"owner": "someone"}, "validation_error"),
    ]
    for change, code in cases:
        response = await person.client.post("/v1/api-keys", json={**base, **change})
        problem = _problem(response, 422, code)
        if code == "unknown_scope":
            assert problem["unknown_scopes"] == ["money:print"]
    assert await _key_rows(db, person.user_id) == []


async def test_anonymous_callers_and_staff_cannot_manage_keys(
    anonymous_client: AsyncClient, app_client: AsyncClient
) -> None:
    body = {"name": "k", "mode": "live", "scopes": ["wallets:read"]}
    _problem(await anonymous_client.post("/v1/api-keys", json=body), 401, "unauthorized")
    _problem(await anonymous_client.get("/v1/api-keys"), 401, "unauthorized")
    _problem(await app_client.post("/v1/api-keys", json=body), 403, "wrong_principal_type")
    _problem(await app_client.get("/v1/api-keys"), 403, "wrong_principal_type")


async def test_a_key_cannot_manage_keys(
    person: Person, anonymous_client: AsyncClient, db: Database
) -> None:
    key = await person.create_key(scopes=sorted(["wallets:read", "profile:write"]))
    headers = {"Authorization": f"Bearer {key['secret']}"}
    body = {"name": "k", "mode": "live", "scopes": ["wallets:read"]}
    response = await anonymous_client.post("/v1/api-keys", json=body, headers=headers)
    _problem(response, 403, "wrong_principal_type")
    response = await anonymous_client.post(f"/v1/api-keys/{key['id']}/roll", headers=headers)
    _problem(response, 403, "wrong_principal_type")
    response = await anonymous_client.get("/v1/api-keys", headers=headers)
    _problem(response, 403, "wrong_principal_type")
    assert len(await _key_rows(db, person.user_id)) == 1


async def test_a_replayed_creation_returns_the_same_key_without_its_secret(
    person: Person, db: Database
) -> None:
    body = {"name": "k", "mode": "live", "scopes": ["wallets:read"]}
    headers = {"Idempotency-Key": "create-key-once"}
    first = await person.client.post("/v1/api-keys", json=body, headers=headers)
    again = await person.client.post("/v1/api-keys", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["secret"].startswith("fh_live_")
    assert again.json()["secret"] is None
    assert len(await _key_rows(db, person.user_id)) == 1
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT response_body FROM idempotency_keys WHERE key = 'create-key-once'"
        )
        stored = await cursor.fetchall()
    assert stored
    assert all(first.json()["secret"].encode() not in bytes(r["response_body"]) for r in stored)


# --- listing and reading ----------------------------------------------------------------------


async def test_the_list_shows_the_persons_own_keys_newest_first_in_pages(
    make_person: PersonFactory,
) -> None:
    person, other = await make_person(), await make_person()
    keys = [await person.create_key(name=f"key {n}") for n in range(3)]
    await person.create_key(name="test one", mode="test")
    await other.create_key(name="someone else's")

    first = (await person.client.get("/v1/api-keys", params={"limit": 2})).json()
    assert first["object"] == "list"
    assert first["has_more"] is True
    assert [k["name"] for k in first["data"]] == ["test one", "key 2"]
    second = (
        await person.client.get(
            "/v1/api-keys", params={"limit": 2, "starting_after": first["next_starting_after"]}
        )
    ).json()
    assert [k["name"] for k in second["data"]] == ["key 1", "key 0"]
    assert second["has_more"] is False
    assert second["next_starting_after"] is None
    assert keys[0]["id"] == second["data"][-1]["id"]

    tests_only = (await person.client.get("/v1/api-keys", params={"mode": "test"})).json()
    assert [k["name"] for k in tests_only["data"]] == ["test one"]


async def test_list_and_get_never_show_a_secret(person: Person) -> None:
    key = await person.create_key()
    listed = await person.client.get("/v1/api-keys")
    fetched = await person.client.get(f"/v1/api-keys/{key['id']}")
    assert fetched.status_code == 200
    for response in (listed, fetched):
        assert key["secret"] not in response.text
        assert '"secret":' not in response.text
    assert fetched.json()["redacted_secret"] == key["redacted_secret"]
    assert "secret" not in fetched.json()


async def test_another_persons_key_is_not_found_on_every_route(
    make_person: PersonFactory, probe: Probe
) -> None:
    owner, intruder = await make_person(), await make_person()
    key = await owner.create_key()
    routes = [
        ("GET", f"/v1/api-keys/{key['id']}", None),
        ("POST", f"/v1/api-keys/{key['id']}/roll", {"expire_old_in_seconds": 60}),
        ("POST", f"/v1/api-keys/{key['id']}/revoke", None),
        ("GET", "/v1/api-keys/key_01JAAAAAAAAAAAAAAAAAAAAAAA", None),
    ]
    for method, path, body in routes:
        response = await intruder.client.request(method, path, json=body)
        _problem(response, 404, "api_key_not_found")
    listed = (await intruder.client.get("/v1/api-keys")).json()
    assert listed["data"] == []
    # Nothing changed: the owner's key still works with its first secret.
    assert (await probe(key["secret"])).status_code == 200
    unchanged = (await owner.client.get(f"/v1/api-keys/{key['id']}")).json()
    assert unchanged["rolled_at"] is None
    assert unchanged["revoked_at"] is None


async def test_an_organisation_the_caller_cannot_manage_is_not_found(person: Person) -> None:
    response = await person.client.post(
        "/v1/api-keys",
        json={
            "name": "k",
            "mode": "live",
            "scopes": ["wallets:read"],
            "organization_id": "org_01JAAAAAAAAAAAAAAAAAAAAAAA",
        },
    )
    _problem(response, 404, "organization_not_found")
    response = await person.client.get(
        "/v1/api-keys", params={"organization_id": "org_01JAAAAAAAAAAAAAAAAAAAAAAA"}
    )
    _problem(response, 404, "organization_not_found")


# --- rolling and revoking ---------------------------------------------------------------------


async def test_rolling_without_grace_ends_the_old_secret_at_once(
    person: Person, probe: Probe
) -> None:
    key = await person.create_key()
    response = await person.client.post(f"/v1/api-keys/{key['id']}/roll")
    assert response.status_code == 200, response.text
    rolled = response.json()
    assert rolled["id"] == key["id"]
    assert rolled["secret"] != key["secret"]
    assert rolled["secret"].startswith("fh_live_")
    assert rolled["redacted_secret"] != key["redacted_secret"]
    assert rolled["rolled_at"]
    assert rolled["scopes"] == key["scopes"]
    assert rolled["name"] == key["name"]
    _problem(await probe(key["secret"]), 401, "invalid_api_key")
    assert (await probe(rolled["secret"])).json()["id"] == key["id"]


async def test_rolling_with_grace_keeps_the_old_secret_working_for_a_while(
    make_person: PersonFactory, probe: Probe, clock: OffsetClock
) -> None:
    person = await make_person()
    key = await person.create_key(mode="test")
    response = await person.client.post(
        f"/v1/api-keys/{key['id']}/roll", json={"expire_old_in_seconds": 3600}
    )
    rolled = response.json()
    assert rolled["secret"].startswith("fh_test_")
    assert (await probe(key["secret"])).status_code == 200
    assert (await probe(rolled["secret"])).status_code == 200

    clock.advance(timedelta(minutes=61))
    _problem(await probe(key["secret"]), 401, "invalid_api_key")
    assert (await probe(rolled["secret"])).status_code == 200

    # A second roll replaces the grace secret: the first secret stays dead.
    again = await make_person(user_id=person.user_id)
    third = (
        await again.client.post(
            f"/v1/api-keys/{key['id']}/roll", json={"expire_old_in_seconds": 600}
        )
    ).json()
    _problem(await probe(key["secret"]), 401, "invalid_api_key")
    assert (await probe(rolled["secret"])).status_code == 200
    assert (await probe(third["secret"])).status_code == 200


async def test_rolling_needs_step_up_and_a_sane_grace_period(
    make_person: PersonFactory, probe: Probe
) -> None:
    person = await make_person()
    key = await person.create_key()
    for grace in (-1, 7 * 24 * 3600 + 1):
        response = await person.client.post(
            f"/v1/api-keys/{key['id']}/roll", json={"expire_old_in_seconds": grace}
        )
        _problem(response, 422, "validation_error")
    password_only = await make_person(aal=1, user_id=person.user_id)
    response = await password_only.client.post(f"/v1/api-keys/{key['id']}/roll")
    _problem(response, 403, "step_up_required")
    assert (await probe(key["secret"])).status_code == 200


async def test_revoking_takes_effect_at_once_for_both_secrets(
    make_person: PersonFactory, probe: Probe
) -> None:
    person = await make_person()
    key = await person.create_key()
    rolled = (
        await person.client.post(
            f"/v1/api-keys/{key['id']}/roll", json={"expire_old_in_seconds": 3600}
        )
    ).json()
    # Revoking needs no step-up: a password-only session may stop a leaked key.
    password_only = await make_person(aal=1, user_id=person.user_id)
    response = await password_only.client.post(f"/v1/api-keys/{key['id']}/revoke")
    assert response.status_code == 200, response.text
    revoked = response.json()
    assert revoked["status"] == "revoked"
    assert revoked["revoked_at"]
    _problem(await probe(key["secret"]), 401, "invalid_api_key")
    _problem(await probe(rolled["secret"]), 401, "invalid_api_key")

    again = await person.client.post(f"/v1/api-keys/{key['id']}/revoke")
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked["revoked_at"]
    response = await person.client.post(f"/v1/api-keys/{key['id']}/roll")
    _problem(response, 409, "api_key_revoked")
