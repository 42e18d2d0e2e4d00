"""Every payment event becomes a note in the owner's in-app inbox and an email.

A consumer of the transactional outbox (`payment_notifications`): a batch of events, the
notifications and mails they cause, and the cursor move all commit in one transaction, and
the cursor row's lock keeps a second instance waiting. Each event is also claimed in
`payment_notifications_sent` before anything is written, so handling an event again (a reset
cursor, two consumers under different names) notifies nobody twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from finhub.errors import NotFound
from finhub.identity.service import profile
from finhub.kit import outbox
from finhub.kit.clock import Clock
from finhub.kit.db.engine import Connection, Database
from finhub.kit.logging import get_logger
from finhub.kit.outbox import OutboxEvent
from finhub.notifications.inbox import notify
from finhub.notifications.mail import Mailer
from finhub.wallets.service import get_wallet
from finhub.webhooks import repository
from finhub.webhooks.wording import Message, PaymentView, Side, compose, format_amount

log = get_logger(__name__)

CONSUMER = "payment_notifications"
BATCH = 200
MAIL_TAG = "payment_notification"
REQUIRED = ("id", "kind", "status", "wallet_id", "amount", "currency")


async def notify_batch(
    conn: Connection, mailer: Mailer, now: datetime, *, consumer: str = CONSUMER, limit: int = BATCH
) -> tuple[int, int]:
    """One batch inside the caller's transaction: (events read, notifications made)."""
    events = await outbox.claim_batch(conn, consumer, limit)
    if not events:
        return 0, 0
    made = 0
    for event in events:
        made += await notify_event(conn, mailer, event, now)
    await outbox.advance(conn, consumer, events[-1])
    return len(events), made


async def notify_pending(
    db: Database, mailer: Mailer, clock: Clock, *, consumer: str = CONSUMER, limit: int = BATCH
) -> int:
    """Drain the outbox for this consumer, one transaction per batch, then hand the mail to
    the mailer; returns how many notifications were made."""
    total = 0
    while True:
        async with db.transaction() as conn:
            read, made = await notify_batch(
                conn, mailer, clock.now(), consumer=consumer, limit=limit
            )
        total += made
        if read < limit:
            break
    if total:
        mailer.kick()
    return total


async def notify_event(conn: Connection, mailer: Mailer, event: OutboxEvent, now: datetime) -> int:
    """Notify the owner of one `payment.*` event, once; 1 if a notification was made."""
    if not event.type.startswith("payment.") or not event.owner.startswith("user:"):
        return 0
    user_id = event.owner.removeprefix("user:")
    payment = event.data
    if any(payment.get(key) is None for key in REQUIRED):
        log.warning("payment event without a payment skipped", event_id=event.id)
        return 0
    claimed = await repository.claim_payment_notification(
        conn, event_id=event.id, user_id=user_id, payment_id=str(payment["id"]), now=now
    )
    if not claimed:
        return 0
    try:
        view, email = await _view(conn, user_id, payment)
    except NotFound as missing:
        # A person or wallet that no longer exists can't be told; the event is done with.
        log.warning("payment notification skipped", event_id=event.id, reason=str(missing))
        return 0
    message = compose(view)
    notification_id = await notify(
        conn,
        user_id=user_id,
        kind=event.type,
        title=message.title,
        body=message.body,
        data=_data(event, payment),
    )
    mail_id = await _queue_mail(conn, mailer, email, message, event)
    await repository.record_payment_notification(conn, event.id, notification_id, mail_id)
    return 1


async def _view(conn: Connection, user_id: str, payment: dict[str, Any]) -> tuple[PaymentView, str]:
    """The payment as the owner sees it, and the owner's email address."""
    owner = await profile(conn, user_id)
    started_by = await get_wallet(conn, payment["wallet_id"])
    side: Side = "sender" if started_by.user_id == user_id else "recipient"
    other_wallet_id = payment.get("counterparty_wallet_id") if side == "sender" else started_by.id
    counterparty = await _name_of_wallet_owner(conn, other_wallet_id)
    currency = payment["currency"]
    fee = int(payment.get("fee") or 0)
    metadata = payment.get("metadata") or {}
    view = PaymentView(
        kind=payment["kind"],
        status=payment["status"],
        side=side,
        amount=format_amount(int(payment["amount"]), currency),
        fee=format_amount(fee, currency) if fee else None,
        counterparty=counterparty,
        note=payment.get("note"),
        failure_message=payment.get("failure_message"),
        converted_to=_converted_to(metadata),
    )
    return view, owner["email"]


async def _name_of_wallet_owner(conn: Connection, wallet_id: str | None) -> str | None:
    if not wallet_id:
        return None
    wallet = await get_wallet(conn, wallet_id)
    person = await profile(conn, wallet.user_id)
    name = person["display_name"] or person["email"]
    return str(name)


def _converted_to(metadata: dict[str, Any]) -> str | None:
    currency, amount = metadata.get("buy_currency"), metadata.get("buy_amount")
    if not currency or amount is None:
        return None
    return format_amount(int(amount), str(currency))


def _data(event: OutboxEvent, payment: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": event.id,
        "payment_id": payment.get("id"),
        "kind": payment.get("kind"),
        "status": payment.get("status"),
        "amount": str(payment.get("amount")),
        "currency": payment.get("currency"),
    }


async def _queue_mail(
    conn: Connection, mailer: Mailer, email: str, message: Message, event: OutboxEvent
) -> str | None:
    text = f"{message.title}\n\n{message.body}\n\nSee it in finhub: {mailer.settings.public_url}\n"
    try:
        return await mailer.queue(conn, to=email, subject=message.title, text=text, tag=MAIL_TAG)
    except ValueError as refused:
        # An address the mailer can't use must not hold back everyone else's notifications.
        log.warning("payment email not queued", event_id=event.id, reason=str(refused))
        return None
