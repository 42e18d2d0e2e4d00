"""Bank-transfer top-ups: each wallet's funding instructions (its payment reference and a
virtual IBAN), incoming credits matched by reference or IBAN, and the suspense list of credits
nobody could be matched to. Services never commit.

Money never vanishes: a matched credit posts BANK_CLEARING → wallet (and the fee); an
unmatched one posts BANK_CLEARING → BANK_SUSPENSE and waits there for staff to assign it,
which posts BANK_SUSPENSE → wallet. A bank transaction id is applied once, however often the
bank sends it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from finhub.audit.service import AuditContext, record
from finhub.errors import Unprocessable
from finhub.kit.clock import Clock
from finhub.kit.db.engine import Connection
from finhub.ledger.models import AccountType, Direction, EntrySpec
from finhub.ledger.service import LedgerService
from finhub.payments import core
from finhub.payments.errors import LimitExceeded
from finhub.payments.fees import fee_for
from finhub.payments.limits import check_limits
from finhub.payments.models import ActivityLine, NewPayment, Payment
from finhub.payments.topups import repository
from finhub.payments.topups.errors import BankCreditNotFound, BankCreditResolved, NoMatchTarget
from finhub.payments.topups.settings import TopupSettings
from finhub.wallets import repository as wallet_records
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import Wallet

# A wallet's reference inside whatever the sender typed ("Top-up FHABCD…", "fh abcd …").
REFERENCE_PATTERN = re.compile(r"FH[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{10}")
ACCOUNT_DIGITS = 10
BANK_AUDIT = AuditContext.system("bank")


@dataclass(frozen=True, slots=True)
class IncomingCredit:
    bank_transaction_id: str
    amount: int
    currency: str
    sender_name: str
    reference: str | None = None
    iban: str | None = None


# --- funding instructions ---------------------------------------------------------------------


async def funding_instructions(
    conn: Connection, clock: Clock, user_id: str, settings: TopupSettings
) -> dict[str, Any]:
    wallet = await wallets.ensure_wallet(conn, clock, user_id)
    wallets.require_open(wallet)
    iban = IBAN(await ensure_virtual_iban(conn, clock, wallet, settings))
    return {
        "object": "funding_instructions",
        "id": wallet.id,
        "wallet_id": wallet.id,
        "payment_reference": wallet.payment_reference,
        "iban": iban.compact,
        "iban_formatted": iban.formatted,
        "bic": str(iban.bic) if iban.bic else None,
        "account_holder": settings.virtual_iban_account_holder,
        "note": "Send a bank transfer to this IBAN, or to any of our accounts with the payment "
        "reference in the remittance information.",
    }


async def ensure_virtual_iban(
    conn: Connection, clock: Clock, wallet: Wallet, settings: TopupSettings
) -> str:
    """The wallet's virtual IBAN: assigned once (the next account number under the configured
    bank code), then always the same."""
    known = await repository.virtual_iban(conn, wallet.id)
    if known is not None:
        return known
    number = await repository.next_account_number(conn)
    iban = IBAN.generate(
        settings.virtual_iban_country,
        bank_code=settings.virtual_iban_bank_code,
        account_code=str(number).zfill(ACCOUNT_DIGITS),
    )
    return await repository.insert_virtual_iban_once(
        conn, wallet.id, iban.compact, number, clock.now()
    )


# --- incoming credits -------------------------------------------------------------------------


async def receive_credit(
    conn: Connection, ledger: LedgerService, credit: IncomingCredit
) -> tuple[dict[str, Any], bool]:
    """Book an incoming credit once: (the credit, True) the first time, (the credit as first
    booked, False) for a duplicate of the same bank transaction."""
    if not credit.reference and not credit.iban:
        raise NoMatchTarget("Give the transfer's reference or the IBAN it was sent to.")
    iban = _compact_iban(credit.iban) if credit.iban else None
    await ledger.resolve_asset(conn, credit.currency)
    inserted = await repository.insert_bank_credit_once(
        conn,
        credit_id=repository.new_bank_credit_id(),
        bank_transaction_id=credit.bank_transaction_id,
        reference=credit.reference,
        iban=iban,
        amount=credit.amount,
        currency=credit.currency,
        sender_name=credit.sender_name,
        status="unmatched",
        now=ledger.clock.now(),
    )
    if inserted is None:
        earlier = await repository.credit_by_bank_transaction(conn, credit.bank_transaction_id)
        assert earlier is not None
        return earlier, False
    wallet = await _matching_wallet(conn, credit.reference, iban)
    reason = await _unmatched_reason(conn, ledger, wallet, credit)
    if wallet is None or reason is not None:
        return await _park(conn, ledger, inserted, reason or "unknown_reference"), True
    fee = await fee_for(conn, "bank_topup", credit.currency, credit.amount)
    clearing = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, credit.currency)
    payment = await _credit_wallet(conn, ledger, BANK_AUDIT, inserted, wallet, clearing, fee)
    settled = await repository.settle_credit(
        conn,
        inserted["id"],
        status="matched",
        wallet_id=wallet.id,
        payment_id=payment.id,
        assigned_by=None,
        now=ledger.clock.now(),
    )
    return settled, True


async def _matching_wallet(
    conn: Connection, reference: str | None, iban: str | None
) -> Wallet | None:
    if iban:
        wallet_id = await repository.wallet_id_by_iban(conn, iban)
        if wallet_id is not None:
            return await wallet_records.find(conn, wallet_id)
    if reference:
        found = REFERENCE_PATTERN.search(re.sub(r"[\s-]", "", reference.upper()))
        if found:
            return await wallet_records.find_by_reference(conn, found.group())
    return None


async def _unmatched_reason(
    conn: Connection, ledger: LedgerService, wallet: Wallet | None, credit: IncomingCredit
) -> str | None:
    """Why a credit can't go to the wallet it names (None: it can)."""
    if wallet is None:
        return "unknown_reference"
    if wallet.status != "active":
        return "wallet_closed"
    fee = await fee_for(conn, "bank_topup", credit.currency, credit.amount)
    if fee >= credit.amount:
        return "amount_below_fee"
    try:
        await check_limits(
            conn,
            user_id=wallet.user_id,
            operation="receive",
            currency=credit.currency,
            amount=credit.amount - fee,
            now=ledger.clock.now(),
        )
    except LimitExceeded:
        return "limit_exceeded"
    return None


