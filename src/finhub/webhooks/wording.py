"""What a payment notification says, per payment kind, status and side of the payment.

Written from the reader's point of view: "You received €12.50 from Ada", "Your withdrawal of
€40.00 failed". Amounts use the currency's own number of decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from finhub.kit.money import iso_currency

Side = Literal["sender", "recipient"]

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CNY": "¥", "THB": "฿", "INR": "₹"}

LABELS = {
    "p2p": "payment",
    "card_topup": "card top-up",
    "bank_topup": "bank transfer top-up",
    "withdrawal": "withdrawal",
    "fx_conversion": "currency conversion",
    "request_payment": "payment of a request",
    "refund": "refund",
}

STATUS_PHRASES = {
    "requires_action": "needs your attention",
    "processing": "is being processed",
    "completed": "is complete",
    "failed": "failed",
    "canceled": "was canceled",
    "refunded": "was refunded",
}


@dataclass(frozen=True, slots=True)
class PaymentView:
    """The facts a message needs, already resolved to names and formatted amounts."""

    kind: str
    status: str
    side: Side
    amount: str
    fee: str | None
    counterparty: str | None
    note: str | None
    failure_message: str | None
    converted_to: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str


def format_amount(minor: int, currency: str, scale: int | None = None) -> str:
    """`€12.50`, `¥1,200`, `12.50000000 BTC`: the currency's decimals, grouped thousands."""
    if scale is None:
        asset = iso_currency(currency)
        scale = asset.scale if asset is not None else 2
    value = Decimal(minor).scaleb(-scale)
    number = f"{value:,.{scale}f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{number} {currency}"


def compose(view: PaymentView) -> Message:
    title = _title(view)
    return Message(title=title, body=" ".join(part for part in _details(view) if part))


def _title(view: PaymentView) -> str:
    who, amount = view.counterparty, view.amount
    completed = view.status == "completed"
    if view.kind in ("p2p", "request_payment", "refund") and who:
        return _between_people(view, who)
    if completed and view.kind == "card_topup":
        return f"You added {amount} to your wallet by card"
    if completed and view.kind == "bank_topup":
        return f"You received {amount} by bank transfer"
    if completed and view.kind == "withdrawal":
        return f"Your withdrawal of {amount} has been paid out"
    if view.kind == "withdrawal" and view.status == "processing":
        return f"Your withdrawal of {amount} is on its way"
    if completed and view.kind == "fx_conversion" and view.converted_to:
        return f"You converted {amount} to {view.converted_to}"
    label = LABELS.get(view.kind, "payment")
    return f"Your {label} of {amount} {STATUS_PHRASES.get(view.status, view.status)}"


def _between_people(view: PaymentView, who: str) -> str:
    amount, status = view.amount, view.status
    if view.kind == "request_payment" and status == "completed":
        if view.side == "recipient":
            return f"{who} paid your request for {amount}"
        return f"You paid {who}'s request for {amount}"
    if view.kind == "refund" and status == "completed":
        if view.side == "recipient":
            return f"You received a refund of {amount} from {who}"
        return f"You refunded {amount} to {who}"
    if status == "completed":
        if view.side == "recipient":
            return f"You received {amount} from {who}"
        return f"You sent {amount} to {who}"
    if view.side == "recipient":
        return f"A payment of {amount} from {who} {STATUS_PHRASES.get(status, status)}"
    return f"Your payment of {amount} to {who} {STATUS_PHRASES.get(status, status)}"


def _details(view: PaymentView) -> list[str | None]:
    lines: list[str | None] = []
    if view.status == "failed":
        lines.append(view.failure_message or "No money has moved.")
        if view.kind == "withdrawal":
            lines.append("The amount is available in your wallet again.")
    elif view.status == "requires_action":
        lines.append("Open finhub to finish it.")
    elif view.status == "refunded":
        lines.append("The amount has been returned.")
    if view.note:
        lines.append(f"Note: {view.note}")
    if view.fee and view.side == "sender":
        lines.append(f"Fee: {view.fee}.")
    return lines
