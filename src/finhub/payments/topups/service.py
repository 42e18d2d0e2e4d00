"""Card top-ups: tokenising a card, authorising a top-up as a ledger hold, 3-D Secure, the
processor's capture confirmation, and refunds. Services never commit.

Money path of a top-up of `amount` with `fee`: the authorisation holds (pending)
CARD_CLEARING → wallet `amount - fee` and → FEE_REVENUE `fee`; nothing is available to spend
yet. The processor's signed `charge.captured` webhook posts the hold. A decline never makes a
hold; a failed 3-D Secure challenge voids it. A refund moves money back from the wallet (and
the proportional share of the fee) to CARD_CLEARING, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ulid import ULID

from finhub.audit.service import AuditContext
from finhub.errors import Unprocessable
from finhub.kit.clock import Clock
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.ledger.models import Direction, EntrySpec
from finhub.ledger.service import LedgerService
from finhub.payments import core
from finhub.payments.fees import fee_for
from finhub.payments.limits import check_limits
from finhub.payments.models import ActivityLine, NewPayment, Payment
from finhub.payments.topups import repository
from finhub.payments.topups.errors import (
    CardExpired,
    CardTokenNotFound,
    ChallengeNotPending,
    NotRefundable,
    RefundTooLarge,
    TopupNotFound,
    UnknownCharge,
)
from finhub.payments.topups.ports import (
    Authorization,
    CardDetails,
    CardProcessor,
    ChallengeOutcome,
    ProcessorEvent,
)
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import Wallet

OPEN_STATUSES = frozenset({"requires_action", "processing"})
PROCESSOR_AUDIT = AuditContext.system("card_processor")
# Card authorisations lapse after about a week; a top-up whose 3-D Secure challenge was never
# finished, or whose capture never came, gives the held money back then.
AUTHORIZATION_TTL = timedelta(days=7)
EXPIRY_AUDIT = AuditContext.system("card_authorization_expiry")


@dataclass(frozen=True, slots=True)
class CardTopup:
    """A card top-up: the payment and its processor side."""

    payment: Payment
    details: dict[str, Any]  # card_topups row with the card's brand, last4 and expiry
    refunds: list[dict[str, Any]]


# --- cards ------------------------------------------------------------------------------------


async def tokenize_card(
    conn: Connection, processor: CardProcessor, clock: Clock, user_id: str, card: CardDetails
) -> dict[str, Any]:
    """Hand the card to the processor's vault and keep only what may be shown of it."""
    vaulted = await processor.tokenize(card)
    return await repository.insert_card(
        conn,
        card_id=new_id("ctok"),
        user_id=user_id,
        processor_token=vaulted.token,
        brand=vaulted.brand,
        last4=vaulted.last4,
        exp_month=vaulted.exp_month,
        exp_year=vaulted.exp_year,
        now=clock.now(),
    )


# --- top-ups ----------------------------------------------------------------------------------


async def create_card_topup(
    conn: Connection,
    ledger: LedgerService,
    processor: CardProcessor,
    audit: AuditContext,
    *,
    user_id: str,
    card_token: str,
    amount: int,
    currency: str,
    idempotency_key: str | None,
) -> CardTopup:
    """Authorise a top-up; an approved one is captured at once and completes when the
    processor confirms the capture by webhook."""
    wallet = await wallets.ensure_wallet(conn, ledger.clock, user_id)
    wallets.require_open(wallet)
    card = await repository.card_for_user(conn, card_token, user_id)
    if card is None:
        raise CardTokenNotFound(f"No card token {card_token}.")
    now = ledger.clock.now()
    if (card["exp_year"], card["exp_month"]) < (now.year, now.month):
        raise CardExpired("The card has expired; add it again with its new expiry date.")
    await ledger.resolve_asset(conn, currency)
    fee = await fee_for(conn, "card_topup", currency, amount)
    if fee >= amount:
        raise Unprocessable(
            "The amount does not cover the top-up fee.", code="amount_too_small", fee=fee
        )
    await check_limits(
        conn, user_id=user_id, operation="card_topup", currency=currency, amount=amount, now=now
    )
    await check_limits(
        conn, user_id=user_id, operation="receive", currency=currency, amount=amount - fee, now=now
    )
    authorization = await processor.authorize(
        token=card["processor_token"],
        amount=amount,
        currency=currency,
        idempotency_key=f"{user_id}:{idempotency_key or ULID()}",
        metadata={"wallet_id": wallet.id},
    )
    payment = await _record_authorization(
        conn, ledger, audit, wallet, card, authorization, amount, currency, fee
    )
    await repository.insert_topup(
        conn,
        payment_id=payment.id,
        user_id=user_id,
        wallet_id=wallet.id,
        card_id=card["id"],
        charge_id=authorization.charge_id,
        now=now,
    )
    if authorization.status in ("authorized", "captured"):
        await processor.capture(authorization.charge_id)
    return await get_topup(conn, user_id, payment.id)


