"""Payees, payouts (the bank side of a withdrawal) and payout batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

PayoutStatus = Literal["pending", "batched", "paid", "failed", "canceled"]


@dataclass(frozen=True, slots=True)
class BankDetails:
    """A validated bank account: an IBAN (with its BIC when known) or a local account number
    with its bank's clearing code (GBDSC: UK sort code, USABA: US routing number)."""

    country: str
    iban: str | None = None
    bic: str | None = None
    account_number: str | None = None
    clearing_system: str | None = None
    clearing_code: str | None = None


@dataclass(frozen=True, slots=True)
class Payee:
    id: str
    user_id: str
    name: str
    nickname: str | None
    currency: str
    bank: BankDetails
    created_at: datetime
    removed_at: datetime | None

    @property
    def label(self) -> str:
        """How the payee shows in an activity feed: nickname, then the account's last digits."""
        account = self.bank.iban or self.bank.account_number or ""
        return f"{self.nickname or self.name} ••{account[-4:]}"


@dataclass(frozen=True, slots=True)
class Payout:
    payment_id: str
    user_id: str
    wallet_id: str
    payee_id: str
    amount: int
    currency: str
    end_to_end_id: str
    status: str
    batch_id: str | None
    reason_code: str | None
    report_message_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PayoutBatch:
    id: str
    currency: str
    scheme: str  # sepa | iso20022
    message_id: str
    payment_count: int
    control_sum: int
    status: str  # exported | settled
    pain001: str
    pain001_sha256: str
    created_by: str
    created_at: datetime
    settled_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """What importing one status report did."""

    batch_id: str
    message_id: str
    paid: int
    failed: int
    unchanged: int
    already_imported: bool
