"""Transfers between people, posted as a group in the caller's transaction.

A group of one is how every single payment between people is made (`service.transfer`); a
larger group is how the P2P group commit (`batcher`) posts the payments waiting at the same
moment. Each payment in a group stands alone: its fee, both sides' limits, the payer's funds
and the payee's wallet are judged for it, and a refusal answers that payment only. The work
is set-based, so a group costs a handful of statements, not a handful per payment:

- the fee schedules read once per (kind, currency);
- the limit locks of every wallet taken in one statement, in wallet id order, and both sides'
  limits checked at once (`finhub.payments.limits.limit_refusals`);
- the balance accounts read in one query (a payee's currency opened on first use);
- one independent ledger batch (`LedgerService.post(atomic=False)`): accounts locked in id
  order once, updates netted per account;
- the payments, activity lines, outbox events and audit records written together
  (`finhub.payments.core.record_payments`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finhub.audit.service import AuditContext
from finhub.errors import FinhubError
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.ledger.errors import InsufficientFunds
from finhub.ledger.models import Direction, EntrySpec, Transaction, TransactionSpec
from finhub.ledger.service import LedgerService
from finhub.payments.core import PaymentRecord, record_payments
from finhub.payments.fees import fees_for
from finhub.payments.limits import LimitCheck, limit_refusals, serialise_wallets
from finhub.payments.models import ActivityLine, NewPayment, Payment, PaymentKind
from finhub.payments.transfers.errors import RecipientWalletClosed
from finhub.payments.transfers.repository import Person
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.errors import WalletClosed
from finhub.wallets.models import Wallet


@dataclass(frozen=True, slots=True)
class Party:
    wallet: Wallet
    person: Person


@dataclass(frozen=True, slots=True)
class TransferOrder:
    """One payment payer → payee of `amount` (+ the fee) in `currency`."""

    payer: Party
    payee: Party
    kind: PaymentKind
    amount: int
    currency: str
    note: str | None
    metadata: dict[str, Any]
    audit: AuditContext
    # Chosen up front, so a group commit that fails on the wire can find out what committed.
    payment_id: str = field(default_factory=lambda: new_id("pay"))


TransferResult = Payment | FinhubError


def counterparty_label(person: Person) -> str:
    """How one side of a payment sees the other: their display name, else a masked email."""
    if person.display_name:
        return person.display_name
    return mask_email(person.email)


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


async def transfer_group(
    conn: Connection, ledger: LedgerService, orders: list[TransferOrder]
) -> list[TransferResult]:
    """Each order's completed payment, or the 4xx error that refused it, in order. Nothing is
    written for a refused order; the others go ahead."""
    now = ledger.clock.now()
    results: list[TransferResult | None] = [None] * len(orders)
    fees = await fees_for(conn, [(o.kind, o.currency, o.amount) for o in orders])
    await serialise_wallets(
        conn, [w for o in orders for w in (o.payer.wallet.id, o.payee.wallet.id)]
    )
    checks = [
        check
        for o in orders
        for check in (
            LimitCheck(o.payer.person.user_id, o.kind, o.currency, o.amount),
            LimitCheck(o.payee.person.user_id, "receive", o.currency, o.amount),
        )
    ]
    refusals = await limit_refusals(conn, checks, now)
    for index in range(len(orders)):
        results[index] = refusals[2 * index] or refusals[2 * index + 1]
    posted = await _post(conn, ledger, orders, fees, results)
    records = [(index, _record(orders[index], fees[index], txn)) for index, txn in posted]
    payments = await record_payments(conn, ledger, [record for _, record in records])
    for (index, _), payment in zip(records, payments, strict=True):
        results[index] = payment
    return [_settled(result) for result in results]


async def transfer_one(conn: Connection, ledger: LedgerService, order: TransferOrder) -> Payment:
    """A group of one: the completed payment, or its refusal raised."""
    [result] = await transfer_group(conn, ledger, [order])
    if isinstance(result, Payment):
        return result
    raise result


async def _post(
    conn: Connection,
    ledger: LedgerService,
    orders: list[TransferOrder],
    fees: list[int],
    results: list[TransferResult | None],
) -> list[tuple[int, Transaction]]:
    """Post every order not refused yet: one independent ledger batch for those whose both
    balances are open, then one at a time those whose payee balance opens with the payment.
    Refusals go into `results`."""
    accounts = await _balance_accounts(conn, orders, results)
    specs: list[tuple[int, TransactionSpec]] = []
    opening: list[int] = []
    for index, result in enumerate(results):
        if result is not None:
            continue
        try:
            entries = await _entries(conn, ledger, orders[index], fees[index], accounts)
        except _PayeeBalanceMissing:
            opening.append(index)
            continue
        except FinhubError as error:
            results[index] = error
            continue
        specs.append((index, _spec(ledger, orders[index], entries)))
    posted: list[tuple[int, Transaction]] = []
    outcomes = await ledger.post(conn, [spec for _, spec in specs], atomic=False)
    for (index, _), outcome in zip(specs, outcomes, strict=True):
        if outcome.transaction is not None:
            posted.append((index, outcome.transaction))
        else:
            results[index] = outcome.error
    for index in opening:
        order = orders[index]
        try:
            posted.append((index, await _post_opening(conn, ledger, order, fees[index], accounts)))
        except FinhubError as error:
            results[index] = error
    return posted


class _PayeeBalanceMissing(Exception):
    """The payee has never held the currency: their balance is opened with the payment."""


async def _balance_accounts(
    conn: Connection, orders: list[TransferOrder], results: list[TransferResult | None]
) -> dict[tuple[str, str], str]:
    """The open balance accounts of both sides of every order not refused yet."""
    return await wallets.open_balance_accounts(
        conn,
        [
            (wallet.id, order.currency)
            for order, result in zip(orders, results, strict=True)
            if result is None
            for wallet in (order.payer.wallet, order.payee.wallet)
        ],
    )


async def _post_opening(
    conn: Connection,
    ledger: LedgerService,
    order: TransferOrder,
    fee: int,
    accounts: dict[tuple[str, str], str],
) -> Transaction:
    """Open the payee's balance and post the payment in a savepoint of their own, so that a
    refused payment leaves no empty balance behind. The payee's wallet is read again under a
    share lock: a wallet being closed meanwhile gets no new balance."""
    try:
        async with conn.transaction():
            await wallets.lock_open(conn, order.payee.wallet.id)
            payee = await wallets.balance_account(conn, ledger, order.payee.wallet, order.currency)
            entries = await _entries(
                conn,
                ledger,
                order,
                fee,
                {**accounts, (order.payee.wallet.id, order.currency): payee},
            )
            return await ledger.post_one(conn, _spec(ledger, order, entries))
    except WalletClosed:
        raise RecipientWalletClosed("The recipient's wallet is closed.") from None


def _spec(ledger: LedgerService, order: TransferOrder, entries: list[EntrySpec]) -> TransactionSpec:
    return ledger.transaction_spec(
        entries=entries,
        description=f"{order.kind} {order.payment_id}",
        metadata={"payment_id": order.payment_id, "kind": order.kind},
    )


async def _entries(
    conn: Connection,
    ledger: LedgerService,
    order: TransferOrder,
    fee: int,
    accounts: dict[tuple[str, str], str],
) -> list[EntrySpec]:
    """The legs of the transfer. A payer with no balance in the currency has nothing to send:
    that is answered without opening an empty balance for them."""
    currency = order.currency
    payer_account = accounts.get((order.payer.wallet.id, currency))
    if payer_account is None:
        raise InsufficientFunds(f"You have no {currency} balance.")
    if order.payee.wallet.status != "active":
        raise RecipientWalletClosed("The recipient's wallet is closed.")
    payee_account = accounts.get((order.payee.wallet.id, currency))
    if payee_account is None:
        raise _PayeeBalanceMissing
    entries = [
        EntrySpec(payer_account, Direction.DEBIT, order.amount + fee),
        EntrySpec(payee_account, Direction.CREDIT, order.amount),
    ]
    if fee:
        revenue = await system_account(conn, ledger, SystemAccount.FEE_REVENUE, currency)
        entries.append(EntrySpec(revenue, Direction.CREDIT, fee))
    return entries


def _record(order: TransferOrder, fee: int, transaction: Transaction) -> PaymentRecord:
    payer, payee = order.payer, order.payee
    return PaymentRecord(
        payment_id=order.payment_id,
        new=NewPayment(
            kind=order.kind,
            wallet_id=payer.wallet.id,
            amount=order.amount,
            currency=order.currency,
            fee=fee,
            counterparty_wallet_id=payee.wallet.id,
            note=order.note,
            metadata=order.metadata,
        ),
        status="completed",
        transaction=transaction,
        held=False,
        activity=[
            ActivityLine(payer.wallet.id, "out", order.amount, order.currency, fee=fee,
                         counterparty=counterparty_label(payee.person), note=order.note),
            ActivityLine(payee.wallet.id, "in", order.amount, order.currency,
                         counterparty=counterparty_label(payer.person), note=order.note),
        ],
        audit=order.audit,
        owners={payer.wallet.id: payer.person.user_id, payee.wallet.id: payee.person.user_id},
    )  # fmt: skip


def _wallet_ids(order: TransferOrder) -> tuple[str, str]:
    return order.payer.wallet.id, order.payee.wallet.id


def _settled(result: TransferResult | None) -> TransferResult:
    assert result is not None  # every order ends refused or paid
    return result
