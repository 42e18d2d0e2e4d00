"""Creating, listing, reading and changing organisations through the API."""

from __future__ import annotations

from typing import Any

import pytest

from finhub.organizations.countries import ISO_3166_ALPHA_2
from finhub.organizations.schemas import MemberOut, OrganizationOut
from tests.organizations.conftest import (
    MemberFactory,
    Org,
    OrgFactory,
    PersonFactory,
    problem,
    registration,
)


async def test_a_person_creates_an_organisation_and_becomes_its_owner(
    make_person: PersonFactory,
) -> None:
    founder = await make_person()
    body = {
        "legal_name": "  Müller & Söhne GmbH ",
        "registration_number": "HRB " + registration()[4:],
        "country": "de",
        "display_name": "Müller",
    }
    response = await founder.client.post("/v1/organizations", json=body)
    assert response.status_code == 201, response.text
    created = OrganizationOut.model_validate(response.json())
    assert created.legal_name == "Müller & Söhne GmbH"
    assert created.country == "DE"
    assert created.display_name == "Müller"
    assert created.id.startswith("org_")

    members = (await founder.client.get(f"/v1/organizations/{created.id}/members")).json()
    assert [MemberOut.model_validate(m).role for m in members["data"]] == ["owner"]
    assert members["data"][0]["user_id"] == founder.user_id
    assert members["data"][0]["email"] == founder.email


async def test_list_shows_only_my_organisations_newest_first(
    make_person: PersonFactory, make_org: OrgFactory
) -> None:
    founder = await make_person()
    ids = []
    for _ in range(3):
        body = {"legal_name": "Shop", "registration_number": registration(), "country": "FR"}
        response = await founder.client.post("/v1/organizations", json=body)
        ids.append(response.json()["id"])
    await make_org()  # someone else's

    first = (await founder.client.get("/v1/organizations", params={"limit": 2})).json()
    assert [o["id"] for o in first["data"]] == [ids[2], ids[1]]
    assert first["has_more"] is True
    rest = await founder.client.get(
        "/v1/organizations", params={"limit": 2, "starting_after": first["next_starting_after"]}
    )
    assert [o["id"] for o in rest.json()["data"]] == [ids[0]]
    assert rest.json()["has_more"] is False


async def test_registration_number_is_unique_per_country_however_written(
    make_person: PersonFactory, org: Org
) -> None:
    other = await make_person()
    number = org.payload["registration_number"]
    same = {"legal_name": "Copycat", "registration_number": number.lower().replace(" ", "-")}
    response = await other.client.post("/v1/organizations", json={**same, "country": "DE"})
    problem(response, 409, "registration_number_taken")
    elsewhere = await other.client.post("/v1/organizations", json={**same, "country": "AT"})
    assert elsewhere.status_code == 201, elsewhere.text
    mine = (await other.client.get("/v1/organizations")).json()["data"]
    assert [o["country"] for o in mine] == ["AT"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("country", "XX"),  # two letters, but not an assigned code
        ("country", "DEU"),
        ("country", "EU"),
        ("legal_name", ""),
        ("legal_name", "x" * 201),
        ("legal_name", "nul\x00byte"),
        ("registration_number", "---"),
        ("registration_number", "1" * 65),
    ],
)
async def test_invalid_organisations_are_refused(
    make_person: PersonFactory, field: str, value: str
) -> None:
    person = await make_person()
    body = {"legal_name": "Acme", "registration_number": registration(), "country": "DE"}
    response = await person.client.post("/v1/organizations", json={**body, field: value})
    problem(response, 422, "validation_error")
    assert (await person.client.get("/v1/organizations")).json()["data"] == []


async def test_unknown_fields_are_refused(make_person: PersonFactory) -> None:
    person = await make_person()
    body = {"legal_name": "Acme", "registration_number": registration(), "country": "DE"}
    response = await person.client.post("/v1/organizations", json={**body, "owner": "usr_x"})
    problem(response, 422, "validation_error")


def test_the_country_list_is_iso_3166_1() -> None:
    assert len(ISO_3166_ALPHA_2) == 249
    assert {"DE", "US", "SS", "XK"} & ISO_3166_ALPHA_2 == {"DE", "US", "SS"}  # XK: user-assigned


async def test_get_and_patch(org: Org) -> None:
    path = f"/v1/organizations/{org.id}"
    assert (await org.owner.client.get(path)).json() == org.payload

    response = await org.owner.client.patch(path, json={"display_name": "Acme", "legal_name": "A"})
    assert response.status_code == 200, response.text
    changed: dict[str, Any] = response.json()
    assert (changed["display_name"], changed["legal_name"]) == ("Acme", "A")
    assert changed["updated_at"] > org.payload["updated_at"]
    assert (await org.owner.client.get(path)).json() == changed


@pytest.mark.parametrize(
    "body",
    [{"country": "FR"}, {"registration_number": "1"}, {"legal_name": None}, {"legal_name": ""}],
)
async def test_patch_refuses_identity_changes_and_nulls(org: Org, body: dict[str, Any]) -> None:
    path = f"/v1/organizations/{org.id}"
    problem(await org.owner.client.patch(path, json=body), 422, "validation_error")
    assert (await org.owner.client.get(path)).json() == org.payload


async def test_patch_needs_org_manage(org: Org, add_member: MemberFactory) -> None:
    maker = await add_member(org, "maker")
    path = f"/v1/organizations/{org.id}"
    problem(await maker.client.patch(path, json={"legal_name": "Mine"}), 403, "permission_denied")
    assert (await maker.client.get(path)).json()["legal_name"] == org.payload["legal_name"]


async def test_strangers_and_anonymous_callers_see_nothing(
    org: Org, make_person: PersonFactory, anonymous_client: Any, app_client: Any
) -> None:
    stranger = await make_person()
    path = f"/v1/organizations/{org.id}"
    problem(await stranger.client.get(path), 404, "organization_not_found")
    problem(
        await stranger.client.get("/v1/organizations/org_missing"), 404, "organization_not_found"
    )
    problem(await anonymous_client.get(path), 401, "unauthorized")
    problem(await app_client.get(path), 403, "wrong_principal_type")  # staff are not members
    problem(
        await app_client.post(
            "/v1/organizations",
            json={"legal_name": "S", "registration_number": registration(), "country": "DE"},
        ),
        403,
        "wrong_principal_type",
    )


async def test_creating_is_idempotent(make_person: PersonFactory) -> None:
    founder = await make_person()
    body = {"legal_name": "Once", "registration_number": registration(), "country": "NL"}
    headers = {"Idempotency-Key": "create-once"}
    first = await founder.client.post("/v1/organizations", json=body, headers=headers)
    again = await founder.client.post("/v1/organizations", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len((await founder.client.get("/v1/organizations")).json()["data"]) == 1
