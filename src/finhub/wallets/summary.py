"""The wallet at a glance, for a dashboard: money in and out this month, this month's money out
by category, and the balances at the end of each of the last days.

Everything is computed from two indexed reads: this month's part of the activity feed, summed
in SQL, and one probe of the ledger's (account, time) index per balance and day. Sums are
shown per currency and in the home currency at the latest rates (for display only, like the
wallet's total); a currency without a rate leaves the converted figure null rather than wrong.
Days and months are UTC days and months.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN
from typing import Any

from finhub.fx.maths import exact_buy_amount
from finhub.fx.rates import RateBook, rate_book
from finhub.kit.clock import SystemClock
from finhub.kit.db.engine import Connection
from finhub.kit.money import iso_currency
from finhub.ledger.errors import UnknownAsset
from finhub.ledger.service import LedgerService
from finhub.wallets import activity_repository as repository
from finhub.wallets.models import Wallet

# Lines whose money moved: a refunded top-up did arrive (its refund is a line of its own).
MOVED = ("completed", "refunded")
CATEGORY_OF_KIND = {
    "p2p": "people",
    "request_payment": "people",
    "withdrawal": "withdrawals",
    "fx_conversion": "exchanges",
    "refund": "refunds",
}
DEFAULT_DAYS = 30


class HomeConverter:
    """Amounts in the home currency at the latest mid rates, from one read of the rates."""

    def __init__(self, home: str, book: RateBook, scales: dict[str, int | None]) -> None:
        self.home = home
        self.book = book
        self.scales = scales
        self.missing: set[str] = set()

    def convert(self, amount: int, currency: str) -> int | None:
        if currency == self.home:
            return amount
        if amount == 0:  # nothing to convert: no rate needed
            return 0
        rate = self.book.mid(currency, self.home)
        from_scale, to_scale = self.scales.get(currency), self.scales.get(self.home)
        if rate is None or from_scale is None or to_scale is None:
            self.missing.add(currency)
            return None
        exact = exact_buy_amount(amount, rate.rate, from_scale, to_scale)
        return int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))

    def total(self, amounts: dict[str, int]) -> int | None:
        converted = [self.convert(amount, currency) for currency, amount in amounts.items()]
        return None if None in converted else sum(c for c in converted if c is not None)


async def home_converter(conn: Connection, home: str, currencies: Iterable[str]) -> HomeConverter:
    codes = {home, *currencies}
    book = await rate_book(conn, *codes)
    return HomeConverter(home, book, {code: await _scale(conn, code) for code in codes})


async def _scale(conn: Connection, code: str) -> int | None:
    currency = iso_currency(code)
    if currency is not None:
        return currency.scale
    try:
        # Custom assets are the ledger's registry; the clock plays no part in reading it.
        return (await LedgerService(SystemClock()).resolve_asset(conn, code)).scale
    except UnknownAsset:
        return None


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


async def wallet_summary(
    conn: Connection, wallet: Wallet, *, now: datetime, days: int = DEFAULT_DAYS
) -> dict[str, Any]:
    start = month_start(now)
    totals = await repository.activity_totals(
        conn, wallet.id, start=start, end=next_month(start), statuses=MOVED
    )
    history = await _balance_history(conn, wallet, now=now, days=days)
    currencies = {row["currency"] for row in totals}
    currencies |= {currency for _, balances in history for currency in balances}
    home = await home_converter(conn, wallet.home_currency, currencies)
    money_in, money_out, spending = _month_sums(totals)
    return {
        "object": "wallet_summary",
        "home_currency": wallet.home_currency,
        "as_of": now,
        "month": {
            "start": start,
            "end": now,
            "money_in": _converted(home, money_in),
            "money_out": _converted(home, money_out),
        },
        "spending": _spending(home, spending),
        "balance_history": [
            {"day": day, "total": home.total(balances), "balances": balances}
            for day, balances in history
        ],
        "missing_rates": sorted(home.missing),
    }


def _month_sums(
    totals: list[dict[str, Any]],
) -> tuple[dict[str, int], dict[str, int], dict[str, dict[str, int]]]:
    """Money in and out per currency, and money out per category and currency (fees on
    outgoing lines are a category of their own, so the categories add up to money out)."""
    money_in: dict[str, int] = defaultdict(int)
    money_out: dict[str, int] = defaultdict(int)
    spending: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in totals:
        currency, amount, fee = row["currency"], int(row["amount"]), int(row["fee"])
        if row["direction"] == "in":
            money_in[currency] += amount
            continue
        money_out[currency] += amount + fee
        spending[CATEGORY_OF_KIND.get(row["kind"], "other")][currency] += amount
        if fee:
            spending["fees"][currency] += fee
    return money_in, money_out, spending


def _converted(home: HomeConverter, amounts: dict[str, int]) -> dict[str, Any]:
    ordered = sorted(amounts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "currency": home.home,
        "amount": home.total(amounts),
        "by_currency": [{"currency": c, "amount": a} for c, a in ordered if a],
    }


def _spending(home: HomeConverter, spending: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    categories = [
        {"category": category, **_converted(home, amounts)}
        for category, amounts in spending.items()
        if any(amounts.values())
    ]
    # Largest first in the home currency; those that can't be converted go last.
    return sorted(
        categories, key=lambda c: (c["amount"] is None, -(c["amount"] or 0), c["category"])
    )


async def _balance_history(
    conn: Connection, wallet: Wallet, *, now: datetime, days: int
) -> list[tuple[date, dict[str, int]]]:
    """The balances at the end of each of the last `days` UTC days, today last (today's are
    the balances now)."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    day_list = [first + timedelta(days=n) for n in range(days)]
    ends = [datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) for day in day_list]
    points: list[dict[str, int]] = [{} for _ in day_list]
    for row in await repository.balances_at(conn, wallet.id, ends):
        points[int(row["moment"]) - 1][row["currency"]] = int(row["balance"])
    return list(zip(day_list, points, strict=True))
