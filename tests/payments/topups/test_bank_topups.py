"""Bank-transfer top-ups: funding instructions with a virtual IBAN, credits matched by
reference or IBAN, unknown references waiting in suspense until staff assign them, and
duplicate bank messages applied once."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from schwifty import IBAN

from finhub.identity.principal import Principal
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.payments.topups.endpoints import _require_test_mode
from finhub.payments.topups.errors import SimulationNotAllowed
from tests.payments.topups.support import Person, eur_balance, new_person

pytestmark = pytest.mark.usefixtures("ledger_is_clean")
SIMULATE = "/v1/payments/bank-topups/simulate"


async def instructions(person: Person) -> dict[str, Any]:
    response = await person.client.get("/v1/payments/bank-topups/instructions")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_each_wallet_has_its_own_valid_virtual_iban(
    app: Any, person: Person, db: Database, clock: OffsetClock
) -> None:
    first = await instructions(person)
    assert first["object"] == "funding_instructions"
    assert first["payment_reference"].startswith("FH")
    iban = IBAN(first["iban"])  # raises unless the checksum and format are right
    assert iban.country_code == "DE"
    assert iban.bank_code == "10000000"
    assert (await instructions(person))["iban"] == first["iban"]  # stable
    other = await new_person(app, db, clock)
    async with other.client:
        assert (await instructions(other))["iban"] != first["iban"]


async def test_a_transfer_with_the_reference_credits_the_wallet(
    person: Person, db: Database
) -> None:
    reference = (await instructions(person))["payment_reference"]
    response = await person.client.post(
        SIMULATE,
        json={"reference": f"top-up {reference.lower()}", "amount": 12_345, "currency": "EUR",
              "sender_name": "Ada Lovelace", "bank_transaction_id": f"bt-{reference}"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    credit = response.json()
    assert credit["status"] == "matched"
    assert credit["payment_id"].startswith("pay_")
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.available == 12_345


async def test_a_transfer_to_the_virtual_iban_credits_the_wallet(
    person: Person, db: Database
) -> None:
    iban = IBAN((await instructions(person))["iban"]).formatted  # with spaces, as typed
    response = await person.client.post(
        SIMULATE,
        json={"iban": iban, "amount": 500, "currency": "EUR", "sender_name": "Grace Hopper"},
    )
    assert response.status_code == 201
    assert response.json()["status"] == "matched"
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.balance == 500


async def test_a_duplicate_bank_message_is_applied_once(person: Person, db: Database) -> None:
    reference = (await instructions(person))["payment_reference"]
    body = {"reference": reference, "amount": 2_000, "currency": "EUR",
            "sender_name": "Alan Turing", "bank_transaction_id": f"dup-{reference}"}  # fmt: skip
    first = await person.client.post(SIMULATE, json=body)
    second = await person.client.post(SIMULATE, json=body)
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["payment_id"] == first.json()["payment_id"]
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.balance == 2_000


async def test_an_unknown_reference_waits_for_staff_and_is_assigned_once(
    person: Person, app_client: AsyncClient, db: Database
) -> None:
    await instructions(person)  # opens the wallet
    parked = await person.client.post(
        SIMULATE,
        json={"reference": "invoice 42", "amount": 7_700, "currency": "EUR",
              "sender_name": "Unknown Sender"},
    )  # fmt: skip
    assert parked.status_code == 201
    credit = parked.json()
    assert credit["status"] == "unmatched"
    assert credit["unmatched_reason"] == "unknown_reference"
    assert credit["payment_id"] is None

    listed = await _all_unmatched(app_client)
    assert credit["id"] in listed
    forbidden = await person.client.get("/v1/payments/bank-topups/unmatched")
    assert forbidden.status_code == 403

    wallet_id = (await instructions(person))["wallet_id"]
    assign = f"/v1/payments/bank-topups/unmatched/{credit['id']}/assign"
    not_staff = await person.client.post(assign, json={"wallet_id": wallet_id})
    assert not_staff.status_code == 403
    assigned = await app_client.post(assign, json={"wallet_id": wallet_id})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "assigned"
    assert assigned.json()["wallet_id"] == wallet_id
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.balance == 7_700
    assert credit["id"] not in await _all_unmatched(app_client)

    again = await app_client.post(assign, json={"wallet_id": wallet_id})
    assert again.status_code == 409
    assert again.json()["code"] == "bank_credit_already_resolved"
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.balance == 7_700


async def _all_unmatched(app_client: AsyncClient) -> set[str]:
    ids: set[str] = set()
    cursor: str | None = None
    while True:
        params = {"limit": "100", **({"starting_after": cursor} if cursor else {})}
        page = (await app_client.get("/v1/payments/bank-topups/unmatched", params=params)).json()
        ids.update(item["id"] for item in page["data"])
        if not page["has_more"]:
            return ids
        cursor = page["next_starting_after"]


async def test_assigning_to_a_missing_wallet_or_credit_answers_404(
    person: Person, app_client: AsyncClient
) -> None:
    parked = await person.client.post(
        SIMULATE,
        json={"reference": "nobody", "amount": 100, "currency": "EUR", "sender_name": "X"},
    )
    credit_id = parked.json()["id"]
    missing_wallet = await app_client.post(
        f"/v1/payments/bank-topups/unmatched/{credit_id}/assign", json={"wallet_id": "wal_x"}
    )
    assert missing_wallet.status_code == 404
    missing_credit = await app_client.post(
        "/v1/payments/bank-topups/unmatched/bcr_missing/assign", json={"wallet_id": "wal_x"}
    )
    assert missing_credit.status_code == 404
    assert credit_id in await _all_unmatched(app_client)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": 100, "currency": "EUR", "sender_name": "X"}, "validation_error"),
        ({"iban": "DE00 1234", "amount": 100, "currency": "EUR", "sender_name": "X"},
         "iban_invalid"),
        ({"reference": "x", "amount": 0, "currency": "EUR", "sender_name": "X"},
         "validation_error"),
        ({"reference": "x", "amount": 100, "currency": "ZZZ", "sender_name": "X"},
         "unknown_asset"),
    ],
)  # fmt: skip
async def test_invalid_bank_credits_are_refused(
    person: Person, body: dict[str, Any], code: str
) -> None:
    response = await person.client.post(SIMULATE, json=body)
    assert response.status_code == 422
    assert response.json()["code"] == code


def test_in_production_only_book_keeping_staff_simulate() -> None:
    live_key = Principal(kind="api_key", id="key_1", user_id="usr_1", live_mode=True)
    test_key = Principal(kind="api_key", id="key_2", user_id="usr_1", live_mode=False)
    staff = Principal(
        kind="staff", id="stf_1", staff_id="stf_1", staff_roles=frozenset({"operations"})
    )
    support = Principal(
        kind="staff", id="stf_2", staff_id="stf_2", staff_roles=frozenset({"support"})
    )
    person = Principal(kind="user", id="usr_1", user_id="usr_1")
    with pytest.raises(SimulationNotAllowed):
        _require_test_mode(live_key, "production")
    with pytest.raises(SimulationNotAllowed):
        _require_test_mode(person, "production")
    with pytest.raises(SimulationNotAllowed):
        _require_test_mode(support, "production")
    with pytest.raises(SimulationNotAllowed):  # no sandbox ledger: a test key moves real money
        _require_test_mode(test_key, "production")
    _require_test_mode(staff, "production")
    _require_test_mode(live_key, "development")
