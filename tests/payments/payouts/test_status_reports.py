"""pain.002 status reports: settled payments complete, rejected ones fail and release their
hold; a report is applied all or nothing, and importing it again changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient

from finhub.integrations.iso20022 import write_pain002
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.payments.payouts.conftest import PersonFactory
from tests.payments.payouts.support import (
    Person,
    add_payee,
    balance,
    batch_of,
    payouts_of,
    run_batches,
    status_report,
    withdraw,
)
from tests.payments.payouts.test_withdrawals import assert_ledger_clean

XML = {"Content-Type": "application/xml"}


async def batched(
    people: PersonFactory, staff: AsyncClient, *amounts: int
) -> tuple[list[Person], list[dict[str, Any]], dict[str, Any]]:
    """One person per amount, each with a withdrawal of it, all sent in one batch."""
    persons = [await people(EUR=10_000) for _ in amounts]
    withdrawals = [
        await withdraw(person, (await add_payee(person))["id"], amount)
        for person, amount in zip(persons, amounts, strict=True)
    ]
    created = await run_batches(staff, "EUR")
    batch_id = await batch_of(staff, withdrawals[0]["id"], created)
    batch = next(b for b in created if b["id"] == batch_id)
    return persons, withdrawals, batch


async def import_report(staff: AsyncClient, batch: dict[str, Any], document: bytes) -> Any:
    return await staff.post(
        f"/v1/staff/payout-batches/{batch['id']}/status-report", content=document, headers=XML
    )


async def outbox_count(db: Database, payment_id: str) -> int:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM outbox_events WHERE data->>'id' = %s", (payment_id,)
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row["n"])


async def test_accepted_and_rejected_payments(
    people: PersonFactory, app_client: AsyncClient, db: Database, clock: OffsetClock
) -> None:
    (paid_person, failed_person), (paid, failed), batch = await batched(
        people, app_client, 2_000, 3_000
    )
    assert (await balance(db, paid_person)).held == 2_000 + paid["fee"]
    report = status_report(batch, {paid["id"]: ("ACSC", None), failed["id"]: ("RJCT", "AC04")})

    response = await import_report(app_client, batch, report)
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert (outcome["paid"], outcome["failed"], outcome["already_imported"]) == (1, 1, False)

    done = (await paid_person.client.get(f"/v1/payments/withdrawals/{paid['id']}")).json()
    assert (done["status"], done["payout_status"]) == ("completed", "paid")
    assert done["ledger_transaction_id"] is not None
    left = await balance(db, paid_person)
    assert (left.balance, left.held, left.available) == (
        10_000 - 2_000 - paid["fee"],
        0,
        left.balance,
    )

    rejected = (await failed_person.client.get(f"/v1/payments/withdrawals/{failed['id']}")).json()
    assert (rejected["status"], rejected["payout_status"]) == ("failed", "failed")
    assert rejected["failure_code"] == "AC04"
    back = await balance(db, failed_person)
    assert (back.balance, back.held, back.available) == (10_000, 0, 10_000)

    detail = (await app_client.get(f"/v1/staff/payout-batches/{batch['id']}")).json()
    mine = {p["payment_id"]: p for p in detail["payments"]}
    assert mine[failed["id"]]["reason_code"] == "AC04"
    await assert_ledger_clean(db, clock)


async def test_the_paid_withdrawal_balances_across_the_chart(
    people: PersonFactory, app_client: AsyncClient, db: Database
) -> None:
    """Wallet debit = bank outflow + fee revenue, and payout clearing nets to zero."""
    (person,), (withdrawal,), batch = await batched(people, app_client, 4_321)
    await import_report(app_client, batch, status_report(batch, {withdrawal["id"]: ("ACCC", None)}))
    async with db.connection() as conn:
        cursor = await conn.execute(
            """
            SELECT a.external_ref, sum(CASE e.direction WHEN 'debit' THEN e.amount
                                                        ELSE -e.amount END) AS net
              FROM ledger_entries e
              JOIN ledger_accounts a ON a.id = e.account_id
              JOIN ledger_transactions t ON t.id = e.transaction_id
             WHERE e.phase = 'posted' AND (t.metadata->>'payment_id' = %s
                   OR t.pending_id IN (SELECT hold_transaction_id FROM payments WHERE id = %s))
             GROUP BY a.external_ref
            """,
            (withdrawal["id"], withdrawal["id"]),
        )
        net = {row["external_ref"]: int(row["net"]) for row in await cursor.fetchall()}
    amount, fee = 4_321, withdrawal["fee"]
    assert net[f"wallet:{person.wallet_id}:EUR"] == amount + fee  # the customer's liability falls
    assert net["system:bank_clearing:EUR"] == -amount  # our bank account paid it out
    assert net.get("system:payout_clearing:EUR", 0) == 0
    assert net.get("system:fee_revenue:EUR", 0) == -fee
    assert sum(net.values()) == 0


async def test_importing_the_same_report_twice_changes_nothing(
    people: PersonFactory, app_client: AsyncClient, db: Database
) -> None:
    (person, other), (first, second), batch = await batched(people, app_client, 700, 800)
    report = status_report(batch, {first["id"]: ("ACSC", None), second["id"]: ("RJCT", "AM04")})
    assert (await import_report(app_client, batch, report)).status_code == 200
    events = await outbox_count(db, first["id"])
    balances = (await balance(db, person), await balance(db, other))

    again = await import_report(app_client, batch, report)
    assert again.status_code == 200
    assert again.json()["already_imported"] is True
    assert await outbox_count(db, first["id"]) == events
    assert (await balance(db, person), await balance(db, other)) == balances

    # A new report repeating the same statuses is recorded but moves nothing either.
    repeat = status_report(batch, {first["id"]: ("ACSC", None)})
    answer = (await import_report(app_client, batch, repeat)).json()
    assert (answer["paid"], answer["failed"], answer["already_imported"]) == (0, 0, False)
    assert await outbox_count(db, first["id"]) == events


async def test_a_report_naming_unknown_payments_changes_nothing(
    people: PersonFactory, app_client: AsyncClient, db: Database
) -> None:
    (person,), (withdrawal,), batch = await batched(people, app_client, 900)
    report = status_report(
        batch,
        {withdrawal["id"]: ("ACSC", None), "pay_01JZZZZZZZZZZZZZZZZZZZZZZZ": ("ACSC", None)},
    )
    response = await import_report(app_client, batch, report)
    assert response.status_code == 422
    assert response.json()["code"] == "status_report_mismatch"
    assert response.json()["unknown_payments"] == ["pay-01JZZZZZZZZZZZZZZZZZZZZZZZ"]
    assert (await payouts_of(db, [withdrawal["id"]]))[withdrawal["id"]][0] == "batched"
    assert (await balance(db, person)).held == 900

    other_file = {**batch, "message_id": "pob-01JZZZZZZZZZZZZZZZZZZZZZZZ"}
    wrong = await import_report(
        app_client, batch, status_report(other_file, {withdrawal["id"]: ("ACSC", None)})
    )
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "status_report_mismatch"
    garbage = await import_report(app_client, batch, b"<Document><not-pain002/></Document>")
    assert garbage.json()["code"] == "invalid_status_report"
    entity = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>'
    )
    assert (await import_report(app_client, batch, entity)).status_code == 422
    assert (await balance(db, person)).held == 900


async def test_a_later_report_cannot_contradict_an_earlier_one(
    people: PersonFactory, app_client: AsyncClient, db: Database
) -> None:
    (person,), (withdrawal,), batch = await batched(people, app_client, 1_100)
    await import_report(app_client, batch, status_report(batch, {withdrawal["id"]: ("ACSC", None)}))
    settled = await balance(db, person)
    contradiction = status_report(batch, {withdrawal["id"]: ("RJCT", "AC04")})
    response = await import_report(app_client, batch, contradiction)
    assert response.status_code == 409
    assert response.json()["code"] == "payout_status_conflict"
    assert await balance(db, person) == settled


async def test_interim_then_group_rejection(
    people: PersonFactory, app_client: AsyncClient, db: Database
) -> None:
    (first, second), withdrawals, batch = await batched(people, app_client, 500, 600)
    interim = status_report(batch, {w["id"]: ("ACTC", None) for w in withdrawals})
    assert (await import_report(app_client, batch, interim)).json()["paid"] == 0
    assert (await balance(db, first)).held == 500

    # A rejection of the whole file, without a line per payment, fails every payment in it.
    whole_file = write_pain002(
        message_id="BANK-REJECT-1",
        created_at=datetime.now(UTC),
        original_message_id=batch["message_id"],
        original_payment_info_id=f"{batch['message_id']}-1",
        payments=[],
        group_status="RJCT",
    )
    outcome = (await import_report(app_client, batch, whole_file)).json()
    assert outcome["failed"] == batch["payment_count"]
    assert (await balance(db, first)).available == 10_000
    assert (await balance(db, second)).available == 10_000
    detail = (await app_client.get(f"/v1/staff/payout-batches/{batch['id']}")).json()
    assert detail["status"] == "settled"
    assert all(p["status"] == "failed" for p in detail["payments"])