async def _record_authorization(
    conn: Connection,
    ledger: LedgerService,
    audit: AuditContext,
    wallet: Wallet,
    card: dict[str, Any],
    authorization: Authorization,
    amount: int,
    currency: str,
    fee: int,
) -> Payment:
    new = NewPayment(
        kind="card_topup",
        wallet_id=wallet.id,
        amount=amount,
        currency=currency,
        fee=fee,
        note=f"{card['brand']} •••• {card['last4']}",
        metadata={"card_id": card["id"], "processor_charge_id": authorization.charge_id},
    )
    activity = [
        ActivityLine(
            wallet.id, "in", amount - fee, currency, fee=fee, counterparty=_card_label(card)
        )
    ]
    if authorization.status in ("declined", "failed"):
        payment = await core.create_payment(
            conn, ledger, audit, new, posting=None, status="processing", activity=activity
        )
        return await core.change_status(
            conn,
            ledger,
            audit,
            payment.id,
            "failed",
            failure_code=authorization.decline_code or "card_declined",
            failure_message=authorization.message,
        )
    hold = core.Posting(
        entries=await _topup_entries(conn, ledger, wallet, currency, amount, fee),
        pending=True,
        expires_at=ledger.clock.now() + AUTHORIZATION_TTL,
        description=f"Card top-up {card['brand']} {card['last4']}",
    )
    status = "requires_action" if authorization.status == "requires_action" else "processing"
    return await core.create_payment(
        conn, ledger, audit, new, posting=hold, status=status, activity=activity
    )


async def _topup_entries(
    conn: Connection, ledger: LedgerService, wallet: Wallet, currency: str, amount: int, fee: int
) -> list[EntrySpec]:
    clearing = await system_account(conn, ledger, SystemAccount.CARD_CLEARING, currency)
    balance = await wallets.balance_account(conn, ledger, wallet, currency)
    entries = [
        EntrySpec(clearing, Direction.DEBIT, amount),
        EntrySpec(balance, Direction.CREDIT, amount - fee),
    ]
    if fee:
        revenue = await system_account(conn, ledger, SystemAccount.FEE_REVENUE, currency)
        entries.append(EntrySpec(revenue, Direction.CREDIT, fee))
    return entries


def _card_label(card: dict[str, Any]) -> str:
    return f"{card['brand']} card ending {card['last4']}"


async def get_topup(conn: Connection, user_id: str, payment_id: str) -> CardTopup:
    details = await repository.topup_for_user(conn, payment_id, user_id)
    if details is None:
        raise TopupNotFound(f"No card top-up {payment_id}.")
    payment = await core.payment_for_wallet(conn, payment_id, details["wallet_id"])
    refunds = await repository.refunds_of(conn, payment_id)
    return CardTopup(payment, details, refunds)


# --- 3-D Secure -------------------------------------------------------------------------------


