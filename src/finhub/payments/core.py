"""Recording a payment: one ledger transaction, the payment, its activity lines, an outbox
event and an audit record, all in the caller's transaction (DESIGN.md §3 and §4).

Every payment flow (top-ups, withdrawals, P2P, conversions, requests) goes through
`create_payment` and `change_status`, so the money, the record people see, the event that
feeds webhooks and notifications, and the audit trail can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from finhub.audit.service import AuditContext, AuditEntry, record_many
from finhub.kit import outbox
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.ledger.models import EntrySpec, Transaction
from finhub.ledger.service import LedgerService
from finhub.payments import repository
from finhub.payments.errors import PaymentNotFound, PaymentStateConflict
from finhub.payments.models import ActivityLine, NewPayment, Payment
from finhub.wallets import repository as wallets

PAYMENT_FIELDS = tuple(field.name for field in fields(Payment))


@dataclass(frozen=True, slots=True)
class Posting:
    """The ledger side of a payment: balanced entries, posted now or held (pending)."""

    entries: list[EntrySpec]
    pending: bool = False
    expires_at: datetime | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """A payment whose ledger side is done, ready to be recorded (see `record_payments`)."""

    payment_id: str
    new: NewPayment
    status: str
    transaction: Transaction | None
    held: bool
    activity: list[ActivityLine]
    audit: AuditContext
    # wallet id → user id of the wallets involved, when the caller has them at hand
    owners: dict[str, str] | None = None


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
    [payment] = await record_payments(
        conn,
        ledger,
        [PaymentRecord(payment_id, new, status, transaction, held, activity, audit)],
    )
    return payment


async def record_payments(
    conn: Connection, ledger: LedgerService, records: list[PaymentRecord]
) -> list[Payment]:
    """Write the payments, their activity lines, an outbox event per wallet owner and an audit
    record each: a handful of statements however many payments (a group commit records all
    of its payments at once)."""
    now = ledger.clock.now()
    payments = [_payment_of(record, now) for record in records]
    await repository.insert_payments(conn, payments)
    await repository.insert_activity_lines(
        conn,
        [(payment, record.activity) for payment, record in zip(payments, records, strict=True)],
        now,
    )
    await _announce_many(
        conn,
        ledger,
        [
            (record.audit, payment, record.owners)
            for payment, record in zip(payments, records, strict=True)
        ],
    )
    return payments


def _payment_of(record: PaymentRecord, now: datetime) -> Payment:
    new, transaction = record.new, record.transaction
    return Payment(
        id=record.payment_id,
        kind=new.kind,
        status=record.status,
        wallet_id=new.wallet_id,
        counterparty_wallet_id=new.counterparty_wallet_id,
        amount=new.amount,
        currency=new.currency,
        fee=new.fee,
        note=new.note,
        metadata=new.metadata,
        ledger_transaction_id=transaction.id if transaction and not record.held else None,
        hold_transaction_id=transaction.id if transaction and record.held else None,
        failure_code=None,
        failure_message=None,
        created_at=now,
        updated_at=now,
    )


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
    # Field by field rather than `asdict`, which deep-copies the metadata: the payload is
    # serialised at once, and this runs for every response and event of every payment.
    payload: dict[str, Any] = {"object": "payment"}
    for name in PAYMENT_FIELDS:
        payload[name] = getattr(payment, name)
    return payload


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
    await _announce_many(conn, ledger, [(audit, payment, None)], event)


async def _announce_many(
    conn: Connection,
    ledger: LedgerService,
    announced: list[tuple[AuditContext, Payment, dict[str, str] | None]],
    event: str | None = None,
) -> None:
    """For each payment, the `payment.<status>` outbox event (or `event`) for each wallet
    owner involved; then the audit records, last, because an audit record holds the audit
    chain's head until commit. Owners the caller didn't give are looked up."""
    now = ledger.clock.now()
    events: list[tuple[str, str, dict[str, Any]]] = []
    subjects: list[str | None] = []
    for _, payment, owners in announced:
        data = payment_payload(payment)
        wallet_ids = [payment.wallet_id]
        if payment.counterparty_wallet_id:
            wallet_ids.append(payment.counterparty_wallet_id)
        user_ids = [await _owner(conn, wallet_id, owners) for wallet_id in wallet_ids]
        subjects.append(user_ids[0])
        name = event or f"payment.{payment.status}"
        events.extend((name, f"user:{user_id}", data) for user_id in user_ids)
    await outbox.emit_many(conn, events, now=now)
    await record_many(
        conn,
        [
            AuditEntry(
                audit,
                event or f"payment.{payment.status}",
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
            for (audit, payment, _), subject_user_id in zip(announced, subjects, strict=True)
        ],
    )


async def _owner(conn: Connection, wallet_id: str, owners: dict[str, str] | None) -> str:
    if owners and wallet_id in owners:
        return owners[wallet_id]
    wallet = await wallets.find(conn, wallet_id)
    assert wallet is not None
    return wallet.user_id
