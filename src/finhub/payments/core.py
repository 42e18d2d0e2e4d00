"""Recording a payment: one ledger transaction, the payment, its activity lines, an outbox
event and an audit record, all in the caller's transaction (DESIGN.md §3 and §4).

Every payment flow (top-ups, withdrawals, P2P, conversions, requests) goes through
`create_payment` and `change_status`, so the money, the record people see, the event that
feeds webhooks and notifications, and the audit trail can never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from finhub.audit.service import AuditContext, record
from finhub.kit import outbox
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.ledger.models import EntrySpec, Transaction
from finhub.ledger.service import LedgerService
from finhub.payments import repository
from finhub.payments.errors import PaymentNotFound, PaymentStateConflict
from finhub.payments.models import ActivityLine, NewPayment, Payment
from finhub.wallets import repository as wallets


@dataclass(frozen=True, slots=True)
class Posting:
    """The ledger side of a payment: balanced entries, posted now or held (pending)."""

    entries: list[EntrySpec]
    pending: bool = False
    expires_at: datetime | None = None
    description: str | None = None


async def create_payment(
    conn: Connection,
    ledger: LedgerService,
    audit: AuditContext,
    new: NewPayment,
    *,
    posting: Posting | None,
    status: str,
    activity: list[ActivityLine],
) -> Payment:
    """Post `posting` (if any) and record the payment with its activity lines. A posted
    transaction links as `ledger_transaction_id`, a hold as `hold_transaction_id`. Ledger rule
    errors (insufficient_funds, …) propagate as their 4xx and nothing is recorded."""
    payment_id = new_id("pay")
    transaction = await _post(conn, ledger, payment_id, new, posting)
    held = transaction is not None and posting is not None and posting.pending
    payment = await repository.insert_payment(
        conn,
        payment_id,
        new,
        status=status,
        ledger_transaction_id=transaction.id if transaction and not held else None,
        hold_transaction_id=transaction.id if transaction and held else None,
        now=ledger.clock.now(),
    )
    await repository.insert_activity(
        conn, payment.id, new.kind, status, activity, ledger.clock.now()
    )
    await _announce(conn, ledger, audit, payment, f"payment.{status}")
    return payment


async def change_status(
    conn: Connection,
    ledger: LedgerService,
    audit: AuditContext,
    payment_id: str,
    status: str,
    *,
    posting: Posting | None = None,
    posted_transaction_id: str | None = None,
    failure_code: str | None = None,
    failure_message: str | None = None,
    allowed_from: frozenset[str] = frozenset({"requires_action", "processing"}),
) -> Payment:
    """Move a payment on (e.g. processing → completed), posting `posting` with it, or linking
    `posted_transaction_id` when the caller posted already (a hold resolved with
    `ledger.post_pending`). The payment row is locked first, so two concurrent attempts can't
    both move it."""
    current = await repository.lock_payment(conn, payment_id)
    if current is None:
        raise PaymentNotFound(f"No payment {payment_id}.")
    if current.status not in allowed_from:
        raise PaymentStateConflict(f"The payment is {current.status}.", status_now=current.status)
    transaction = await _post(conn, ledger, payment_id, _as_new(current), posting)
    payment = await repository.update_status(
        conn,
        payment_id,
        status=status,
        ledger_transaction_id=transaction.id if transaction else posted_transaction_id,
        failure_code=failure_code,
        failure_message=failure_message,
        now=ledger.clock.now(),
    )
    await _announce(conn, ledger, audit, payment, f"payment.{status}")
    return payment


async def payment_for_wallet(conn: Connection, payment_id: str, wallet_id: str) -> Payment:
    """A payment the wallet sent or received; anyone else's id answers 404."""
    payment = await repository.find_for_wallet(conn, payment_id, wallet_id)
    if payment is None:
        raise PaymentNotFound(f"No payment {payment_id}.")
    return payment


def payment_payload(payment: Payment) -> dict[str, Any]:
    return {"object": "payment", **asdict(payment)}


async def _post(
    conn: Connection,
    ledger: LedgerService,
    payment_id: str,
    new: NewPayment,
    posting: Posting | None,
) -> Transaction | None:
    if posting is None:
        return None
    spec = ledger.transaction_spec(
        entries=posting.entries,
        description=posting.description or f"{new.kind} {payment_id}",
        metadata={"payment_id": payment_id, "kind": new.kind},
        pending=posting.pending,
        expires_at=posting.expires_at,
    )
    return await ledger.post_one(conn, spec)


def _as_new(payment: Payment) -> NewPayment:
    return NewPayment(
        kind=payment.kind,  # type: ignore[arg-type]
        wallet_id=payment.wallet_id,
        amount=payment.amount,
        currency=payment.currency,
        fee=payment.fee,
        counterparty_wallet_id=payment.counterparty_wallet_id,
        note=payment.note,
        metadata=payment.metadata,
    )


async def _announce(
    conn: Connection, ledger: LedgerService, audit: AuditContext, payment: Payment, event: str
) -> None:
    """The outbox event for each wallet owner involved, then the audit record (last)."""
    data = payment_payload(payment)
    owners = [payment.wallet_id]
    if payment.counterparty_wallet_id:
        owners.append(payment.counterparty_wallet_id)
    subject_user_id = None
    for wallet_id in owners:
        wallet = await wallets.find(conn, wallet_id)
        assert wallet is not None
        subject_user_id = subject_user_id or wallet.user_id
        await outbox.emit(
            conn, type=event, owner=f"user:{wallet.user_id}", data=data, now=ledger.clock.now()
        )
    await record(
        conn,
        audit,
        event,
        subject_user_id=subject_user_id,
        object_type="payment",
        object_id=payment.id,
        after={
            "kind": payment.kind,
            "status": payment.status,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "fee": str(payment.fee),
            "ledger_transaction_id": payment.ledger_transaction_id,
            "hold_transaction_id": payment.hold_transaction_id,
        },
    )