async def complete_challenge(
    conn: Connection,
    ledger: LedgerService,
    processor: CardProcessor,
    audit: AuditContext,
    *,
    user_id: str,
    payment_id: str,
    outcome: ChallengeOutcome,
) -> CardTopup:
    """The card holder passed or failed the issuer's challenge."""
    details = await repository.lock_topup_for_user(conn, payment_id, user_id)
    if details is None:
        raise TopupNotFound(f"No card top-up {payment_id}.")
    payment = await core.payment_for_wallet(conn, payment_id, details["wallet_id"])
    if payment.status != "requires_action":
        raise ChallengeNotPending(f"The top-up is {payment.status}.", status_now=payment.status)
    authorization = await processor.complete_challenge(details["processor_charge_id"], outcome)
    if authorization.status in ("authorized", "captured"):
        await processor.capture(authorization.charge_id)
        await core.change_status(
            conn,
            ledger,
            audit,
            payment_id,
            "processing",
            allowed_from=frozenset({"requires_action"}),
        )
    else:
        await _fail(conn, ledger, audit, payment, authorization.decline_code, authorization.message)
    return await get_topup(conn, user_id, payment_id)


async def _fail(
    conn: Connection,
    ledger: LedgerService,
    audit: AuditContext,
    payment: Payment,
    code: str | None,
    message: str | None,
) -> None:
    if payment.hold_transaction_id:
        await ledger.void_pending(conn, payment.hold_transaction_id, description="Card declined")
    await core.change_status(
        conn,
        ledger,
        audit,
        payment.id,
        "failed",
        failure_code=code or "card_declined",
        failure_message=message,
    )


# --- the processor's webhooks -----------------------------------------------------------------


async def apply_processor_event(
    conn: Connection, ledger: LedgerService, event: ProcessorEvent
) -> str:
    """Apply a verified webhook event once: `applied`, `duplicate` or `ignored` (an event that
    changes nothing in the top-up's current state)."""
    now = ledger.clock.now()
    if not await repository.claim_webhook_event(conn, event.id, event.type, event.charge_id, now):
        return "duplicate"
    details = await repository.lock_topup_by_charge(conn, event.charge_id)
    if details is None:
        # Not recorded yet (the top-up's transaction may still be committing): the processor
        # retries, and the claim of the event id rolls back with this answer.
        raise UnknownCharge(f"No top-up has the charge {event.charge_id}.")
    payment = await core.payment_for_wallet(conn, details["payment_id"], details["wallet_id"])
    if payment.status not in OPEN_STATUSES:
        return "ignored"
    if event.type == "charge.captured":
        await _complete(conn, ledger, payment, int(event.data.get("amount_captured", 0)))
        return "applied"
    if event.type == "charge.failed":
        code = event.data.get("decline_code")
        await _fail(conn, ledger, PROCESSOR_AUDIT, payment, code, None)
        return "applied"
    return "ignored"


async def _complete(
    conn: Connection, ledger: LedgerService, payment: Payment, captured: int
) -> None:
    assert payment.hold_transaction_id is not None
    if captured != payment.amount:
        raise Unprocessable(
            "The capture does not match the authorised amount.", code="capture_amount_mismatch"
        )
    posted = await ledger.post_pending(conn, payment.hold_transaction_id)
    await repository.record_capture(conn, payment.id, captured, posted.id, ledger.clock.now())
    await core.change_status(
        conn, ledger, PROCESSOR_AUDIT, payment.id, "completed", posted_transaction_id=posted.id
    )


# --- refunds ----------------------------------------------------------------------------------


