"""The wallet through the API: opening, balances with holds, the home-currency total, opening
balances, the home currency, and closing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from httpx import ASGITransport, AsyncClient

from finhub.config import Settings
from finhub.fx.models import RateFact
from finhub.fx.rates import store_rates
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from tests.factories import create_user, session_token
from tests.wallets.conftest import (
    BASE_URL,
    Holder,
    HolderFactory,
    fund,
    register_asset,
    withdraw_pending,
)


def balances_by_currency(wallet: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["currency"]: b for b in wallet["balances"]}


async def wallet_count(db: Database, user_id: str) -> int:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM wallets WHERE user_id = %s", (user_id,)
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row["n"])


async def audit_actions(db: Database, wallet_id: str) -> list[str]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT action FROM audit_events WHERE object_id = %s ORDER BY occurred_at",
            (wallet_id,),
        )
        return [row["action"] for row in await cursor.fetchall()]


async def test_the_wallet_opens_on_first_use_once(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    async with db.transaction() as conn:
        user_id = await create_user(conn)
        token = await session_token(conn, user_id=user_id, settings=settings, clock=clock)
    async with AsyncClient(
        transport=ASGITransport(app=app),
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        first = await client.get("/v1/wallets/me")
        second = await client.get("/v1/wallets/me")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["object"] == "wallet"
    assert body["id"].startswith("wal_")
    assert body["status"] == "active"
    assert body["home_currency"] == "EUR"
    assert body["payment_reference"].startswith("FH")
    assert body["balances"] == []
    assert body["total"] == {"currency": "EUR", "amount": 0, "missing_rates": []}
    assert second.json()["id"] == body["id"]
    assert await wallet_count(db, user_id) == 1


async def test_an_unverified_person_gets_no_wallet(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    async with db.transaction() as conn:
        user_id = await create_user(conn)
        # Signed in, but the email address is not verified (yet, or again after a change).
        await conn.execute("UPDATE users SET email_verified_at = NULL WHERE id = %s", (user_id,))
        token = await session_token(conn, user_id=user_id, settings=settings, clock=clock)
    async with AsyncClient(
        transport=ASGITransport(app=app),
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        response = await client.get("/v1/wallets/me")
        feed = await client.get("/v1/wallets/me/activity")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "wallet_not_available"
    assert feed.json()["code"] == "wallet_not_available"
    assert await wallet_count(db, user_id) == 0


async def test_anonymous_callers_and_staff_are_turned_away(
    anonymous_client: AsyncClient, app_client: AsyncClient
) -> None:
    assert (await anonymous_client.get("/v1/wallets/me")).status_code == 401
    staff = await app_client.get("/v1/wallets/me")
    assert staff.status_code == 403
    assert staff.json()["code"] == "wrong_principal_type"


async def test_a_personal_api_key_reads_the_wallet_with_its_scope(holder: Holder, app: Any) -> None:
    created = await holder.client.post(
        "/v1/api-keys", json={"name": "reader", "mode": "live", "scopes": ["wallets:read"]}
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    async with AsyncClient(
        transport=ASGITransport(app=app),
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {secret}"},
    ) as key_client:
        read = await key_client.get("/v1/wallets/me")
        write = await key_client.post("/v1/wallets/me/balances", json={"currency": "USD"})
    assert read.status_code == 200
    assert read.json()["id"] == holder.wallet.id
    assert write.status_code == 403
    assert write.json()["code"] == "insufficient_scope"


async def test_balances_show_holds(holder: Holder, db: Database, ledger: LedgerService) -> None:
    await fund(db, ledger, holder.wallet, 10_000)
    await withdraw_pending(db, ledger, holder.wallet, 2_500)
    response = await holder.client.get("/v1/wallets/me")
    eur = balances_by_currency(response.json())["EUR"]
    assert eur == {
        "object": "wallet_balance",
        "currency": "EUR",
        "balance": 10_000,
        "available": 7_500,
        "held": 2_500,
    }
    assert response.json()["total"] == {"currency": "EUR", "amount": 10_000, "missing_rates": []}


async def test_the_total_is_null_without_a_rate(
    holder: Holder, db: Database, ledger: LedgerService
) -> None:
    # Reward points have no exchange rate to anything, whatever rates are loaded.
    await register_asset(db, ledger, "WPTS", 0)
    await fund(db, ledger, holder.wallet, 500)
    await fund(db, ledger, holder.wallet, 40, currency="WPTS")
    body = (await holder.client.get("/v1/wallets/me")).json()
    assert balances_by_currency(body)["WPTS"]["balance"] == 40
    assert body["total"] == {"currency": "EUR", "amount": None, "missing_rates": ["WPTS"]}


async def test_the_total_converts_at_the_latest_rate(
    holder: Holder, db: Database, ledger: LedgerService, clock: OffsetClock
) -> None:
    # An asset of these tests only, so no other test's rates can change the figures.
    await register_asset(db, ledger, "WGLD", 3)
    now = clock.now()
    async with db.transaction() as conn:
        fact = RateFact("WGLD", "EUR", Decimal("2.5"), now.date(), now)
        await store_rates(conn, "manual", [fact], now=now, created_by=None)
    await fund(db, ledger, holder.wallet, 1_000)  # 10.00 EUR
    await fund(db, ledger, holder.wallet, 2_000, currency="WGLD")  # 2.000 WGLD = 5.00 EUR
    body = (await holder.client.get("/v1/wallets/me")).json()
    assert body["total"] == {"currency": "EUR", "amount": 1_500, "missing_rates": []}
    await register_asset(db, ledger, "WPTS", 0)
    await fund(db, ledger, holder.wallet, 7, currency="WPTS")
    body = (await holder.client.get("/v1/wallets/me")).json()
    assert body["total"] == {"currency": "EUR", "amount": None, "missing_rates": ["WPTS"]}


async def test_opening_a_balance(holder: Holder, db: Database) -> None:
    opened = await holder.client.post("/v1/wallets/me/balances", json={"currency": "USD"})
    assert opened.status_code == 201, opened.text
    assert opened.json() == {
        "object": "wallet_balance",
        "currency": "USD",
        "balance": 0,
        "available": 0,
        "held": 0,
    }
    again = await holder.client.post("/v1/wallets/me/balances", json={"currency": "USD"})
    assert again.status_code == 200
    wallet = (await holder.client.get("/v1/wallets/me")).json()
    assert list(balances_by_currency(wallet)) == ["USD"]
    assert await audit_actions(db, holder.wallet.id) == ["wallet.balance_opened"]


async def test_a_registered_custom_asset_opens_too(
    holder: Holder, db: Database, ledger: LedgerService
) -> None:
    await register_asset(db, ledger, "WBTC", 8)
    opened = await holder.client.post("/v1/wallets/me/balances", json={"currency": "WBTC"})
    assert opened.status_code == 201, opened.text


async def test_unknown_currencies_are_refused(holder: Holder) -> None:
    for body, code in (
        ({"currency": "QQQ"}, "unknown_asset"),
        ({"currency": "usd"}, "validation_error"),
        ({"currency": "USD", "extra": 1}, "validation_error"),
        ({}, "validation_error"),
    ):
        response = await holder.client.post("/v1/wallets/me/balances", json=body)
        assert response.status_code == 422, body
        assert response.json()["code"] == code, response.json()
    wallet = (await holder.client.get("/v1/wallets/me")).json()
    assert wallet["balances"] == []


async def test_changing_the_home_currency(holder: Holder, db: Database) -> None:
    changed = await holder.client.patch("/v1/wallets/me", json={"home_currency": "USD"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["home_currency"] == "USD"
    assert changed.json()["total"]["currency"] == "USD"
    for bad in ("usd", "QQQ", "BTC1"):
        refused = await holder.client.patch("/v1/wallets/me", json={"home_currency": bad})
        assert refused.status_code == 422
    assert (await holder.client.get("/v1/wallets/me")).json()["home_currency"] == "USD"
    assert await audit_actions(db, holder.wallet.id) == ["wallet.updated"]


async def test_closing_needs_a_fresh_second_factor(make_holder: HolderFactory) -> None:
    holder = await make_holder(aal=1)
    response = await holder.client.post("/v1/wallets/me/close")
    assert response.status_code == 403
    assert response.json()["code"] == "step_up_required"
    assert (await holder.client.get("/v1/wallets/me")).json()["status"] == "active"


async def test_only_an_empty_wallet_closes(
    holder: Holder, db: Database, ledger: LedgerService
) -> None:
    await fund(db, ledger, holder.wallet, 100)
    refused = await holder.client.post("/v1/wallets/me/close")
    assert refused.status_code == 409
    assert refused.json()["code"] == "wallet_not_empty"
    assert (await holder.client.get("/v1/wallets/me")).json()["status"] == "active"


async def test_held_money_keeps_the_wallet_open(
    holder: Holder, db: Database, ledger: LedgerService
) -> None:
    await fund(db, ledger, holder.wallet, 100)
    await withdraw_pending(db, ledger, holder.wallet, 100)
    wallet = (await holder.client.get("/v1/wallets/me")).json()
    assert balances_by_currency(wallet)["EUR"]["available"] == 0
    refused = await holder.client.post("/v1/wallets/me/close")
    assert refused.status_code == 409
    assert refused.json()["code"] == "wallet_not_empty"


async def test_closing_an_empty_wallet(holder: Holder, db: Database) -> None:
    await holder.client.post("/v1/wallets/me/balances", json={"currency": "USD"})
    closed = await holder.client.post("/v1/wallets/me/close", headers={"Idempotency-Key": "c1"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert closed.json()["closed_at"] is not None
    replay = await holder.client.post("/v1/wallets/me/close", headers={"Idempotency-Key": "c1"})
    assert replay.status_code == 200
    assert replay.json() == closed.json()
    again = await holder.client.post("/v1/wallets/me/close")
    assert again.status_code == 409
    assert again.json()["code"] == "wallet_closed"
    for response in (
        await holder.client.post("/v1/wallets/me/balances", json={"currency": "GBP"}),
        await holder.client.patch("/v1/wallets/me", json={"home_currency": "GBP"}),
    ):
        assert response.status_code == 409
        assert response.json()["code"] == "wallet_closed"
    wallet = (await holder.client.get("/v1/wallets/me")).json()
    assert wallet["status"] == "closed"
    assert wallet["home_currency"] == "EUR"
    assert list(balances_by_currency(wallet)) == ["USD"]
    assert await audit_actions(db, holder.wallet.id) == ["wallet.balance_opened", "wallet.closed"]
