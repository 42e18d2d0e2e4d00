"""Incoming payments racing each other can't push a wallet over its balance cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from finhub.app import create_app
from finhub.audit.service import AuditContext
from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.payments.limits import LimitSet, set_limits
from finhub.wallets import service as wallets
from tests.factories import create_user, session_token
from tests.payments.transfers.conftest import balance, fund

CURRENCY = "SEK"  # used by no other test: its basic-tier cap is set here
CAP = 10_000


@pytest.fixture
async def busy_app(settings: Settings, database_url: str, clock: OffsetClock) -> AsyncIterator[Any]:
    tuned = settings.model_copy(update={"db_pool_min": 10, "db_pool_max": 40})
    async with LifespanManager(create_app(tuned, database_url, clock=clock)) as manager:
        yield manager.app


async def test_twenty_payers_at_once_fill_the_cap_and_no_more(
    busy_app: Any, db: Database, clock: OffsetClock
) -> None:
    ledger = LedgerService(clock)
    async with db.transaction() as conn:
        await set_limits(
            conn,
            AuditContext.system("test"),
            LimitSet("basic", CURRENCY, balance=CAP),
            now=clock.now(),
        )
        recipient = await wallets.ensure_wallet(conn, clock, await create_user(conn))
        await wallets.balance_account(conn, ledger, recipient, CURRENCY)
        tokens = []
        for _ in range(20):
            payer = await create_user(conn)
            tokens.append(await session_token(conn, user_id=payer, clock=clock))
            await fund(
                conn, ledger, await wallets.ensure_wallet(conn, clock, payer), 5_000, CURRENCY
            )
    clients = [
        AsyncClient(
            transport=ASGITransport(app=busy_app),
            base_url="http://finhub.test",
            headers={"Authorization": f"Bearer {token}"},
        )
        for token in tokens
    ]
    body = {"to": {"wallet_id": recipient.id}, "amount": 5_000, "currency": CURRENCY}
    try:
        answers = await asyncio.gather(*(c.post("/v1/payments/p2p", json=body) for c in clients))
    finally:
        for client in clients:
            await client.aclose()
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * 2 + [422] * 18
    assert {a.json()["code"] for a in answers if a.status_code == 422} == {"limit_exceeded"}
    assert await balance(db, recipient, CURRENCY) == CAP
