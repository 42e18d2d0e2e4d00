"""The wallet summary through the API: this month's money in and out, money out by category,
the daily balance history with its home-currency total, missing rates, and other people's
wallets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from finhub.fx.models import RateFact
from finhub.fx.rates import store_rates
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.models import Direction, EntrySpec
from finhub.ledger.service import LedgerService
from finhub.payments.core import Posting, create_payment
from finhub.payments.models import ActivityLine, NewPayment, Payment
from finhub.wallets import activity_repository
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import Wallet
from tests.wallets.conftest import (
    AUDIT,
    Holder,
    HolderFactory,
    pay,
    register_asset,
    top_up,
    withdraw_pending,
)

# Assets of these tests only, so no other test's rates change the figures: 1 SUMA = 2 EUR.
SUMA = "SUMA"
NORATE = "SUMNR"


async def summary(holder: Holder, **params: Any) -> dict[str, Any]:
    response = await holder.client.get("/v1/wallets/me/summary", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def exchange(
    db: Database,
    ledger: LedgerService,
    wallet: Wallet,
    sell: tuple[int, str],
    buy: tuple[int, str],
    fee: int = 0,
) -> Payment:
    """A completed conversion as the currencies module books it: the sold side (plus the fee)
    out of one balance, the bought side into another."""
    (sell_amount, sell_currency), (buy_amount, buy_currency) = sell, buy
    async with db.transaction() as conn:
        source = await wallets.balance_account(conn, ledger, wallet, sell_currency)
        target = await wallets.balance_account(conn, ledger, wallet, buy_currency)
        sold = await system_account(conn, ledger, SystemAccount.FX_POSITION, sell_currency)
        bought = await system_account(conn, ledger, SystemAccount.FX_POSITION, buy_currency)
        entries = [
            EntrySpec(source, Direction.DEBIT, sell_amount + fee),
            EntrySpec(sold, Direction.CREDIT, sell_amount),
            EntrySpec(bought, Direction.DEBIT, buy_amount),
            EntrySpec(target, Direction.CREDIT, buy_amount),
        ]
        if fee:
            revenue = await system_account(conn, ledger, SystemAccount.FEE_REVENUE, sell_currency)
            entries.append(EntrySpec(revenue, Direction.CREDIT, fee))
        note = f"{sell_currency} to {buy_currency}"
        return await create_payment(
            conn,
            ledger,
            AUDIT,
            NewPayment(kind="fx_conversion", wallet_id=wallet.id, amount=sell_amount,
                       currency=sell_currency, fee=fee, note=note),
            posting=Posting(entries),
            status="completed",
            activity=[
                ActivityLine(wallet.id, "out", sell_amount, sell_currency, fee=fee, note=note),
                ActivityLine(wallet.id, "in", buy_amount, buy_currency, note=note),
            ],
        )  # fmt: skip


@pytest.fixture
async def rates(db: Database, ledger: LedgerService, clock: OffsetClock) -> None:
    await register_asset(db, ledger, SUMA, 2)
    await register_asset(db, ledger, NORATE, 0)
    now = clock.now()
    async with db.transaction() as conn:
        fact = RateFact(SUMA, "EUR", Decimal("2"), now.date(), now)
        await store_rates(conn, "manual", [fact], now=now, created_by=None)


async def test_this_months_money_in_out_and_categories(
    make_holder: HolderFactory, db: Database, ledger: LedgerService, rates: None
) -> None:
    ada = await make_holder(display_name="Ada Lovelace")
    grace = await make_holder(display_name="Grace Hopper")
    await top_up(db, ledger, ada.wallet, 100_00, note="Salary")
    await pay(db, ledger, ada.wallet, grace.wallet, 15_00, note="Pizza", fee=50)
    await pay(db, ledger, grace.wallet, ada.wallet, 7_00, payer_name="Grace Hopper")
    await exchange(db, ledger, ada.wallet, (20_00, "EUR"), (10_00, SUMA), fee=20)
    await withdraw_pending(db, ledger, ada.wallet, 5_00)  # still on its way: not counted

    body = await summary(ada)
    assert body["object"] == "wallet_summary"
    assert body["home_currency"] == "EUR"
    assert body["missing_rates"] == []
    month = body["month"]
    assert month["money_in"] == {
        "currency": "EUR",
        "amount": 100_00 + 7_00 + 20_00,  # 10.00 SUMA at 2 EUR
        "by_currency": [
            {"currency": "EUR", "amount": 107_00},
            {"currency": SUMA, "amount": 10_00},
        ],
    }
    assert month["money_out"]["amount"] == 15_50 + 20_20
    assert month["money_out"]["by_currency"] == [{"currency": "EUR", "amount": 35_70}]
    spending = {c["category"]: c["amount"] for c in body["spending"]}
    assert spending == {"exchanges": 20_00, "people": 15_00, "fees": 70}
    assert [c["category"] for c in body["spending"]] == ["exchanges", "people", "fees"]
    assert sum(spending.values()) == month["money_out"]["amount"]
    assert datetime.fromisoformat(month["start"]).day == 1
    # Grace's side of the same payments only.
    graces = await summary(grace)
    assert graces["month"]["money_in"]["amount"] == 15_00
    assert {c["category"]: c["amount"] for c in graces["spending"]} == {"people": 7_00}


async def database_now(db: Database) -> datetime:
    """The database's clock, which stamps ledger entries (`posted_at`)."""
    async with db.connection() as conn:
        row = await (await conn.execute("SELECT clock_timestamp() AS now")).fetchone()
    assert row is not None
    moment: datetime = row["now"]
    return moment


