"""Payees: bank details checked with schwifty, step-up to add one, scoped to their owner."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from finhub.kit.db import Database
from finhub.payments.payouts.errors import InvalidBankDetails
from finhub.payments.payouts.payees import check_bank_details
from tests.payments.payouts.conftest import PersonFactory
from tests.payments.payouts.support import DE_IBAN, FR_IBAN, GB_IBAN, add_payee

NO_LOCAL = {"account_number": None, "sort_code": None, "routing_number": None, "country": None}


@pytest.mark.parametrize(
    ("iban", "bic", "expected_bic"),
    [
        (DE_IBAN, None, "COBADEFFXXX"),  # the BIC comes from schwifty's bank registry
        (DE_IBAN, "COBADEFF", "COBADEFFXXX"),
        ("de89370400440532013000", "COBADEFFXXX", "COBADEFFXXX"),
        (FR_IBAN, None, "PSSTFRPPXXX"),
        ("NL91ABNA0417164300", "ABNANL2A", "ABNANL2AXXX"),
    ],
)
def test_valid_ibans_and_bics_are_normalised(iban: str, bic: str | None, expected_bic: str) -> None:
    details = check_bank_details(currency="EUR", iban=iban, bic=bic, **NO_LOCAL)
    assert details.iban == iban.replace(" ", "").upper()
    assert details.bic == expected_bic


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"iban": "DE89 3704 0044 0532 0130 01"}, "iban_invalid"),  # check digits
        ({"iban": "DE8937040044053201300"}, "iban_invalid"),  # length
        ({"iban": "XX89370400440532013000"}, "iban_invalid"),  # country
        ({"iban": DE_IBAN, "bic": "12345678"}, "bic_invalid"),
        ({"iban": DE_IBAN, "bic": "ABCDXX11"}, "bic_invalid"),  # no country XX
        ({"iban": DE_IBAN, "bic": "ABNANL2A"}, "bic_mismatch"),  # a Dutch bank
        ({"iban": DE_IBAN, "bic": "DEUTDEFF"}, "bic_mismatch"),  # not Commerzbank
        ({"iban": DE_IBAN, "country": "FR"}, "country_mismatch"),
        ({}, "account_details_required"),
        ({"iban": DE_IBAN, "account_number": "31926819"}, "account_details_ambiguous"),
    ],
)
def test_invalid_bank_details_have_clear_codes(fields: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidBankDetails) as raised:
        check_bank_details(currency="EUR", **{**NO_LOCAL, "iban": None, "bic": None, **fields})
    assert raised.value.code == code
    assert raised.value.status == 422


def test_local_accounts() -> None:
    uk = check_bank_details(
        currency="GBP", iban=None, bic=None, account_number="31926819",
        sort_code="60-16-13", routing_number=None, country="gb",
    )  # fmt: skip
    assert (uk.country, uk.clearing_system, uk.clearing_code) == ("GB", "GBDSC", "601613")
    us = check_bank_details(
        currency="USD", iban=None, bic=None, account_number="000123456789",
        sort_code=None, routing_number="021000021", country="US",
    )  # fmt: skip
    assert (us.clearing_system, us.clearing_code) == ("USABA", "021000021")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"country": "US", "routing_number": "021000022"}, "routing_number_invalid"),
        ({"country": "GB", "sort_code": "60161"}, "sort_code_invalid"),
        ({"country": "GB", "routing_number": "021000021"}, "sort_code_required"),
        ({"country": "DE", "sort_code": "601613"}, "local_account_unsupported"),
        (
            {"country": "GB", "sort_code": "601613", "account_number": "12"},
            "account_number_invalid",
        ),
    ],
)
def test_invalid_local_accounts(fields: dict[str, Any], code: str) -> None:
    currency = "USD" if fields["country"] == "US" else "GBP"
    arguments = {**NO_LOCAL, "account_number": "31926819", **fields}
    with pytest.raises(InvalidBankDetails) as raised:
        check_bank_details(currency=currency, iban=None, bic=None, **arguments)
    assert raised.value.code == code


def test_euro_payouts_need_a_sepa_iban() -> None:
    with pytest.raises(InvalidBankDetails) as raised:
        check_bank_details(
            currency="EUR", iban=None, bic=None, account_number="31926819",
            sort_code="601613", routing_number=None, country="GB",
        )  # fmt: skip
    assert raised.value.code == "currency_not_supported"
    assert check_bank_details(currency="GBP", iban=GB_IBAN, bic=None, **NO_LOCAL).iban


async def test_add_list_get_and_remove_a_payee(people: PersonFactory, db: Database) -> None:
    person = await people()
    payee = await add_payee(person, nickname="Savings", bic="COBADEFFXXX")
    assert payee["object"] == "payee"
    assert payee["id"].startswith("pye_")
    assert (payee["iban"], payee["bic"], payee["country"]) == (
        "DE89370400440532013000", "COBADEFFXXX", "DE",
    )  # fmt: skip
    local = await add_payee(
        person, currency="GBP", iban=None, account_number="31926819", sort_code="601613",
        country="GB",
    )  # fmt: skip
    assert local["sort_code"] == "601613"
    assert local["iban"] is None

    listed = (await person.client.get("/v1/payees", params={"limit": 1})).json()
    assert [p["id"] for p in listed["data"]] == [local["id"]]
    assert listed["has_more"] is True
    second = (await person.client.get("/v1/payees", params={"starting_after": local["id"]})).json()
    assert [p["id"] for p in second["data"]] == [payee["id"]]
    assert (await person.client.get(f"/v1/payees/{payee['id']}")).json()["nickname"] == "Savings"

    removed = await person.client.delete(f"/v1/payees/{payee['id']}")
    assert removed.status_code == 200
    assert (await person.client.get(f"/v1/payees/{payee['id']}")).status_code == 404
    assert (await person.client.delete(f"/v1/payees/{payee['id']}")).status_code == 404
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT action FROM audit_events WHERE object_id = %s ORDER BY seq", (payee["id"],)
        )
        assert [row["action"] for row in await cursor.fetchall()] == [
            "payee.added", "payee.removed",
        ]  # fmt: skip


async def test_invalid_payee_is_a_422_that_saves_nothing(people: PersonFactory) -> None:
    person = await people()
    response = await person.client.post(
        "/v1/payees",
        json={"name": "Jane", "currency": "EUR", "iban": DE_IBAN, "bic": "DEUTDEFF"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "bic_mismatch"
    bad_iban = await person.client.post(
        "/v1/payees", json={"name": "Jane", "currency": "EUR", "iban": "DE00123"}
    )
    assert bad_iban.json()["code"] == "iban_invalid"
    assert (await person.client.get("/v1/payees")).json()["data"] == []


async def test_adding_a_payee_needs_step_up(people: PersonFactory) -> None:
    person = await people(aal=1)
    response = await person.client.post(
        "/v1/payees", json={"name": "Jane", "currency": "EUR", "iban": DE_IBAN}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "step_up_required"
    assert (await person.client.get("/v1/payees")).json()["data"] == []


async def test_another_persons_payee_is_not_found(
    people: PersonFactory, app_client: AsyncClient
) -> None:
    owner, stranger = await people(), await people(EUR=1_000)
    payee = await add_payee(owner)
    assert (await stranger.client.get(f"/v1/payees/{payee['id']}")).status_code == 404
    assert (await stranger.client.delete(f"/v1/payees/{payee['id']}")).status_code == 404
    assert (await stranger.client.get("/v1/payees")).json()["data"] == []
    response = await stranger.client.post(
        "/v1/payments/withdrawals",
        json={"payee_id": payee["id"], "amount": 100, "currency": "EUR"},
    )
    assert response.status_code == 404
    assert response.json()["code"] == "payee_not_found"
    assert (await owner.client.get(f"/v1/payees/{payee['id']}")).status_code == 200
    # Staff sessions are not people: the payee endpoints are not theirs.
    assert (await app_client.get("/v1/payees")).status_code == 403
