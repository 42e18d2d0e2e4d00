"""Exchange rates and quotes as the service sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

RateSourceName = Literal["ecb", "manual"]


@dataclass(frozen=True, slots=True)
class RateFact:
    """One published rate: 1 `base` = `rate` `quote`, valid as of `as_of`."""

    base: str
    quote: str
    rate: Decimal
    as_of_date: date
    as_of: datetime


@dataclass(frozen=True, slots=True)
class StoredRate:
    id: str
    source: str
    base: str
    quote: str
    rate: Decimal
    as_of_date: date
    as_of: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MidRate:
    """The mid-market rate from `sell` to `buy` (buy units per sell unit): a stored rate, its
    inverse, or a cross rate via EUR (`via`), as old as its oldest leg."""

    base: str
    quote: str
    rate: Decimal
    source: str
    as_of: datetime
    via: str | None = None


@dataclass(frozen=True, slots=True)
class FxSettings:
    ecb_url: str | None
    spread_bps: int
    updated_at: datetime
    updated_by: str | None


@dataclass(frozen=True, slots=True)
class Quote:
    id: str
    user_id: str
    sell_currency: str
    buy_currency: str
    fixed_side: str
    sell_amount: int
    buy_amount: int
    fee: int
    mid_rate: Decimal
    rate: Decimal
    spread_bps: int
    remainder: Decimal
    rate_source: str
    rate_as_of: datetime
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    payment_id: str | None

    def status(self, now: datetime) -> str:
        if self.accepted_at is not None:
            return "accepted"
        return "open" if now < self.expires_at else "expired"
