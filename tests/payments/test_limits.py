"""Limits per KYC tier: per payment, calendar day and month in UTC, balance caps, what remains,
the EUR fallback for other currencies, and the staff and personal endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from httpx import AsyncClient

from finhub.config import Settings
from finhub.fx.service import convert
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.ledger.service import LedgerService
from finhub.payments.core import change_status
from finhub.payments.errors import LimitExceeded
from finhub.payments.limits import (
    LimitCheck,
    LimitSet,
    check_limits,
    day_window,
    limit_refusals,
    limits_for,
    set_limits,
)
from finhub.wallets import service as wallets
from finhub.wallets.models import Wallet
from tests.payments.scheduled.support import (
    AUDIT,
    FixedClock,
    client_for,
    open_wallet,
    pay,
    person_token,
    rules_app,
    scalar,
    staff_token,
    utc,
)

# A currency no other test or flow uses: the staff endpoints commit for real.
TEST_CURRENCY = "XLM"
EUR_BASIC = {"per_payment": 100_000, "daily": 250_000, "monthly": 1_000_000, "balance": 1_500_000}


@pytest.fixture(scope="module")
async def app(settings: Settings, database_url: str, clock: OffsetClock) -> AsyncIterator[Any]:
    async with rules_app(settings, database_url, clock) as app:
        yield app


@pytest.fixture
async def app_client(app: Any, admin_token: str) -> AsyncIterator[AsyncClient]:
    async with client_for(app, admin_token) as client:
        yield client


async def small_limits(conn: Connection, currency: str = "EUR", tier: str = "basic") -> None:
    await set_limits(
        conn,
        AUDIT,
        LimitSet(tier, currency, per_payment=600, daily=1_000, monthly=2_500,
                 topup_per_payment=700, topup_daily=800, topup_monthly=900, balance=5_000),
        now=utc(2030, 1, 1),
    )  # fmt: skip


async def exceeded(conn: Connection, payer: Wallet, amount: int, **kw: Any) -> LimitExceeded:
    with pytest.raises(LimitExceeded) as caught:
        await check_limits(conn, user_id=payer.user_id, amount=amount, **kw)
    return caught.value


async def test_the_seeded_basic_eur_limits(conn: Connection) -> None:
    basic = await limits_for(conn, "basic", "EUR")
    assert basic is not None
    assert {k: getattr(basic, k) for k in EUR_BASIC} == EUR_BASIC
    premium = await limits_for(conn, "premium", "THB")
    assert premium is not None
    assert premium.daily == 100_000 * 40 * 100


async def test_per_payment_daily_and_monthly_with_calendar_boundaries(conn: Connection) -> None:
    clock = FixedClock(utc(2031, 3, 30, 23, 0))
    ledger = LedgerService(clock)
    await small_limits(conn)
    payer = await open_wallet(conn, ledger, funds=5_000)
    payee = await open_wallet(conn, ledger)
    check: dict[str, Any] = {"operation": "p2p", "currency": "EUR", "now": clock.now()}

    error = await exceeded(conn, payer, 601, **check)
    assert (error.status, error.code) == (422, "limit_exceeded")
    assert error.extra == {"limit": "per_payment", "remaining": 600, "currency": "EUR"}

    await pay(conn, ledger, payer, payee, 600)
    await pay(conn, ledger, payer, payee, 300)
    await check_limits(conn, user_id=payer.user_id, amount=100, **check)  # exactly the limit
    error = await exceeded(conn, payer, 101, **check)
    assert error.extra == {"limit": "daily", "remaining": 100, "currency": "EUR"}

    clock.set(utc(2031, 3, 31, 0, 0))  # a new UTC day: the daily allowance is back
    check["now"] = clock.now()
    await check_limits(conn, user_id=payer.user_id, amount=600, **check)
    await pay(conn, ledger, payer, payee, 600)
    await pay(conn, ledger, payer, payee, 400)
    clock.set(utc(2031, 3, 31, 23, 59))
    await pay(conn, ledger, payer, payee, 1, kind="withdrawal", status="failed")  # not counted
    error = await exceeded(conn, payer, 1, **{**check, "now": clock.now()})
    assert error.extra["limit"] == "daily"
    assert error.extra["remaining"] == 0

    clock.set(utc(2031, 4, 1, 0, 0))  # a new month
    await check_limits(conn, user_id=payer.user_id, amount=600, **{**check, "now": clock.now()})
    await pay(conn, ledger, payer, payee, 500, kind="withdrawal", status="processing")
    await pay(conn, ledger, payer, payee, 500, kind="request_payment")
    clock.set(utc(2031, 4, 2, 12, 0))
    await pay(conn, ledger, payer, payee, 600, kind="fx_conversion")
    await pay(conn, ledger, payer, payee, 500)
    clock.set(utc(2031, 4, 3, 12, 0))
    await pay(conn, ledger, payer, payee, 300)
    error = await exceeded(conn, payer, 200, **{**check, "now": clock.now()})
    assert error.extra == {"limit": "monthly", "remaining": 100, "currency": "EUR"}
    # card top-ups have limits of their own, untouched by what was sent
    await check_limits(conn, user_id=payer.user_id, operation="card_topup", currency="EUR",
                       amount=700, now=clock.now())  # fmt: skip


async def test_topup_limits_and_the_balance_cap(conn: Connection) -> None:
    clock = FixedClock(utc(2031, 5, 10, 12, 0))
    ledger = LedgerService(clock)
    await small_limits(conn)
    person = await open_wallet(conn, ledger, funds=4_500)
    topup = {"operation": "card_topup", "currency": "EUR", "now": clock.now()}
    error = await exceeded(conn, person, 701, **topup)
    assert error.extra == {"limit": "per_payment", "remaining": 700, "currency": "EUR"}
    error = await exceeded(conn, person, 600, **topup)  # 4 500 + 600 > 5 000
    assert error.extra == {"limit": "balance", "remaining": 500, "currency": "EUR"}
    error = await exceeded(conn, person, 501, operation="receive", currency="EUR", now=clock.now())
    assert error.extra == {"limit": "balance", "remaining": 500, "currency": "EUR"}
    await check_limits(conn, user_id=person.user_id, operation="receive", currency="EUR",
                       amount=500, now=clock.now())  # fmt: skip
    await check_limits(conn, user_id=person.user_id, operation="bank_topup", currency="EUR",
                       amount=500, now=clock.now())  # fmt: skip
    # an over-full wallet (a cap lowered later) shows nothing remaining, never a negative
    await conn.execute("UPDATE payment_limits SET balance = 100 WHERE tier = 'basic'"
                       " AND currency = 'EUR'")  # fmt: skip
    error = await exceeded(conn, person, 1, operation="receive", currency="EUR", now=clock.now())
    assert error.extra["remaining"] == 0


async def test_a_higher_tier_has_higher_limits_and_refunds_are_free(conn: Connection) -> None:
    clock = FixedClock(utc(2031, 6, 1, 12, 0))
    ledger = LedgerService(clock)
    basic = await open_wallet(conn, ledger)
    premium = await open_wallet(conn, ledger, tier="premium")
    amount = 200_000  # 2 000 EUR: over basic's per-payment limit
    error = await exceeded(conn, basic, amount, operation="p2p", currency="EUR", now=clock.now())
    assert error.extra["limit"] == "per_payment"
    await check_limits(conn, user_id=premium.user_id, operation="p2p", currency="EUR",
                       amount=amount, now=clock.now())  # fmt: skip
    await check_limits(conn, user_id=basic.user_id, operation="refund", currency="EUR",
                       amount=10**12, now=clock.now())  # fmt: skip


async def test_other_currencies_use_the_eur_figures(conn: Connection) -> None:
    clock = FixedClock(utc(2031, 6, 1, 12, 0))
    ledger = LedgerService(clock)
    await conn.execute("DELETE FROM payment_limits WHERE currency = 'CHF'")
    derived = await limits_for(conn, "basic", "CHF")
    assert derived is not None
    assert derived.derived_from == "EUR"
    # at the latest EUR→CHF rate, or the EUR minor-unit figures as they are with no rate
    rated = await convert(conn, EUR_BASIC["per_payment"], "EUR", "CHF")
    assert derived.per_payment == (EUR_BASIC["per_payment"] if rated is None else rated)
    person = await open_wallet(conn, ledger, currency="CHF")
    error = await exceeded(conn, person, (derived.per_payment or 0) + 1, operation="p2p",
                           currency="CHF", now=clock.now())  # fmt: skip
    assert error.extra == {
        "limit": "per_payment",
        "remaining": derived.per_payment,
        "currency": "CHF",
    }


async def test_staff_manage_limits_audited(
    app_client: AsyncClient, app: Any, db: Database, settings: Settings
) -> None:
    path = f"/v1/staff/limits/verified/{TEST_CURRENCY}"
    body = {"per_payment": 1_000, "daily": 2_000, "monthly": None, "balance": 9_000}
    response = await app_client.put(path, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["daily"] == 2_000
    assert response.json()["monthly"] is None
    second = await app_client.put(path, json={**body, "daily": 3_000})
    assert second.status_code == 200
    listed = (await app_client.get("/v1/staff/limits", params={"tier": "verified"})).json()
    assert second.json() in listed["data"]
    assert {row["tier"] for row in listed["data"]} == {"verified"}
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT before, after FROM audit_events WHERE action = 'limits.changed'"
            " AND object_id = %s ORDER BY seq",
            (f"verified/{TEST_CURRENCY}",),
        )
        changes = await cursor.fetchall()
    assert changes[0]["before"] is None
    assert changes[1]["before"]["daily"] == "2000"
    assert changes[1]["after"]["daily"] == "3000"
    bad = await app_client.put(f"/v1/staff/limits/gold/{TEST_CURRENCY}", json=body)
    assert (bad.status_code, bad.json()["code"]) == (422, "unknown_tier")
    negative = await app_client.put(path, json={"daily": -5})
    assert negative.status_code == 422

    _, support = await staff_token(db, settings, "support")
    _, person = await person_token(db, settings)
    async with client_for(app, support) as client:
        assert (await client.get("/v1/staff/limits")).status_code == 200
        assert (await client.put(path, json=body)).status_code == 403
    async with client_for(app, person) as client:
        assert (await client.get("/v1/staff/limits")).status_code == 403
        assert (await client.put(path, json=body)).status_code == 403
    async with db.connection() as conn:
        assert await scalar(
            conn, "SELECT daily FROM payment_limits WHERE tier = 'verified' AND currency = %s",
            TEST_CURRENCY,
        ) == 3_000  # fmt: skip


async def test_a_person_sees_their_limits_and_what_remains(
    app: Any, db: Database, settings: Settings, clock: OffsetClock, anonymous_client: AsyncClient
) -> None:
    user_id, token = await person_token(db, settings)
    ledger = LedgerService(clock)
    async with db.transaction() as conn:
        payer = await wallets.ensure_wallet(conn, clock, user_id)
        await wallets.balance_account(conn, ledger, payer, "EUR")
        funder = await open_wallet(conn, ledger, funds=50_000)
        await pay(conn, ledger, funder, payer, 40_000)
        payee = await open_wallet(conn, ledger)
        await pay(conn, ledger, payer, payee, 10_000)
    async with client_for(app, token) as client:
        response = await client.get("/v1/payments/limits", params={"currency": "EUR"})
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["object"] == "payment_limits"
    assert shown["tier"] == "basic"
    assert shown["per_payment"] == {"limit": 100_000, "remaining": 100_000}
    assert shown["daily"]["used"] == 10_000
    assert shown["daily"]["remaining"] == 240_000
    assert shown["monthly"]["remaining"] == 990_000
    assert shown["balance"] == {"limit": 1_500_000, "remaining": 1_470_000, "used": 30_000}
    assert datetime.fromisoformat(shown["daily"]["resets_at"]) == day_window(clock.now())[1]
    assert (await anonymous_client.get("/v1/payments/limits")).status_code == 401


async def test_usage_totals_follow_every_status_change(conn: Connection) -> None:
    """The database's running totals per day equal the sum of the payments that count, and a
    payment that fails gives its allowance back."""
    clock = FixedClock(utc(2031, 7, 15, 10, 0))
    ledger = LedgerService(clock)
    await small_limits(conn)
    payer = await open_wallet(conn, ledger, funds=5_000)
    payee = await open_wallet(conn, ledger)
    await pay(conn, ledger, payer, payee, 400)
    held = await pay(conn, ledger, payer, payee, 500, kind="withdrawal", status="processing")
    await pay(conn, ledger, payer, payee, 50, kind="card_topup")
    await pay(conn, ledger, payer, payee, 70, kind="refund")  # counts towards nothing
    check: dict[str, Any] = {"operation": "p2p", "currency": "EUR", "now": clock.now()}
    error = await exceeded(conn, payer, 101, **check)
    assert error.extra == {"limit": "daily", "remaining": 100, "currency": "EUR"}

    await change_status(conn, ledger, AUDIT, held.id, "failed", failure_code="bank_rejected")
    await check_limits(conn, user_id=payer.user_id, amount=600, **check)  # 500 given back
    clock.set(utc(2031, 7, 16, 9, 0))
    await pay(conn, ledger, payer, payee, 250)

    kept = await conn.execute(
        "SELECT scope, day, amount FROM payment_usage WHERE wallet_id = %s ORDER BY scope, day",
        (payer.id,),
    )
    assert [(r["scope"], r["day"].day, int(r["amount"])) for r in await kept.fetchall()] == [
        ("sent", 15, 400),
        ("sent", 16, 250),
        ("topup", 15, 50),
    ]
    recomputed = await conn.execute(
        """
        SELECT payment_usage_scope(kind) AS scope, (created_at AT TIME ZONE 'UTC')::date AS day,
               sum(amount) AS amount
          FROM payments
         WHERE wallet_id = %s AND payment_usage_counts(status)
           AND payment_usage_scope(kind) IS NOT NULL
         GROUP BY 1, 2 ORDER BY 1, 2
        """,
        (payer.id,),
    )
    assert [(r["scope"], r["day"].day, int(r["amount"])) for r in await recomputed.fetchall()] == [
        ("sent", 15, 400),
        ("sent", 16, 250),
        ("topup", 15, 50),
    ]


async def test_checks_taken_together_count_towards_each_other(conn: Connection) -> None:
    """Two payments of one wallet checked at once share one allowance: the second is judged
    after the first, as if the first had been paid."""
    clock = FixedClock(utc(2031, 8, 3, 12, 0))
    await small_limits(conn)
    payer = await open_wallet(conn, LedgerService(clock), funds=3_000)
    payee = await open_wallet(conn, LedgerService(clock), funds=4_400)
    refusals = await limit_refusals(
        conn,
        [
            LimitCheck(payer.user_id, "p2p", "EUR", 600),
            LimitCheck(payee.user_id, "receive", "EUR", 600),
            LimitCheck(payer.user_id, "p2p", "EUR", 500),
            LimitCheck(payer.user_id, "p2p", "EUR", 400),
            LimitCheck(payee.user_id, "receive", "EUR", 1),  # 4 400 + 600 = the cap
        ],
        clock.now(),
    )
    passed, received, over_daily, within, over_cap = refusals
    assert (passed, received, within) == (None, None, None)
    assert over_daily is not None
    assert over_cap is not None
    assert over_daily.extra == {"limit": "daily", "remaining": 400, "currency": "EUR"}
    assert over_cap.extra == {"limit": "balance", "remaining": 0, "currency": "EUR"}