async def refund_topup(
    conn: Connection,
    ledger: LedgerService,
    processor: CardProcessor,
    audit: AuditContext,
    *,
    user_id: str,
    payment_id: str,
    amount: int | None,
    idempotency_key: str | None,
) -> tuple[Payment, CardTopup]:
    """Return `amount` (default: all that is left) of a captured top-up to the card."""
    details = await repository.lock_topup_for_user(conn, payment_id, user_id)
    if details is None:
        raise TopupNotFound(f"No card top-up {payment_id}.")
    topup = await core.payment_for_wallet(conn, payment_id, details["wallet_id"])
    if topup.status != "completed":
        raise NotRefundable(f"The top-up is {topup.status}.", status_now=topup.status)
    captured, refunded = int(details["captured_amount"]), int(details["refunded_amount"])
    left = captured - refunded
    amount = left if amount is None else amount
    if not 0 < amount <= left:
        raise RefundTooLarge(f"At most {left} can be refunded.", refundable=left)
    fee_returned = _fee_share(topup.fee, captured, refunded + amount) - int(details["refunded_fee"])
    wallet = await wallets.get_wallet(conn, details["wallet_id"])
    refund = await core.create_payment(
        conn,
        ledger,
        audit,
        NewPayment(
            kind="refund",
            wallet_id=wallet.id,
            amount=amount,
            currency=topup.currency,
            note=f"Refund of {payment_id}",
            metadata={"topup_payment_id": payment_id, "fee_returned": fee_returned},
        ),
        posting=core.Posting(
            entries=await _refund_entries(
                conn, ledger, wallet, topup.currency, amount, fee_returned
            )
        ),
        status="completed",
        activity=[
            ActivityLine(
                wallet.id,
                "out",
                amount - fee_returned or amount,
                topup.currency,
                counterparty=_card_label(details),
                note=f"Refund of {payment_id}",
            )
        ],
    )
    result = await processor.refund(
        details["processor_charge_id"],
        amount,
        idempotency_key=f"{user_id}:{idempotency_key or ULID()}:refund",
    )
    await repository.record_refund(
        conn,
        refund_payment_id=refund.id,
        topup_payment_id=payment_id,
        amount=amount,
        fee_returned=fee_returned,
        processor_refund_id=result.refund_id,
        now=ledger.clock.now(),
    )
    if refunded + amount == captured:
        await core.change_status(
            conn, ledger, audit, payment_id, "refunded", allowed_from=frozenset({"completed"})
        )
    return refund, await get_topup(conn, user_id, payment_id)


def _fee_share(fee: int, captured: int, refunded_after: int) -> int:
    """The part of the fee returned once `refunded_after` of `captured` is refunded: in
    proportion, rounded down, so the last refund returns the remainder and the whole fee is
    returned exactly when the whole top-up is."""
    if refunded_after >= captured:
        return fee
    return fee * refunded_after // captured


async def _refund_entries(
    conn: Connection,
    ledger: LedgerService,
    wallet: Wallet,
    currency: str,
    amount: int,
    fee_returned: int,
) -> list[EntrySpec]:
    clearing = await system_account(conn, ledger, SystemAccount.CARD_CLEARING, currency)
    balance = await wallets.balance_account(conn, ledger, wallet, currency)
    entries = [EntrySpec(clearing, Direction.CREDIT, amount)]
    if amount - fee_returned:
        entries.append(EntrySpec(balance, Direction.DEBIT, amount - fee_returned))
    if fee_returned:
        revenue = await system_account(conn, ledger, SystemAccount.FEE_REVENUE, currency)
        entries.append(EntrySpec(revenue, Direction.DEBIT, fee_returned))
    return entries


async def expire_stale_authorizations(
    conn: Connection, ledger: LedgerService, limit: int = 100
) -> int:
    """Fail the card top-ups whose authorisation lapsed unfinished (3-D Secure abandoned, no
    capture): their hold is released (if the ledger's hold expiry hasn't already) and the
    payment says why. Returns how many were failed."""
    stale = await repository.stale_authorizations(
        conn, older_than=ledger.clock.now() - AUTHORIZATION_TTL, limit=limit
    )
    for payment_id, hold_id in stale:
        await ledger.expire_pending(conn, hold_id)
        await core.change_status(
            conn,
            ledger,
            EXPIRY_AUDIT,
            payment_id,
            "failed",
            failure_code="authorization_expired",
            failure_message="The card authorisation lapsed before the top-up was completed.",
        )
    return len(stale)
