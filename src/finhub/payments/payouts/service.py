"""Payees and withdrawals: the rules of money leaving a wallet for a bank account.

A withdrawal holds the amount and its fee in the ledger (a pending transaction from the wallet
to the payout clearing account and fee revenue) and waits, `processing`, until a payout batch
takes it to the bank. Until then the person may cancel it, which voids the hold. The bank's
status report settles it (see `finhub.payments.payouts.batches`).
"""

from __future__ import annotations

from dataclasses import dataclass

from finhub.audit.service import AuditContext, record
from finhub.kit.clock import Clock
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.ledger.models import Direction, EntrySpec
from finhub.ledger.service import LedgerService
from finhub.payments import core
from finhub.payments.errors import PaymentStateConflict
from finhub.payments.fees import fee_for
from finhub.payments.limits import check_limits
from finhub.payments.models import ActivityLine, NewPayment, Payment
from finhub.payments.payouts import repository
from finhub.payments.payouts.errors import (
    PayeeCurrencyMismatch,
    PayeeNotFound,
    WithdrawalAlreadyBatched,
    WithdrawalNotFound,
)
from finhub.payments.payouts.models import BankDetails, Payee, Payout
from finhub.payments.payouts.payees import check_bank_details
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import Wallet

OPERATION = "withdrawal"


@dataclass(frozen=True, slots=True)
class NewPayee:
    name: str
    nickname: str | None
    currency: str
    bank: BankDetails


@dataclass(frozen=True, slots=True)
class NewWithdrawal:
    payee_id: str
    amount: int
    currency: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Withdrawal:
    payment: Payment
    payout: Payout


def end_to_end_id(payment_id: str) -> str:
    """The id the bank carries through and quotes back, derived from the payment id (SEPA's
    character set has no underscore)."""
    return payment_id.replace("_", "-")


# --- payees ------------------------------------------------------------------------------------


def new_payee(
    *,
    name: str,
    currency: str,
    nickname: str | None = None,
    iban: str | None = None,
    bic: str | None = None,
    account_number: str | None = None,
    sort_code: str | None = None,
    routing_number: str | None = None,
    country: str | None = None,
) -> NewPayee:
    """A payee to save, its bank details checked (422 iban_invalid, bic_mismatch, …)."""
    bank = check_bank_details(
        currency=currency,
        iban=iban,
        bic=bic,
        account_number=account_number,
        sort_code=sort_code,
        routing_number=routing_number,
        country=country,
    )
    return NewPayee(name=name, nickname=nickname or None, currency=currency, bank=bank)


async def add_payee(
    conn: Connection, clock: Clock, audit: AuditContext, user_id: str, new: NewPayee
) -> Payee:
    payee = await repository.insert_payee(
        conn,
        payee_id=new_id("pye"),
        user_id=user_id,
        name=new.name,
        nickname=new.nickname,
        currency=new.currency,
        bank=new.bank,
        now=clock.now(),
    )
    await record(
        conn,
        audit,
        "payee.added",
        subject_user_id=user_id,
        object_type="payee",
        object_id=payee.id,
        after=_audit_view(payee),
    )
    return payee


async def get_payee(conn: Connection, user_id: str, payee_id: str) -> Payee:
    payee = await repository.find_payee(conn, payee_id, user_id)
    if payee is None:
        raise PayeeNotFound(f"No payee {payee_id}.")
    return payee


async def list_payees(
    conn: Connection, user_id: str, *, limit: int, starting_after: str | None
) -> list[Payee]:
    return await repository.list_payees(conn, user_id, limit=limit, starting_after=starting_after)


async def remove_payee(
    conn: Connection, clock: Clock, audit: AuditContext, user_id: str, payee_id: str
) -> Payee:
    """Remove a saved payee. Withdrawals already on their way to it are not affected."""
    payee = await repository.remove_payee(conn, payee_id, user_id, clock.now())
    if payee is None:
        raise PayeeNotFound(f"No payee {payee_id}.")
    await record(
        conn,
        audit,
        "payee.removed",
        subject_user_id=user_id,
        object_type="payee",
        object_id=payee.id,
        before=_audit_view(payee),
    )
    return payee


def _audit_view(payee: Payee) -> dict[str, str | None]:
    """What the audit trail keeps of a payee: enough to recognise it, not the full account."""
    account = payee.bank.iban or payee.bank.account_number or ""
    return {
        "name": payee.name,
        "currency": payee.currency,
        "country": payee.bank.country,
        "account_last4": account[-4:],
        "bic": payee.bank.bic,
    }


# --- withdrawals -------------------------------------------------------------------------------


