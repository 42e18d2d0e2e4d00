"""Wallet records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Wallet:
    id: str
    user_id: str
    home_currency: str
    status: str
    payment_reference: str
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class CurrencyBalance:
    currency: str
    ledger_account_id: str
    balance: int  # posted
    available: int  # posted less outgoing holds
    held: int  # outgoing holds
