"""Assets, exact conversions between minor units and decimals, and prefixed sortable ids."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from ulid import ULID

from finhub.kit.ids import has_prefix, new_id
from finhub.kit.money import MAX_AMOUNT, MAX_SCALE, Asset, iso_currency, valid_amount

# --- the asset registry -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "scale"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3), ("CLF", 4)]
)
def test_iso_currencies_know_their_minor_units(code: str, scale: int) -> None:
    asset = iso_currency(code)
    assert asset is not None
    assert (asset.code, asset.scale, asset.kind) == (code, scale, "currency")
    assert asset.name


@pytest.mark.parametrize("code", ["XYZ", "usd", "BTC", "XAU", ""])
def test_unknown_codes_and_units_without_minor_digits_are_not_currencies(code: str) -> None:
    """BTC is a custom asset, not ISO; gold (XAU) has no minor unit to count in."""
    assert iso_currency(code) is None


# --- conversions --------------------------------------------------------------------------------

USD = Asset("USD", 2, "US Dollar")
JPY = Asset("JPY", 0, "Yen")
ETH = Asset("ETH", 18, "Ether", kind="custom")


def test_decimal_amounts_become_minor_units() -> None:
    assert USD.to_minor(Decimal("12.34")) == 1234
    assert JPY.to_minor(Decimal("1500")) == 1500
    assert ETH.to_minor(Decimal("1.5")) == 1_500_000_000_000_000_000
    assert USD.to_decimal(1234) == Decimal("12.34")
    assert JPY.to_decimal(1500) == Decimal("1500")


@pytest.mark.parametrize(
    ("value", "rounding", "minor"),
    [
        ("12.345", ROUND_HALF_EVEN, 1234),  # half to the even cent (banker's rounding)
        ("12.355", ROUND_HALF_EVEN, 1236),
        ("12.345", ROUND_HALF_UP, 1235),
        ("12.349", ROUND_DOWN, 1234),
        ("12.341", ROUND_UP, 1235),
        ("-12.345", ROUND_HALF_UP, -1235),
    ],
)
def test_rounding_is_explicit(value: str, rounding: str, minor: int) -> None:
    assert USD.to_minor(Decimal(value), rounding) == minor


def test_the_default_rounding_is_half_even() -> None:
    assert USD.to_minor(Decimal("0.125")) == 12
    assert USD.to_minor(Decimal("0.135")) == 14


def test_formatting_shows_every_minor_digit() -> None:
    assert USD.format(5) == "0.05 USD"
    assert USD.format(-123_456) == "-1234.56 USD"
    assert JPY.format(1500) == "1500 JPY"
    assert ETH.format(10**18) == "1.000000000000000000 ETH"


def test_128_bit_amounts_convert_exactly() -> None:
    """A 128-bit amount has 39 digits, more than Python's default decimal context keeps."""
    exact = Decimal("340282366920938463463.374607431768211455")
    assert ETH.to_decimal(MAX_AMOUNT) == exact
    assert ETH.format(MAX_AMOUNT) == "340282366920938463463.374607431768211455 ETH"
    assert ETH.to_minor(exact) == MAX_AMOUNT
    a_tenth_of_a_wei_more = Decimal("340282366920938463463.3746074317682114551")
    assert ETH.to_minor(a_tenth_of_a_wei_more, ROUND_DOWN) == MAX_AMOUNT
    assert ETH.to_minor(a_tenth_of_a_wei_more, ROUND_UP) == MAX_AMOUNT + 1


@example(minor=MAX_AMOUNT, scale=18)
@example(minor=10**30 + 1, scale=18)  # the last wei must survive
@given(
    minor=st.integers(min_value=0, max_value=MAX_AMOUNT),
    scale=st.integers(min_value=0, max_value=MAX_SCALE),
)
def test_every_128_bit_amount_survives_a_round_trip(minor: int, scale: int) -> None:
    asset = Asset("TST", scale, "test", kind="custom")
    as_decimal = asset.to_decimal(minor)
    assert asset.to_minor(as_decimal) == minor
    assert Decimal(asset.format(minor).split()[0]) == as_decimal


@given(value=st.decimals(min_value=-(10**12), max_value=10**12, places=6))
def test_rounding_moves_at_most_half_a_minor_unit(value: Decimal) -> None:
    minor = USD.to_minor(value, ROUND_HALF_EVEN)
    assert abs(USD.to_decimal(minor) - value) <= Decimal("0.005")


def test_valid_amounts_are_positive_and_fit_128_bits() -> None:
    assert MAX_AMOUNT == 2**128 - 1
    assert [valid_amount(n) for n in (-1, 0, 1, MAX_AMOUNT, MAX_AMOUNT + 1)] == [
        False,
        False,
        True,
        True,
        False,
    ]


# --- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["acct", "txn", "batch", "idem", "asset"])
def test_ids_carry_their_prefix_and_a_ulid(prefix: str) -> None:
    value = new_id(prefix)
    head, _, ulid = value.partition("_")
    assert head == prefix
    assert has_prefix(value, prefix)
    assert str(ULID.from_str(ulid)) == ulid
    assert len(ulid) == 26
    assert ulid == ulid.upper()


def test_has_prefix_rejects_other_shapes() -> None:
    account = new_id("acct")
    assert not has_prefix(account, "txn")
    assert not has_prefix(account + "X", "acct")
    assert not has_prefix("acct_short", "acct")


def test_an_unknown_prefix_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown id prefix"):
        new_id("user")


def test_ids_are_unique() -> None:
    ids = [new_id("txn") for _ in range(5_000)]
    assert len(set(ids)) == len(ids)


def test_ids_sort_in_creation_order_across_milliseconds() -> None:
    """Ids from different milliseconds sort by time; within one they are merely unique."""
    ids = [new_id("txn")]
    for _ in range(100_000):  # bounded: a millisecond passes long before this runs out
        ids.append(new_id("txn"))
        if ULID.from_str(ids[-1][4:]).milliseconds != ULID.from_str(ids[0][4:]).milliseconds:
            break
    first_ms = [ULID.from_str(i[4:]).milliseconds for i in ids]
    assert first_ms[-1] > first_ms[0], "the clock never moved"
    assert ids[0] < ids[-1]
    assert first_ms == sorted(first_ms)
