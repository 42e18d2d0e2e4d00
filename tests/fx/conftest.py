"""People with funded wallets and signed-in clients, ECB documents and rate helpers for the
currency tests.

API tests commit for real, so each test makes new people; rates are shared by the whole run
(the newest per pair wins), so a test sets the rates it prices with right before it quotes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from finhub.app import create_app
from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.ledger.service import LedgerService
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import Wallet
from tests.factories import create_user, session_token

ECB_DAILY = Path(__file__).with_name("eurofxref-daily.xml")


def ecb_document(day: date | None = None) -> bytes:
    """The ECB daily file of the fixture, optionally dated another day."""
    document = ECB_DAILY.read_bytes()
    if day is not None:
        document = document.replace(b"time='2024-11-22'", f"time='{day.isoformat()}'".encode())
    return document


@dataclass
class Person:
    user_id: str
    wallet: Wallet
    client: AsyncClient

    async def post(self, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        return await self.client.post(path, json=body, headers=headers)


MakePerson = Callable[..., Awaitable[Person]]


async def fund(
    conn: Connection, ledger: LedgerService, wallet: Wallet, amount: int, currency: str
) -> None:
    """Money arriving from the bank, posted through the ledger as a bank top-up would."""
    account = await wallets.balance_account(conn, ledger, wallet, currency)
    bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, currency)
    await ledger.post_one(
        conn,
        ledger.transfer_spec(from_account=bank, to_account=account, amount=amount, asset=currency),
    )


async def balance(db: Database, wallet: Wallet, currency: str) -> int:
    async with db.connection() as conn:
        found = {b.currency: b.balance for b in await wallets.balances(conn, wallet)}
    return found.get(currency, 0)


async def scalar(db: Database, sql: str, *params: object) -> Any:
    async with db.connection() as conn:
        cursor = await conn.execute(sql, params)
        row = await cursor.fetchone()
    assert row is not None
    return next(iter(row.values()))


async def set_rate(staff: AsyncClient, base: str, quote: str, rate: str) -> None:
    response = await staff.put(f"/v1/staff/fx/rates/{base}/{quote}", json={"rate": rate})
    assert response.status_code == 200, response.text


@pytest.fixture
async def make_person(
    db: Database, app: Any, clock: OffsetClock, ledger: LedgerService
) -> AsyncIterator[MakePerson]:
    clients: list[AsyncClient] = []

    async def make(**funds: int) -> Person:
        """A verified person with a wallet holding `funds` (currency=minor units)."""
        async with db.transaction() as conn:
            user_id = await create_user(conn, email=f"fx-{uuid4().hex[:12]}@example.com")
            token = await session_token(conn, user_id=user_id, clock=clock)
            wallet = await wallets.ensure_wallet(conn, clock, user_id)
            for currency, amount in funds.items():
                await fund(conn, ledger, wallet, amount, currency)
        client = AsyncClient(
            transport=ASGITransport(app=app),
            base_url="http://finhub.test",
            headers={"Authorization": f"Bearer {token}"},
        )
        clients.append(client)
        return Person(user_id, wallet, client)

    yield make
    for client in clients:
        await client.aclose()


@dataclass
class StaffApp:
    """An app of its own (so a test can override its dependencies) and an admin's client."""

    app: FastAPI
    client: AsyncClient


@pytest.fixture(scope="session")
async def staff_app(
    settings: Settings, database_url: str, clock: OffsetClock, admin_token: str
) -> AsyncIterator[StaffApp]:
    application = create_app(settings, database_url, clock=clock)
    async with (
        LifespanManager(application) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app),
            base_url="http://finhub.test",
            headers={"Authorization": f"Bearer {admin_token}"},
        ) as client,
    ):
        yield StaffApp(application, client)
