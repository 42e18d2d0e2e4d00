"""Withdrawals: a ledger hold until the bank answers, cancel while not batched, and refusals."""

from __future__ import annotations

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from tests.payments.payouts.conftest import PersonFactory
from tests.payments.payouts.support import add_payee, balance, withdraw


async def count_payments(db: Database, wallet_id: str) -> int:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM payments WHERE wallet_id = %s", (wallet_id,)
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row["n"])


async def assert_ledger_clean(db: Database, clock: OffsetClock) -> None:
    async with db.connection() as conn:
        report = await LedgerService(clock).verify(conn)
    assert report.ok, (report.unbalanced, report.mismatched, report.bad_snapshots)


async def test_a_withdrawal_holds_the_money(
    people: PersonFactory, db: Database, clock: OffsetClock
) -> None:
    person = await people(EUR=10_000)
    payee = await add_payee(person)
    key = {"Idempotency-Key": "withdraw-once"}
    body = {"payee_id": payee["id"], "amount": 2_500, "currency": "EUR", "note": "rent"}
    response = await person.client.post("/v1/payments/withdrawals", json=body, headers=key)
    assert response.status_code == 201, response.text
    withdrawal = response.json()
    assert withdrawal["object"] == "withdrawal"
    assert (withdrawal["status"], withdrawal["payout_status"]) == ("processing", "pending")
    assert withdrawal["hold_transaction_id"] is not None
    assert withdrawal["end_to_end_id"] == withdrawal["id"].replace("_", "-")
    held = await balance(db, person)
    assert (held.balance, held.held, held.available) == (10_000, 2_500, 7_500)

    replay = await person.client.post("/v1/payments/withdrawals", json=body, headers=key)
    assert replay.json()["id"] == withdrawal["id"]
    assert (await balance(db, person)).held == 2_500
    assert await count_payments(db, person.wallet_id) == 1

    fetched = await person.client.get(f"/v1/payments/withdrawals/{withdrawal['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["note"] == "rent"
    await assert_ledger_clean(db, clock)


async def test_cancel_releases_the_hold(
    people: PersonFactory, db: Database, clock: OffsetClock
) -> None:
    person = await people(EUR=5_000)
    payee = await add_payee(person)
    withdrawal = await withdraw(person, payee["id"], 5_000)
    assert (await balance(db, person)).available == 0

    response = await person.client.post(f"/v1/payments/withdrawals/{withdrawal['id']}/cancel")
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["payout_status"]) == (
        "canceled", "canceled",
    )  # fmt: skip
    restored = await balance(db, person)
    assert (restored.balance, restored.held, restored.available) == (5_000, 0, 5_000)

    again = await person.client.post(f"/v1/payments/withdrawals/{withdrawal['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["code"] == "payment_state_conflict"
    assert (await balance(db, person)).available == 5_000
    await assert_ledger_clean(db, clock)


async def test_insufficient_funds_records_nothing(people: PersonFactory, db: Database) -> None:
    person = await people(EUR=1_000)
    payee = await add_payee(person)
    await withdraw(person, payee["id"], 600)
    response = await person.client.post(
        "/v1/payments/withdrawals",
        json={"payee_id": payee["id"], "amount": 401, "currency": "EUR"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_funds"
    assert await count_payments(db, person.wallet_id) == 1
    assert (await balance(db, person)).available == 400


async def test_unknown_payee_and_wrong_currency(people: PersonFactory) -> None:
    person = await people(EUR=1_000, GBP=1_000)
    missing = await person.client.post(
        "/v1/payments/withdrawals",
        json={"payee_id": "pye_01JZZZZZZZZZZZZZZZZZZZZZZZ", "amount": 100, "currency": "EUR"},
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "payee_not_found"
    payee = await add_payee(person)
    wrong = await person.client.post(
        "/v1/payments/withdrawals",
        json={"payee_id": payee["id"], "amount": 100, "currency": "GBP"},
    )
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "currency_mismatch"
    bad_amount = await person.client.post(
        "/v1/payments/withdrawals",
        json={"payee_id": payee["id"], "amount": 1.5, "currency": "EUR"},
    )
    assert bad_amount.status_code == 422


async def test_a_closed_wallet_cannot_withdraw(people: PersonFactory, db: Database) -> None:
    person = await people(EUR=0)
    payee = await add_payee(person)
    async with db.transaction() as conn:  # closed as the wallets module leaves it
        await conn.execute(
            "UPDATE wallets SET status = 'closed', closed_at = now() WHERE id = %s",
            (person.wallet_id,),
        )
    response = await person.client.post(
        "/v1/payments/withdrawals",
        json={"payee_id": payee["id"], "amount": 100, "currency": "EUR"},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "wallet_closed"
    assert await count_payments(db, person.wallet_id) == 0


async def test_another_persons_withdrawal_is_not_found(people: PersonFactory, db: Database) -> None:
    owner, stranger = await people(EUR=1_000), await people(EUR=1_000)
    withdrawal = await withdraw(owner, (await add_payee(owner))["id"], 300)
    path = f"/v1/payments/withdrawals/{withdrawal['id']}"
    assert (await stranger.client.get(path)).status_code == 404
    canceled = await stranger.client.post(f"{path}/cancel")
    assert canceled.status_code == 404
    assert canceled.json()["code"] == "withdrawal_not_found"
    assert (await owner.client.get(path)).json()["status"] == "processing"
    assert (await balance(db, owner)).held == 300
