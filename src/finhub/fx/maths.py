"""The arithmetic of conversions, free of I/O: rates with the spread, amounts rounded down,
and the remainder carried to the rounding account (the rules are spelled out in
`finhub.fx.quotes`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, Context, Decimal

from finhub.kit.money import EXACT

RATE_DIGITS = 10
CUSTOMER_RATE = Context(prec=RATE_DIGITS, rounding=ROUND_DOWN)
BASIS_POINTS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Conversion:
    sell_amount: int  # minor units of the sell currency
    buy_amount: int  # minor units of the buy currency the customer receives
    remainder: Decimal  # buy minor units withheld by rounding down: 0 <= remainder < 1


def customer_rate(mid: Decimal, spread_bps: int) -> Decimal:
    """The mid rate less the spread, cut to RATE_DIGITS significant digits."""
    share = EXACT.divide(BASIS_POINTS - spread_bps, BASIS_POINTS)
    return CUSTOMER_RATE.plus(EXACT.multiply(mid, share))


def exact_buy_amount(sell_amount: int, rate: Decimal, sell_scale: int, buy_scale: int) -> Decimal:
    """`sell_amount` at `rate` in buy minor units, unrounded (exact: EXACT has room)."""
    return EXACT.multiply(Decimal(sell_amount), rate).scaleb(buy_scale - sell_scale, EXACT)


def by_sell_amount(sell_amount: int, rate: Decimal, sell_scale: int, buy_scale: int) -> Conversion:
    exact = exact_buy_amount(sell_amount, rate, sell_scale, buy_scale)
    received = int(exact.to_integral_value(rounding=ROUND_DOWN))
    return Conversion(sell_amount, received, EXACT.subtract(exact, Decimal(received)))


def by_buy_amount(buy_amount: int, rate: Decimal, sell_scale: int, buy_scale: int) -> Conversion:
    """The smallest sell amount that yields at least `buy_amount` (it may yield a little
    more when one sell minor unit is worth more than one buy minor unit)."""
    per_sell_unit = rate.scaleb(buy_scale - sell_scale, EXACT)
    estimate = EXACT.divide(Decimal(buy_amount), per_sell_unit)
    sell = max(1, int(estimate.to_integral_value(rounding=ROUND_CEILING)))
    conversion = by_sell_amount(sell, rate, sell_scale, buy_scale)
    while conversion.buy_amount < buy_amount:  # guards the division's last digit
        conversion = by_sell_amount(conversion.sell_amount + 1, rate, sell_scale, buy_scale)
    return conversion


def carry_forward(carry: Decimal, remainder: Decimal) -> tuple[int, Decimal]:
    """Add a conversion's remainder to the currency's carry: (whole minor units to book to
    the rounding account now, the new carry below one unit)."""
    total = EXACT.add(carry, remainder)
    units = int(total.to_integral_value(rounding=ROUND_DOWN))
    return units, EXACT.subtract(total, Decimal(units))


def rate_text(rate: Decimal) -> str:
    """How rates are shown: plain notation without trailing zeros (0.319395, 160.32435, 100)."""
    return format(rate.normalize(), "f")
