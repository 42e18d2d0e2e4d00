"""Conversion arithmetic: worked examples and properties over amounts, rates and scales.

Nothing vanishes: what the customer receives plus the remainder is exactly sell x rate; the
remainders of a run of conversions equal what went to the rounding account plus the carry;
and each conversion's ledger entries balance per currency."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from finhub.fx.maths import (
    by_buy_amount,
    by_sell_amount,
    carry_forward,
    customer_rate,
    exact_buy_amount,
)
from finhub.fx.models import Quote
from finhub.fx.quotes import ConversionAccounts, conversion_entries
from finhub.ledger.models import Direction

amounts = st.integers(min_value=1, max_value=10**15)
scales = st.sampled_from([0, 2, 3, 8])
rates = st.decimals(
    min_value=Decimal("0.000001"), max_value=Decimal("100000"), places=6, allow_nan=False
).filter(lambda rate: rate > 0)
spreads = st.integers(min_value=0, max_value=5000)
remainders = st.decimals(min_value=0, max_value=Decimal("0.999999999"), places=9)


def test_worked_examples() -> None:
    # EUR -> USD at 1.1 less 50 bps: 100.00 EUR buys 109.45 USD exactly.
    rate = customer_rate(Decimal("1.1"), 50)
    assert rate == Decimal("1.0945")
    assert by_sell_amount(10_000, rate, 2, 2).buy_amount == 10_945
    # EUR -> JPY at 161.13 less 50 bps: 10.01 EUR is 1604.8467435 JPY, 1604 paid.
    rate = customer_rate(Decimal("161.13"), 50)
    conversion = by_sell_amount(1_001, rate, 2, 0)
    assert (conversion.buy_amount, conversion.remainder) == (1_604, Decimal("0.8467435"))
    # EUR -> KWD (3 decimals) at 0.3210 less 50 bps: 100.00 EUR is 31.9395 KWD, 31.939 paid.
    conversion = by_sell_amount(10_000, customer_rate(Decimal("0.3210"), 50), 2, 3)
    assert (conversion.buy_amount, conversion.remainder) == (31_939, Decimal("0.5"))
    # Buying exactly 5000 JPY: 31.19 EUR is the least that yields it.
    conversion = by_buy_amount(5_000, customer_rate(Decimal("161.13"), 50), 2, 0)
    assert (conversion.sell_amount, conversion.buy_amount) == (3_119, 5_000)


def test_the_customer_rate_is_cut_to_ten_significant_digits() -> None:
    assert customer_rate(Decimal("0.0019921802271457829"), 50) == Decimal("0.001982219326")
    assert customer_rate(Decimal("1"), 0) == Decimal("1")


@given(amounts, rates, scales, scales)
def test_received_plus_remainder_is_exactly_sell_times_rate(
    sell: int, rate: Decimal, sell_scale: int, buy_scale: int
) -> None:
    conversion = by_sell_amount(sell, rate, sell_scale, buy_scale)
    exact = Decimal(sell) * rate * Decimal(10) ** (buy_scale - sell_scale)
    assert Decimal(conversion.buy_amount) + conversion.remainder == exact
    assert 0 <= conversion.remainder < 1
    assert conversion.buy_amount >= 0


@given(amounts, rates, scales, scales)
def test_buying_an_amount_sells_the_least_that_yields_it(
    buy: int, rate: Decimal, sell_scale: int, buy_scale: int
) -> None:
    conversion = by_buy_amount(buy, rate, sell_scale, buy_scale)
    assert conversion.buy_amount >= buy
    if conversion.sell_amount > 1:
        less = by_sell_amount(conversion.sell_amount - 1, rate, sell_scale, buy_scale)
        assert less.buy_amount < buy


@given(rates, spreads)
def test_the_spread_never_favours_the_customer(mid: Decimal, spread: int) -> None:
    rate = customer_rate(mid, spread)
    assert rate <= mid
    floor = mid * (10_000 - spread) / 10_000
    assert rate <= floor
    assert floor - rate <= floor * Decimal("1e-9")  # cut at the 10th significant digit
    assert len(rate.normalize().as_tuple().digits) <= 10


@given(st.lists(remainders, max_size=200), remainders)
def test_remainders_add_up_to_the_rounding_account_plus_the_carry(
    run: list[Decimal], start: Decimal
) -> None:
    carry, booked = start, 0
    for remainder in run:
        units, carry = carry_forward(carry, remainder)
        assert units in (0, 1)
        assert 0 <= carry < 1
        booked += units
    assert booked + carry == start + sum(run, Decimal(0))


ACCOUNTS = ConversionAccounts(
    wallet_sell="wallet-sell",
    wallet_buy="wallet-buy",
    position_sell="position-sell",
    position_buy="position-buy",
    fee_revenue="fees-sell",
    rounding="rounding-buy",
)


def quote_for(sell: int, buy: int, fee: int, remainder: Decimal) -> Quote:
    now = datetime.now(UTC)
    return Quote(
        id="qte_x", user_id="usr_x", sell_currency="EUR", buy_currency="JPY", fixed_side="sell",
        sell_amount=sell, buy_amount=buy, fee=fee, mid_rate=Decimal(1), rate=Decimal(1),
        spread_bps=0, remainder=remainder, rate_source="manual", rate_as_of=now,
        created_at=now, expires_at=now + timedelta(seconds=30), accepted_at=None,
        payment_id=None,
    )  # fmt: skip


@given(amounts, rates, scales, scales, st.integers(0, 10**6), remainders)
def test_each_currency_balances_on_its_own(
    sell: int, rate: Decimal, sell_scale: int, buy_scale: int, fee: int, carry: Decimal
) -> None:
    conversion = by_sell_amount(sell, rate, sell_scale, buy_scale)
    if conversion.buy_amount == 0:
        return  # refused when quoting (amount_too_small)
    units, _ = carry_forward(carry, conversion.remainder)
    quote = quote_for(sell, conversion.buy_amount, fee, conversion.remainder)
    entries = conversion_entries(ACCOUNTS, quote, units)
    net: dict[str | None, int] = defaultdict(int)
    for entry in entries:
        assert entry.amount > 0
        net[entry.asset] += entry.amount if entry.direction is Direction.DEBIT else -entry.amount
    assert net == {"EUR": 0, "JPY": 0}
    by_account: dict[str, int] = defaultdict(int)
    for entry in entries:
        sign = 1 if entry.direction is Direction.DEBIT else -1
        by_account[entry.account_id] += sign * entry.amount
    assert by_account["wallet-sell"] == sell + fee
    assert by_account["wallet-buy"] == -conversion.buy_amount
    assert by_account.get("rounding-buy", 0) == -units
    # The position pays out received + whatever whole units the carry released.
    assert by_account["position-buy"] == conversion.buy_amount + units


def test_exact_amounts_need_no_rounding_for_whole_rates() -> None:
    assert exact_buy_amount(123, Decimal(2), 2, 2) == Decimal(246)
