"""Keys of organisations: issued and managed by members with `api_keys:manage`, acting inside
their organisation only; everyone else finds nothing."""

from __future__ import annotations

import secrets
from typing import Any

from finhub.kit.db import Database
from finhub.kit.ids import new_id
from tests.identity.api_keys.conftest import Person, PersonFactory, Probe


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code, problem
    return problem


async def _organization(owner: Person) -> str:
    response = await owner.client.post(
        "/v1/organizations",
        json={
            "legal_name": "Keys Test GmbH",
            "registration_number": f"HRB {secrets.token_hex(6)}",
            "country": "DE",
        },
    )
    assert response.status_code == 201, response.text
    organization_id: str = response.json()["id"]
    return organization_id


async def _add_member(db: Database, organization_id: str, user_id: str, role: str) -> None:
    """A membership row as an accepted invitation leaves it (invitations have their own
    tests)."""
    async with db.connection() as conn:
        await conn.execute(
            """
            INSERT INTO organization_members (id, organization_id, user_id, builtin_role,
                                              joined_at, updated_at)
            VALUES (%s, %s, %s, %s, now(), now())
            """,
            (new_id("mem"), organization_id, user_id, role),
        )


async def test_an_owner_issues_a_key_that_acts_for_the_organisation(
    person: Person, probe: Probe, anonymous_client: Any
) -> None:
    organization_id = await _organization(person)
    key = await person.create_key(
        organization_id=organization_id, scopes=["organizations:read", "wallets:read"]
    )
    assert key["owner"] == {"type": "organization", "id": organization_id}
    assert key["created_by"] == person.user_id

    principal = (await probe(key["secret"])).json()
    assert principal["organization_id"] == organization_id
    assert principal["user_id"] is None
    headers = {"Authorization": f"Bearer {key['secret']}"}
    response = await anonymous_client.get(f"/v1/organizations/{organization_id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == organization_id

    # It is the organisation's key, not the person's.
    own = (await person.client.get("/v1/api-keys")).json()["data"]
    assert key["id"] not in [k["id"] for k in own]
    listed = await person.client.get("/v1/api-keys", params={"organization_id": organization_id})
    assert [k["id"] for k in listed.json()["data"]] == [key["id"]]


async def test_an_organisation_key_stays_inside_its_organisation(
    make_person: PersonFactory, anonymous_client: Any
) -> None:
    first, second = await make_person(), await make_person()
    ours, theirs = await _organization(first), await _organization(second)
    key = await first.create_key(organization_id=ours, scopes=["organizations:read"])
    headers = {"Authorization": f"Bearer {key['secret']}"}
    response = await anonymous_client.get(f"/v1/organizations/{theirs}", headers=headers)
    _problem(response, 404, "organization_not_found")


async def test_a_developer_manages_the_organisations_keys_and_a_viewer_may_not(
    make_person: PersonFactory, db: Database, probe: Probe
) -> None:
    owner, developer, viewer = await make_person(), await make_person(), await make_person()
    organization_id = await _organization(owner)
    await _add_member(db, organization_id, developer.user_id, "developer")
    await _add_member(db, organization_id, viewer.user_id, "viewer")
    key = await owner.create_key(organization_id=organization_id)

    # A developer's role doesn't read balances: it can't take a key that does (rolling hands
    # over the new secret), nor mint one.
    refused = await developer.client.post(f"/v1/api-keys/{key['id']}/roll")
    _problem(refused, 403, "scope_beyond_role")
    minted = await developer.client.post(
        "/v1/api-keys",
        json={"name": "k", "mode": "live", "scopes": ["wallets:read"],
              "organization_id": organization_id},
    )  # fmt: skip
    _problem(minted, 403, "scope_beyond_role")
    made = await developer.create_key(
        organization_id=organization_id, mode="test", scopes=["organizations:read"]
    )
    assert made["owner"]["id"] == organization_id
    rolled = await owner.client.post(f"/v1/api-keys/{key['id']}/roll")
    assert rolled.status_code == 200, rolled.text
    _problem(await probe(key["secret"]), 401, "invalid_api_key")
    assert (await probe(rolled.json()["secret"])).status_code == 200

    body = {"name": "k", "mode": "live", "scopes": ["wallets:read"]}
    response = await viewer.client.post(
        "/v1/api-keys", json={**body, "organization_id": organization_id}
    )
    _problem(response, 403, "permission_denied")
    for method, path in (
        ("GET", f"/v1/api-keys/{key['id']}"),
        ("POST", f"/v1/api-keys/{key['id']}/revoke"),
    ):
        _problem(await viewer.client.request(method, path), 403, "permission_denied")
    assert (await probe(rolled.json()["secret"])).status_code == 200

    revoked = await developer.client.post(f"/v1/api-keys/{key['id']}/revoke")
    assert revoked.json()["status"] == "revoked"
    _problem(await probe(rolled.json()["secret"]), 401, "invalid_api_key")


async def test_outsiders_find_no_organisation_key(make_person: PersonFactory, probe: Probe) -> None:
    owner, outsider = await make_person(), await make_person()
    organization_id = await _organization(owner)
    key = await owner.create_key(organization_id=organization_id)
    for method, path in (
        ("GET", f"/v1/api-keys/{key['id']}"),
        ("POST", f"/v1/api-keys/{key['id']}/roll"),
        ("POST", f"/v1/api-keys/{key['id']}/revoke"),
    ):
        _problem(await outsider.client.request(method, path), 404, "api_key_not_found")
    response = await outsider.client.get(
        "/v1/api-keys", params={"organization_id": organization_id}
    )
    _problem(response, 404, "organization_not_found")
    body = {"name": "k", "mode": "live", "scopes": ["wallets:read"]}
    response = await outsider.client.post(
        "/v1/api-keys", json={**body, "organization_id": organization_id}
    )
    _problem(response, 404, "organization_not_found")
    assert (await probe(key["secret"])).status_code == 200


async def test_an_organisation_keys_events_are_the_organisations(
    person: Person, db: Database
) -> None:
    organization_id = await _organization(person)
    key = await person.create_key(organization_id=organization_id)
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT organization_id, subject_user_id FROM audit_events WHERE object_id = %s",
            (key["id"],),
        )
        [event] = await cursor.fetchall()
    assert event == {"organization_id": organization_id, "subject_user_id": person.user_id}