async def test_balances_at_reads_the_ledger_as_it_was(
    holder: Holder, db: Database, ledger: LedgerService, rates: None
) -> None:
    moments = [await database_now(db)]
    for amount, currency in ((40_00, "EUR"), (10_00, SUMA), (2_00, "EUR")):
        await top_up(db, ledger, holder.wallet, amount, currency=currency)
        moments.append(await database_now(db))
    async with db.connection() as conn:
        rows = await activity_repository.balances_at(conn, holder.wallet.id, moments)
    by_moment: dict[int, dict[str, int]] = {}
    for row in rows:
        by_moment.setdefault(row["moment"], {})[row["currency"]] = int(row["balance"])
    assert [by_moment[n] for n in range(1, 5)] == [
        {"EUR": 0, SUMA: 0},
        {"EUR": 40_00, SUMA: 0},
        {"EUR": 40_00, SUMA: 10_00},
        {"EUR": 42_00, SUMA: 10_00},
    ]


async def test_the_balance_history_has_one_point_per_day(
    holder: Holder, db: Database, ledger: LedgerService, clock: OffsetClock, rates: None
) -> None:
    await top_up(db, ledger, holder.wallet, 40_00)
    await top_up(db, ledger, holder.wallet, 10_00, currency=SUMA)
    history = (await summary(holder, days=7))["balance_history"]
    today = clock.now().astimezone(UTC).date()
    assert [point["day"] for point in history] == [
        (today - timedelta(days=n)).isoformat() for n in range(6, -1, -1)
    ]
    # Today's point is the balances now, with their total at 1 SUMA = 2 EUR.
    assert history[-1]["balances"] == {"EUR": 40_00, SUMA: 10_00}
    assert history[-1]["total"] == 60_00
    # Every balance the wallet has is in every point, at 0 before its money arrived.
    assert all(set(point["balances"]) == {"EUR", SUMA} for point in history)
    assert len((await summary(holder))["balance_history"]) == 30


async def test_a_currency_without_a_rate_leaves_converted_figures_null(
    holder: Holder, db: Database, ledger: LedgerService, rates: None
) -> None:
    await top_up(db, ledger, holder.wallet, 10_00)
    await top_up(db, ledger, holder.wallet, 3, currency=NORATE)
    body = await summary(holder)
    assert body["missing_rates"] == [NORATE]
    assert body["month"]["money_in"]["amount"] is None
    assert {"currency": NORATE, "amount": 3} in body["month"]["money_in"]["by_currency"]
    assert body["balance_history"][-1] == {
        "day": body["balance_history"][-1]["day"],
        "total": None,
        "balances": {"EUR": 10_00, NORATE: 3},
    }


async def test_an_empty_wallet_has_an_empty_summary(holder: Holder) -> None:
    body = await summary(holder)
    assert body["month"]["money_in"] == {"currency": "EUR", "amount": 0, "by_currency": []}
    assert body["spending"] == []
    assert {point["total"] for point in body["balance_history"]} == {0}


async def test_only_the_callers_wallet_is_summed(
    make_holder: HolderFactory, db: Database, ledger: LedgerService, app: Any
) -> None:
    ada = await make_holder()
    stranger = await make_holder()
    await top_up(db, ledger, ada.wallet, 55_00)
    body = await summary(stranger)
    assert body["month"]["money_in"]["amount"] == 0
    assert all(point["balances"] == {} for point in body["balance_history"])
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as anonymous:
        assert (await anonymous.get("/v1/wallets/me/summary")).status_code == 401


@pytest.mark.parametrize("days", [0, 6, 91, "x"])
async def test_the_history_length_is_checked(holder: Holder, days: object) -> None:
    response = await holder.client.get("/v1/wallets/me/summary", params={"days": days})
    assert response.status_code == 422


async def test_the_summary_is_documented(holder: Holder) -> None:
    schema = (await holder.client.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/wallets/me/summary"]["get"]
    assert operation["summary"] == "Get my wallet's summary"
    assert "missing_rates" in operation["description"]
    assert {"401", "403", "422"} <= set(operation["responses"])
