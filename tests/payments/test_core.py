"""Recording payments: ledger, payment, activity, outbox and audit move together."""

from __future__ import annotations

import pytest

from finhub.audit.service import AuditContext
from finhub.kit.clock import OffsetClock
from finhub.kit.db.engine import Connection
from finhub.ledger.errors import InsufficientFunds
from finhub.ledger.models import Direction, EntrySpec
from finhub.ledger.service import LedgerService
from finhub.payments.core import Posting, change_status, create_payment, payment_for_wallet
from finhub.payments.errors import PaymentNotFound, PaymentStateConflict
from finhub.payments.models import ActivityLine, NewPayment
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.errors import WalletNotAvailable
from tests.factories import create_user

AUDIT = AuditContext.system("test")


async def funded_wallet(conn: Connection, ledger: LedgerService, clock: OffsetClock, cents: int):  # type: ignore[no-untyped-def]
    wallet = await wallets.ensure_wallet(conn, clock, await create_user(conn))
    account = await wallets.balance_account(conn, ledger, wallet, "EUR")
    bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, "EUR")
    await ledger.post_one(
        conn, ledger.transfer_spec(from_account=bank, to_account=account, amount=cents, asset="EUR")
    )
    return wallet, account


async def count(conn: Connection, sql: str, *params: object) -> int:
    cursor = await conn.execute(sql, params)
    row = await cursor.fetchone()
    assert row is not None
    return int(next(iter(row.values())))


async def test_a_payment_moves_money_and_leaves_every_record(
    conn: Connection, ledger: LedgerService, clock: OffsetClock
) -> None:
    payer, payer_account = await funded_wallet(conn, ledger, clock, 1_000)
    payee = await wallets.ensure_wallet(conn, clock, await create_user(conn))
    payee_account = await wallets.balance_account(conn, ledger, payee, "EUR")
    payment = await create_payment(
        conn,
        ledger,
        AUDIT,
        NewPayment(kind="p2p", wallet_id=payer.id, amount=250, currency="EUR",
                   counterparty_wallet_id=payee.id, note="lunch"),
        posting=Posting([EntrySpec(payer_account, Direction.DEBIT, 250),
                         EntrySpec(payee_account, Direction.CREDIT, 250)]),
        status="completed",
        activity=[ActivityLine(payer.id, "out", 250, "EUR", note="lunch"),
                  ActivityLine(payee.id, "in", 250, "EUR", note="lunch")],
    )  # fmt: skip
    assert payment.ledger_transaction_id is not None
    balances = {b.currency: b for b in await wallets.balances(conn, payer)}
    assert balances["EUR"].balance == 750
    assert (await wallets.balances(conn, payee))[0].available == 250
    assert (
        await count(conn, "SELECT count(*) FROM wallet_activity WHERE payment_id = %s", payment.id)
        == 2
    )
    assert (
        await count(conn, "SELECT count(*) FROM outbox_events WHERE data->>'id' = %s", payment.id)
        == 2
    )
    assert (
        await count(conn, "SELECT count(*) FROM audit_events WHERE object_id = %s", payment.id) == 1
    )
    assert (await payment_for_wallet(conn, payment.id, payee.id)).id == payment.id
    stranger = await wallets.ensure_wallet(conn, clock, await create_user(conn))
    with pytest.raises(PaymentNotFound):
        await payment_for_wallet(conn, payment.id, stranger.id)


async def test_insufficient_funds_records_nothing(
    conn: Connection, ledger: LedgerService, clock: OffsetClock
) -> None:
    payer, payer_account = await funded_wallet(conn, ledger, clock, 100)
    other = await system_account(conn, ledger, SystemAccount.PAYOUT_CLEARING, "EUR")
    before = await count(conn, "SELECT count(*) FROM payments WHERE wallet_id = %s", payer.id)
    with pytest.raises(InsufficientFunds):
        await create_payment(
            conn, ledger, AUDIT,
            NewPayment(kind="withdrawal", wallet_id=payer.id, amount=101, currency="EUR"),
            posting=Posting([EntrySpec(payer_account, Direction.DEBIT, 101),
                             EntrySpec(other, Direction.CREDIT, 101)]),
            status="processing", activity=[],
        )  # fmt: skip
    assert (
        await count(conn, "SELECT count(*) FROM payments WHERE wallet_id = %s", payer.id) == before
    )


async def test_status_moves_once_and_not_back(
    conn: Connection, ledger: LedgerService, clock: OffsetClock
) -> None:
    wallet, _ = await funded_wallet(conn, ledger, clock, 10)
    payment = await create_payment(
        conn, ledger, AUDIT,
        NewPayment(kind="bank_topup", wallet_id=wallet.id, amount=5, currency="EUR"),
        posting=None, status="processing",
        activity=[ActivityLine(wallet.id, "in", 5, "EUR")],
    )  # fmt: skip
    failed = await change_status(conn, ledger, AUDIT, payment.id, "failed", failure_code="x")
    assert failed.status == "failed"
    with pytest.raises(PaymentStateConflict):
        await change_status(conn, ledger, AUDIT, payment.id, "completed")


async def test_only_verified_people_get_a_wallet(conn: Connection, clock: OffsetClock) -> None:
    pending = await create_user(conn, status="pending_verification")
    with pytest.raises(WalletNotAvailable):
        await wallets.ensure_wallet(conn, clock, pending)
