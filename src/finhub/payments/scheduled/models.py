"""Scheduled payments and their runs (one per occurrence)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ScheduledPayment:
    id: str
    user_id: str
    type: str  # p2p | withdrawal
    recipient_wallet_id: str | None
    recipient_label: str | None
    payee_id: str | None
    amount: int
    currency: str
    note: str | None
    start_at: datetime
    rule: str | None
    end_at: datetime | None
    status: str  # active | paused | canceled | finished
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime
    canceled_at: datetime | None


@dataclass(frozen=True, slots=True)
class Run:
    scheduled_payment_id: str
    occurrence_at: datetime
    status: str  # pending | succeeded | failed | canceled
    attempts: int
    next_attempt_at: datetime | None
    payment_id: str | None
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def key(self) -> str:
        """The occurrence's unique key: a retry or a second worker can never pay it twice."""
        return f"{self.scheduled_payment_id}@{self.occurrence_at.isoformat()}"
