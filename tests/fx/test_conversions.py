"""Booking conversions through the service, in a rolled-back transaction: the fee leg, and a
run of conversions at random amounts whose remainders all reach the rounding account or the
carry while each transaction balances per currency and the ledger verifies clean."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from finhub.audit.service import AuditContext
from finhub.fx import repository
from finhub.fx.models import RateFact
from finhub.fx.quotes import QuoteRequest, accept_quote, create_quote
from finhub.fx.rates import store_rates
from finhub.kit.clock import OffsetClock
from finhub.kit.db.engine import Connection
from finhub.ledger.service import LedgerService
from finhub.wallets import service as wallets
from finhub.wallets.models import Wallet
from tests.factories import create_user
from tests.fx.conftest import fund

AUDIT = AuditContext.system("test")


async def fixed_fee(conn: Connection, operation: str, currency: str, amount: int) -> int:
    assert (operation, currency) == ("fx_conversion", "CLP")
    return 150


async def person_with(
    conn: Connection, ledger: LedgerService, clock: OffsetClock, **funds: int
) -> tuple[str, Wallet]:
    user_id = await create_user(conn)
    wallet = await wallets.ensure_wallet(conn, clock, user_id)
    for currency, amount in funds.items():
        await fund(conn, ledger, wallet, amount, currency)
    return user_id, wallet


async def rates_in_force(conn: Connection, clock: OffsetClock, **rates: str) -> None:
    """EUR -> X rates newer than anything committed by other tests."""
    as_of = clock.now() + timedelta(days=3650)
    facts = [
        RateFact("EUR", code, Decimal(rate), as_of.date(), as_of) for code, rate in rates.items()
    ]
    await store_rates(conn, "manual", facts, now=clock.now(), created_by="stf_test")


async def entries_of(conn: Connection, transaction_id: str) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        """
        SELECT e.direction, e.amount, e.asset, a.external_ref
        FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
        WHERE e.transaction_id = %s
        """,
        (transaction_id,),
    )
    return list(await cursor.fetchall())


def credited(entries: list[dict[str, Any]], prefix: str) -> int:
    return sum(
        int(e["amount"]) * (1 if e["direction"] == "credit" else -1)
        for e in entries
        if (e["external_ref"] or "").startswith(prefix)
    )


async def test_the_fee_is_a_leg_of_the_same_transaction(
    conn: Connection, ledger: LedgerService, clock: OffsetClock
) -> None:
    # CLP amounts are whole pesos (scale 0), BHD thousandths (scale 3).
    await rates_in_force(conn, clock, CLP="1000", BHD="0.4")
    user_id, wallet = await person_with(conn, ledger, clock, CLP=100_000)
    request = QuoteRequest("CLP", "BHD", sell_amount=50_000)
    quote = await create_quote(conn, ledger, user_id, request, fees=fixed_fee)
    # 50000 CLP = 50 EUR = 20 BHD at mid; less 50 bps: 19.900 BHD.
    assert (quote.fee, quote.buy_amount) == (150, 19_900)
    accepted, payment = await accept_quote(conn, ledger, AUDIT, user_id, quote.id)
    assert accepted.payment_id == payment.id
    assert (payment.amount, payment.fee, payment.currency) == (50_000, 150, "CLP")
    entries = await entries_of(conn, payment.ledger_transaction_id or "")
    assert credited(entries, "system:fee_revenue:CLP") == 150
    assert credited(entries, f"wallet:{wallet.id}:CLP") == -50_150
    assert credited(entries, "system:fx_position:CLP") == 50_000
    balances = {b.currency: b.balance for b in await wallets.balances(conn, wallet)}
    assert balances == {"CLP": 100_000 - 50_150, "BHD": 19_900}


async def test_a_run_of_conversions_loses_nothing(
    conn: Connection, ledger: LedgerService, clock: OffsetClock
) -> None:
    await rates_in_force(conn, clock, BHD="0.4123", CLP="1013.77", OMR="0.40113")
    # A premium person: forty conversions stay within that tier's daily limits.
    user_id, wallet = await person_with(conn, ledger, clock, BHD=10**8, CLP=10**8, OMR=10**8)
    await conn.execute("UPDATE users SET kyc_tier = 'premium' WHERE id = %s", (user_id,))
    carry_before = {code: await repository.carry_of(conn, code) for code in ("BHD", "CLP", "OMR")}
    remainders: dict[str, Decimal] = defaultdict(Decimal)
    to_rounding: dict[str, int] = defaultdict(int)
    pick = random.Random(20261123)
    for _ in range(40):
        sell, buy = pick.sample(["BHD", "CLP", "OMR"], 2)
        request = QuoteRequest(sell, buy, sell_amount=pick.randint(1_000, 10**6))
        quote = await create_quote(conn, ledger, user_id, request)
        _, payment = await accept_quote(conn, ledger, AUDIT, user_id, quote.id)
        entries = await entries_of(conn, payment.ledger_transaction_id or "")
        per_asset: dict[str, int] = defaultdict(int)
        for entry in entries:
            sign = 1 if entry["direction"] == "debit" else -1
            per_asset[entry["asset"]] += sign * int(entry["amount"])
        assert dict(per_asset) == {sell: 0, buy: 0}
        assert credited(entries, f"wallet:{wallet.id}:{buy}") == quote.buy_amount
        remainders[buy] += quote.remainder
        to_rounding[buy] += credited(entries, f"system:rounding:{buy}")
    for code in ("BHD", "CLP", "OMR"):
        carry_after = await repository.carry_of(conn, code)
        assert to_rounding[code] + carry_after == carry_before[code] + remainders[code]
    assert sum(to_rounding.values()) > 0
    report = await ledger.verify(conn)
    assert report.ok, report