async def _park(
    conn: Connection, ledger: LedgerService, credit: dict[str, Any], reason: str
) -> dict[str, Any]:
    currency, amount = credit["currency"], int(credit["amount"])
    clearing = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, currency)
    suspense = await suspense_account(conn, ledger, currency)
    posted = await ledger.post_one(
        conn,
        ledger.transfer_spec(
            from_account=clearing,
            to_account=suspense,
            amount=amount,
            asset=currency,
            description=f"Unmatched bank credit {credit['id']}",
            metadata={"bank_credit_id": credit["id"]},
        ),
    )
    parked = await repository.park_credit(conn, credit["id"], reason, posted.id)
    await record(
        conn,
        BANK_AUDIT,
        "bank_credit.unmatched",
        object_type="bank_credit",
        object_id=credit["id"],
        after={"amount": str(amount), "currency": currency, "reason": reason},
    )
    return parked


async def suspense_account(conn: Connection, ledger: LedgerService, currency: str) -> str:
    """Client money received but not yet attributed to anyone (a liability until assigned)."""
    account = await ledger.ensure_account(
        conn,
        external_ref=f"system:bank_suspense:{currency}",
        asset=currency,
        type=AccountType.LIABILITY,
        name=f"bank suspense {currency}",
    )
    return account.state.id


async def _credit_wallet(
    conn: Connection,
    ledger: LedgerService,
    audit: AuditContext,
    credit: dict[str, Any],
    wallet: Wallet,
    source_account: str,
    fee: int,
) -> Payment:
    currency, amount = credit["currency"], int(credit["amount"])
    balance = await wallets.balance_account(conn, ledger, wallet, currency)
    entries = [
        EntrySpec(source_account, Direction.DEBIT, amount),
        EntrySpec(balance, Direction.CREDIT, amount - fee),
    ]
    if fee:
        revenue = await system_account(conn, ledger, SystemAccount.FEE_REVENUE, currency)
        entries.append(EntrySpec(revenue, Direction.CREDIT, fee))
    return await core.create_payment(
        conn,
        ledger,
        audit,
        NewPayment(
            kind="bank_topup",
            wallet_id=wallet.id,
            amount=amount,
            currency=currency,
            fee=fee,
            note=credit["reference"],
            metadata={
                "bank_credit_id": credit["id"],
                "bank_transaction_id": credit["bank_transaction_id"],
                "sender_name": credit["sender_name"],
            },
        ),
        posting=core.Posting(entries=entries, description=f"Bank transfer {credit['id']}"),
        status="completed",
        activity=[
            ActivityLine(
                wallet.id,
                "in",
                amount - fee,
                currency,
                fee=fee,
                counterparty=credit["sender_name"],
                note=credit["reference"],
            )
        ],
    )


# --- suspense ---------------------------------------------------------------------------------


async def unmatched(
    conn: Connection, *, limit: int, starting_after: str | None
) -> list[dict[str, Any]]:
    return await repository.unmatched_credits(conn, limit=limit, starting_after=starting_after)


async def assign_credit(
    conn: Connection,
    ledger: LedgerService,
    audit: AuditContext,
    *,
    credit_id: str,
    wallet_id: str,
    staff_id: str,
) -> dict[str, Any]:
    """Staff attribute an unmatched credit to a wallet: suspense → wallet, once."""
    credit = await repository.lock_credit(conn, credit_id)
    if credit is None:
        raise BankCreditNotFound(f"No bank credit {credit_id}.")
    if credit["status"] != "unmatched":
        raise BankCreditResolved(f"The credit is {credit['status']}.", status_now=credit["status"])
    wallet = await wallets.get_wallet(conn, wallet_id)
    wallets.require_open(wallet)
    currency, amount = credit["currency"], int(credit["amount"])
    fee = await fee_for(conn, "bank_topup", currency, amount)
    if fee >= amount:
        raise Unprocessable("The credit does not cover the top-up fee.", code="amount_too_small")
    await check_limits(
        conn,
        user_id=wallet.user_id,
        operation="receive",
        currency=currency,
        amount=amount - fee,
        now=ledger.clock.now(),
    )
    suspense = await suspense_account(conn, ledger, currency)
    payment = await _credit_wallet(conn, ledger, audit, credit, wallet, suspense, fee)
    assigned = await repository.settle_credit(
        conn,
        credit_id,
        status="assigned",
        wallet_id=wallet.id,
        payment_id=payment.id,
        assigned_by=staff_id,
        now=ledger.clock.now(),
    )
    await record(
        conn,
        audit,
        "bank_credit.assigned",
        subject_user_id=wallet.user_id,
        object_type="bank_credit",
        object_id=credit_id,
        before={"status": "unmatched"},
        after={"status": "assigned", "wallet_id": wallet.id, "payment_id": payment.id},
    )
    return assigned


def _compact_iban(raw: str) -> str:
    try:
        return IBAN(raw).compact
    except SchwiftyException as error:
        raise Unprocessable("The IBAN is not valid.", code="iban_invalid") from error
