"""Payment records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

PaymentKind = Literal[
    "p2p", "card_topup", "bank_topup", "withdrawal", "fx_conversion", "request_payment", "refund"
]
PaymentStatus = Literal[
    "requires_action", "processing", "completed", "failed", "canceled", "refunded"
]
FINAL_STATUSES = frozenset({"completed", "failed", "canceled", "refunded"})


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    kind: str
    status: str
    wallet_id: str
    counterparty_wallet_id: str | None
    amount: int
    currency: str
    fee: int
    note: str | None
    metadata: dict[str, Any]
    ledger_transaction_id: str | None
    hold_transaction_id: str | None
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewPayment:
    kind: PaymentKind
    wallet_id: str  # the wallet of the person who started it
    amount: int
    currency: str
    fee: int = 0
    counterparty_wallet_id: str | None = None
    note: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActivityLine:
    """What one wallet's feed shows of a payment."""

    wallet_id: str
    direction: Literal["in", "out"]
    amount: int
    currency: str
    fee: int = 0
    counterparty: str | None = None
    note: str | None = None
