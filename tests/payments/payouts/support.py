"""Helpers for money-out tests: funding wallets, payees, withdrawals and bank reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient

from finhub.integrations.iso20022 import PaymentStatus, write_pain002
from finhub.kit.clock import Clock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.ledger.service import LedgerService
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import CurrencyBalance

# Examples from schwifty's documentation and the banks' published test accounts.
DE_IBAN = "DE89 3704 0044 0532 0130 00"  # Commerzbank, COBADEFFXXX
FR_IBAN = "FR14 2004 1010 0505 0001 3M02 606"
GB_IBAN = "GB82 WEST 1234 5698 7654 32"


@dataclass
class Person:
    user_id: str
    wallet_id: str
    client: AsyncClient


async def fund(conn: Connection, clock: Clock, user_id: str, balances: dict[str, int]) -> str:
    """Open the person's wallet and pay `balances` in from the bank clearing account."""
    ledger = LedgerService(clock)
    wallet = await wallets.ensure_wallet(conn, clock, user_id)
    for currency, amount in balances.items():
        account = await wallets.balance_account(conn, ledger, wallet, currency)
        if amount:
            bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, currency)
            spec = ledger.transfer_spec(
                from_account=bank, to_account=account, amount=amount, asset=currency
            )
            await ledger.post_one(conn, spec)
    return wallet.id


async def balance(db: Database, person: Person, currency: str = "EUR") -> CurrencyBalance:
    async with db.connection() as conn:
        wallet = await wallets.get_wallet(conn, person.wallet_id)
        found = {b.currency: b for b in await wallets.balances(conn, wallet)}
    return found[currency]


async def add_payee(person: Person, **body: Any) -> dict[str, Any]:
    body = {"name": "Jane Doe", "currency": "EUR", "iban": DE_IBAN, **body}
    response = await person.client.post("/v1/payees", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def withdraw(person: Person, payee_id: str, amount: int, **extra: Any) -> dict[str, Any]:
    body = {"payee_id": payee_id, "amount": amount, "currency": "EUR", **extra}
    response = await person.client.post(
        "/v1/payments/withdrawals", json=body, headers={"Idempotency-Key": new_id("idem")}
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def run_batches(staff: AsyncClient, currency: str | None = None) -> list[dict[str, Any]]:
    response = await staff.post(
        "/v1/staff/payout-batches", json={"currency": currency} if currency else None
    )
    assert response.status_code == 201, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def batch_of(staff: AsyncClient, payment_id: str, created: list[dict[str, Any]]) -> str:
    """The id of the batch among `created` that holds `payment_id`."""
    for batch in created:
        detail = (await staff.get(f"/v1/staff/payout-batches/{batch['id']}")).json()
        if any(p["payment_id"] == payment_id for p in detail["payments"]):
            return str(batch["id"])
    raise AssertionError(f"{payment_id} is in none of the batches")


def status_report(
    batch: dict[str, Any],
    statuses: dict[str, tuple[str, str | None]],
    *,
    message_id: str = "",
) -> bytes:
    """A pain.002 for `batch`: payment id → (status, reason code)."""
    return write_pain002(
        message_id=message_id or new_id("idem").replace("_", "-")[:35],
        created_at=datetime.now(UTC),
        original_message_id=batch["message_id"],
        original_payment_info_id=f"{batch['message_id']}-1",
        payments=[
            PaymentStatus(payment_id.replace("_", "-"), status, reason, None)
            for payment_id, (status, reason) in statuses.items()
        ],
    )


async def payouts_of(db: Database, payment_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """payment id → (payout status, batch id)."""
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT payment_id, status, batch_id FROM payouts WHERE payment_id = ANY(%s)",
            (payment_ids,),
        )
        return {
            row["payment_id"]: (row["status"], row["batch_id"]) for row in await cursor.fetchall()
        }