async def create_withdrawal(
    conn: Connection,
    ledger: LedgerService,
    audit: AuditContext,
    user_id: str,
    new: NewWithdrawal,
) -> Withdrawal:
    """Hold `amount` plus the withdrawal fee and record the withdrawal as `processing`."""
    payee = await get_payee(conn, user_id, new.payee_id)
    wallet = await wallets.ensure_wallet(conn, ledger.clock, user_id)
    wallets.require_open(wallet)
    if payee.currency != new.currency:
        raise PayeeCurrencyMismatch(
            f"The payee's account takes {payee.currency}, not {new.currency}.",
            payee_currency=payee.currency,
        )
    fee = await fee_for(conn, OPERATION, new.currency, new.amount)
    await check_limits(
        conn,
        user_id=user_id,
        operation=OPERATION,
        currency=new.currency,
        amount=new.amount,
        now=ledger.clock.now(),
    )
    posting = core.Posting(
        entries=await _hold_entries(conn, ledger, wallet, new.currency, new.amount, fee),
        pending=True,
        description=f"withdrawal to {payee.label}",
    )
    payment = await core.create_payment(
        conn,
        ledger,
        audit,
        NewPayment(
            kind="withdrawal",
            wallet_id=wallet.id,
            amount=new.amount,
            currency=new.currency,
            fee=fee,
            note=new.note,
            metadata={"payee_id": payee.id},
        ),
        posting=posting,
        status="processing",
        activity=[
            ActivityLine(
                wallet.id,
                "out",
                new.amount,
                new.currency,
                fee=fee,
                counterparty=payee.label,
                note=new.note,
            )
        ],
    )
    payout = await repository.insert_payout(
        conn,
        payment_id=payment.id,
        user_id=user_id,
        wallet_id=wallet.id,
        payee_id=payee.id,
        amount=new.amount,
        currency=new.currency,
        end_to_end_id=end_to_end_id(payment.id),
        now=ledger.clock.now(),
    )
    return Withdrawal(payment, payout)


async def _hold_entries(
    conn: Connection,
    ledger: LedgerService,
    wallet: Wallet,
    currency: str,
    amount: int,
    fee: int,
) -> list[EntrySpec]:
    """Wallet → payout clearing (the amount) and fee revenue (the fee), held until the bank
    answers. The ledger refuses the hold if the wallet's available balance is short."""
    balance = await wallets.balance_account(conn, ledger, wallet, currency)
    clearing = await system_account(conn, ledger, SystemAccount.PAYOUT_CLEARING, currency)
    entries = [
        EntrySpec(balance, Direction.DEBIT, amount + fee),
        EntrySpec(clearing, Direction.CREDIT, amount),
    ]
    if fee:
        revenue = await system_account(conn, ledger, SystemAccount.FEE_REVENUE, currency)
        entries.append(EntrySpec(revenue, Direction.CREDIT, fee))
    return entries


async def get_withdrawal(conn: Connection, user_id: str, payment_id: str) -> Withdrawal:
    payout = await repository.find_payout(conn, payment_id, user_id)
    if payout is None:
        raise WithdrawalNotFound(f"No withdrawal {payment_id}.")
    payment = await core.payment_for_wallet(conn, payment_id, payout.wallet_id)
    return Withdrawal(payment, payout)


async def cancel_withdrawal(
    conn: Connection, ledger: LedgerService, audit: AuditContext, user_id: str, payment_id: str
) -> Withdrawal:
    """Cancel a withdrawal no batch has taken yet: the hold is voided, the money is available
    again. The payout row is locked first, so a concurrent batch run either took it already
    (409) or skips it."""
    payout = await repository.find_payout(conn, payment_id, user_id, lock=True)
    if payout is None:
        raise WithdrawalNotFound(f"No withdrawal {payment_id}.")
    if payout.batch_id is not None:
        raise WithdrawalAlreadyBatched(
            "The withdrawal is already in a payout file sent to the bank.",
            batch_id=payout.batch_id,
        )
    if payout.status != "pending":
        raise PaymentStateConflict(f"The withdrawal is {payout.status}.", status_now=payout.status)
    payment = await core.payment_for_wallet(conn, payment_id, payout.wallet_id)
    assert payment.hold_transaction_id is not None
    await ledger.void_pending(
        conn, payment.hold_transaction_id, description=f"withdrawal {payment_id} canceled"
    )
    now = ledger.clock.now()
    await repository.set_payout_status(conn, payment_id, "canceled", now)
    payment = await core.change_status(
        conn, ledger, audit, payment_id, "canceled", allowed_from=frozenset({"processing"})
    )
    canceled = await repository.find_payout(conn, payment_id, user_id)
    assert canceled is not None
    return Withdrawal(payment, canceled)
