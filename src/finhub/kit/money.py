"""Assets and amounts.

Amounts are Python ints in the asset's minor unit (cents, satoshi, wei). They are stored as
NUMERIC(39,0), so every unsigned 128-bit value fits. Conversions to and from decimal strings
are exact; rounding is always explicit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import lru_cache

import iso4217

MAX_AMOUNT = 2**128 - 1
MAX_SCALE = 18
# The default decimal context keeps 28 digits; a 128-bit amount has 39, and with a scale of
# 18 a conversion needs a few more. Every conversion here runs with this exact context.
EXACT = Context(prec=80)


@dataclass(frozen=True, slots=True)
class Asset:
    code: str
    scale: int
    name: str
    kind: str = "currency"  # "currency" (ISO 4217) or "custom"

    def to_decimal(self, minor: int) -> Decimal:
        return Decimal(minor).scaleb(-self.scale, context=EXACT)

    def to_minor(self, value: Decimal, rounding: str = ROUND_HALF_EVEN) -> int:
        """Convert a decimal amount to minor units with an explicit rounding rule."""
        quantum = Decimal(1).scaleb(-self.scale, context=EXACT)
        rounded = value.quantize(quantum, rounding=rounding, context=EXACT)
        return int(rounded.scaleb(self.scale, context=EXACT))

    def format(self, minor: int) -> str:
        return f"{self.to_decimal(minor):.{self.scale}f} {self.code}"


@lru_cache(maxsize=1)
def iso_currencies() -> dict[str, Asset]:
    """Every ISO 4217 currency with defined minor units."""
    currencies: dict[str, Asset] = {}
    for currency in iso4217.Currency:
        if currency.exponent is None:
            continue  # funds and metals (XAU, XDR, …) have no minor unit
        currencies[currency.code] = Asset(currency.code, currency.exponent, currency.currency_name)
    return currencies


def iso_currency(code: str) -> Asset | None:
    return iso_currencies().get(code)


def valid_amount(amount: int) -> bool:
    return 0 < amount <= MAX_AMOUNT
