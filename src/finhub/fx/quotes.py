"""Quotes and conversions: the price of a conversion, fixed for a short while, and booking it.

The rounding rule, in full:

* The customer's rate is the mid rate less the spread, cut (ROUND_DOWN) to `RATE_DIGITS`
  significant digits; it is the rate shown and the only one used.
* The customer receives `sell_amount x rate`, rounded DOWN to the buy currency's minor unit.
  For a quote by buy amount, the sell amount is the smallest one that yields at least it.
* The fraction of a minor unit not paid out (the quote's `remainder`) is not lost: per buy
  currency it accumulates in a carry (always below one minor unit), and each time the carry
  passes a whole unit, that unit is booked to the ROUNDING account in the conversion that
  crossed it. So at every moment, for each currency, the sum of all remainders equals what
  the rounding account holds plus the carry, exactly.

The ledger transaction balances per currency on its own:

    sell: wallet DEBIT sell_amount, wallet DEBIT fee,
          FX_POSITION CREDIT sell_amount, FEE_REVENUE CREDIT fee
    buy:  FX_POSITION DEBIT received + units, wallet CREDIT received, ROUNDING CREDIT units
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from finhub.audit.service import AuditContext
from finhub.errors import Unprocessable
from finhub.fx import repository
from finhub.fx.errors import (
    AmountTooSmall,
    QuoteAlreadyAccepted,
    QuoteExpired,
    QuoteNotFound,
    RateUnavailable,
    SameCurrency,
)
from finhub.fx.maths import (
    by_buy_amount,
    by_sell_amount,
    carry_forward,
    customer_rate,
    rate_text,
)
from finhub.fx.models import Quote
from finhub.fx.rates import mid_rate
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.money import MAX_AMOUNT
from finhub.ledger.models import Direction, EntrySpec
from finhub.ledger.service import LedgerService
from finhub.payments.core import Posting, create_payment
from finhub.payments.fees import fee_for
from finhub.payments.limits import check_limits
from finhub.payments.models import ActivityLine, NewPayment, Payment
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import Wallet

QUOTE_TTL = timedelta(seconds=30)

FeeFunction = Callable[[Connection, str, str, int], Awaitable[int]]


# --- the maths (pure) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversionAccounts:
    wallet_sell: str
    wallet_buy: str
    position_sell: str
    position_buy: str
    fee_revenue: str
    rounding: str


def conversion_entries(
    accounts: ConversionAccounts,
    quote: Quote,
    rounding_units: int,
) -> list[EntrySpec]:
    """The legs of one conversion (see the module docstring); zero legs are left out."""
    sell, buy = quote.sell_currency, quote.buy_currency
    entries = [
        EntrySpec(accounts.wallet_sell, Direction.DEBIT, quote.sell_amount, asset=sell),
        EntrySpec(accounts.position_sell, Direction.CREDIT, quote.sell_amount, asset=sell),
    ]
    if quote.fee:
        entries += [
            EntrySpec(accounts.wallet_sell, Direction.DEBIT, quote.fee, asset=sell),
            EntrySpec(accounts.fee_revenue, Direction.CREDIT, quote.fee, asset=sell),
        ]
    entries += [
        EntrySpec(
            accounts.position_buy, Direction.DEBIT, quote.buy_amount + rounding_units, asset=buy
        ),
        EntrySpec(accounts.wallet_buy, Direction.CREDIT, quote.buy_amount, asset=buy),
    ]
    if rounding_units:
        entries.append(EntrySpec(accounts.rounding, Direction.CREDIT, rounding_units, asset=buy))
    return entries


# --- quoting ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    sell_currency: str
    buy_currency: str
    sell_amount: int | None = None
    buy_amount: int | None = None


async def create_quote(
    conn: Connection,
    ledger: LedgerService,
    user_id: str,
    request: QuoteRequest,
    *,
    fees: FeeFunction = fee_for,
) -> Quote:
    """Price a conversion for `user_id` at the rate in force, valid for QUOTE_TTL."""
    sell, buy = request.sell_currency, request.buy_currency
    if sell == buy:
        raise SameCurrency(f"Both sides are {sell}.")
    sell_scale = (await ledger.resolve_asset(conn, sell)).scale
    buy_scale = (await ledger.resolve_asset(conn, buy)).scale
    mid = await mid_rate(conn, sell, buy)
    if mid is None:
        raise RateUnavailable(f"No exchange rate is known from {sell} to {buy}.")
    spread_bps = (await repository.get_settings(conn)).spread_bps
    rate = customer_rate(mid.rate, spread_bps)
    if request.sell_amount is not None:
        conversion = by_sell_amount(request.sell_amount, rate, sell_scale, buy_scale)
    else:
        assert request.buy_amount is not None
        conversion = by_buy_amount(request.buy_amount, rate, sell_scale, buy_scale)
    if conversion.buy_amount <= 0:
        raise AmountTooSmall(f"{request.sell_amount} {sell} buys less than one unit of {buy}.")
    if max(conversion.sell_amount, conversion.buy_amount) > MAX_AMOUNT:
        raise Unprocessable(
            "The conversion is larger than an amount can be (2^128 - 1 minor units).",
            code="amount_too_large",
        )
    now = ledger.clock.now()
    quote = Quote(
        id=new_id("qte"),
        user_id=user_id,
        sell_currency=sell,
        buy_currency=buy,
        fixed_side="sell" if request.sell_amount is not None else "buy",
        sell_amount=conversion.sell_amount,
        buy_amount=conversion.buy_amount,
        fee=await fees(conn, "fx_conversion", sell, conversion.sell_amount),
        mid_rate=mid.rate,
        rate=rate,
        spread_bps=spread_bps,
        remainder=conversion.remainder,
        rate_source=mid.source if mid.via is None else f"{mid.source} via {mid.via}",
        rate_as_of=mid.as_of,
        created_at=now,
        expires_at=now + QUOTE_TTL,
        accepted_at=None,
        payment_id=None,
    )
    await repository.insert_quote(conn, quote)
    return quote


async def get_quote(conn: Connection, user_id: str, quote_id: str) -> Quote:
    quote = await repository.find_quote(conn, quote_id, user_id)
    if quote is None:
        raise QuoteNotFound(f"No quote {quote_id}.")
    return quote


# --- accepting --------------------------------------------------------------------------------


async def accept_quote(
    conn: Connection, ledger: LedgerService, audit: AuditContext, user_id: str, quote_id: str
) -> tuple[Quote, Payment]:
    """Book the quoted conversion once, in the caller's transaction: the ledger transaction
    in both currencies, the payment with its activity lines, and the rounding carry."""
    now = ledger.clock.now()
    quote = await repository.find_quote(conn, quote_id, user_id, for_update=True)
    if quote is None:
        raise QuoteNotFound(f"No quote {quote_id}.")
    if quote.accepted_at is not None:
        raise QuoteAlreadyAccepted(
            f"Quote {quote_id} was accepted already.", payment_id=quote.payment_id
        )
    if now >= quote.expires_at:
        raise QuoteExpired(
            f"Quote {quote_id} expired at {quote.expires_at.isoformat()}; ask for a new one.",
            expired_at=quote.expires_at.isoformat(),
        )
    wallet = await wallets.ensure_wallet(conn, ledger.clock, user_id)
    wallets.require_open(wallet)
    for operation, currency, amount in (
        ("fx_conversion", quote.sell_currency, quote.sell_amount),
        ("receive", quote.buy_currency, quote.buy_amount),
    ):
        await check_limits(
            conn, user_id=user_id, operation=operation, currency=currency, amount=amount, now=now
        )
    accounts = await _accounts(conn, ledger, wallet, quote)
    carry = await repository.lock_carry(conn, quote.buy_currency, now)
    units, carry = carry_forward(carry, quote.remainder)
    payment = await create_payment(
        conn,
        ledger,
        audit,
        _new_payment(wallet.id, quote),
        posting=Posting(
            conversion_entries(accounts, quote, units),
            description=f"Conversion {quote.sell_currency}->{quote.buy_currency} {quote.id}",
        ),
        status="completed",
        activity=_activity(wallet.id, quote),
    )
    await repository.store_carry(conn, quote.buy_currency, carry, now)
    return await repository.mark_accepted(conn, quote.id, payment.id, now), payment


async def _accounts(
    conn: Connection, ledger: LedgerService, wallet: Wallet, quote: Quote
) -> ConversionAccounts:
    sell, buy = quote.sell_currency, quote.buy_currency
    return ConversionAccounts(
        wallet_sell=await wallets.balance_account(conn, ledger, wallet, sell),
        wallet_buy=await wallets.balance_account(conn, ledger, wallet, buy),
        position_sell=await system_account(conn, ledger, SystemAccount.FX_POSITION, sell),
        position_buy=await system_account(conn, ledger, SystemAccount.FX_POSITION, buy),
        fee_revenue=await system_account(conn, ledger, SystemAccount.FEE_REVENUE, sell),
        rounding=await system_account(conn, ledger, SystemAccount.ROUNDING, buy),
    )


def _new_payment(wallet_id: str, quote: Quote) -> NewPayment:
    return NewPayment(
        kind="fx_conversion",
        wallet_id=wallet_id,
        amount=quote.sell_amount,
        currency=quote.sell_currency,
        fee=quote.fee,
        metadata={
            "quote_id": quote.id,
            "buy_currency": quote.buy_currency,
            "buy_amount": str(quote.buy_amount),
            "rate": rate_text(quote.rate),
            "mid_rate": rate_text(quote.mid_rate),
        },
    )


def _activity(wallet_id: str, quote: Quote) -> list[ActivityLine]:
    note = f"{quote.sell_currency} to {quote.buy_currency} at {rate_text(quote.rate)}"
    return [
        ActivityLine(
            wallet_id, "out", quote.sell_amount, quote.sell_currency, fee=quote.fee, note=note
        ),
        ActivityLine(wallet_id, "in", quote.buy_amount, quote.buy_currency, note=note),
    ]
