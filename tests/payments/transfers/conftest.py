"""People with funded wallets and a signed-in HTTP client each, for the payment tests.

These tests go through the real app and commit, so every person is new (unique email) and
tests keep apart without cleaning up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from httpx import ASGITransport, AsyncClient

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.ledger.service import LedgerService
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import Wallet
from tests.factories import create_user, session_token


@dataclass
class Person:
    user_id: str
    email: str
    wallet: Wallet
    client: AsyncClient

    async def post(self, path: str, body: Any, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        return await self.client.post(path, json=body, headers=headers)


MakePerson = Callable[..., Awaitable[Person]]


async def fund(
    conn: Connection, ledger: LedgerService, wallet: Wallet, amount: int, currency: str = "EUR"
) -> None:
    """Money arriving from the bank, posted through the ledger as a bank top-up would."""
    account = await wallets.balance_account(conn, ledger, wallet, currency)
    bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, currency)
    await ledger.post_one(
        conn,
        ledger.transfer_spec(from_account=bank, to_account=account, amount=amount, asset=currency),
    )


async def balance(db: Database, wallet: Wallet, currency: str = "EUR") -> int:
    async with db.connection() as conn:
        found = {b.currency: b.balance for b in await wallets.balances(conn, wallet)}
    return found.get(currency, 0)


async def scalar(db: Database, sql: str, *params: object) -> Any:
    async with db.connection() as conn:
        cursor = await conn.execute(sql, params)
        row = await cursor.fetchone()
    assert row is not None
    return next(iter(row.values()))


@pytest.fixture
async def make_person(
    db: Database, app: Any, clock: OffsetClock, ledger: LedgerService
) -> AsyncIterator[MakePerson]:
    clients: list[AsyncClient] = []

    async def make(
        *,
        funded: int = 0,
        currency: str = "EUR",
        display_name: str = "Test Person",
        phone: str | None = None,
    ) -> Person:
        email = f"p2p-{uuid4().hex[:12]}@example.com"
        async with db.transaction() as conn:
            user_id = await create_user(conn, email=email, display_name=display_name)
            if phone is not None:
                await conn.execute("UPDATE users SET phone = %s WHERE id = %s", (phone, user_id))
            token = await session_token(conn, user_id=user_id, clock=clock)
            wallet = await wallets.ensure_wallet(conn, clock, user_id)
            if funded:
                await fund(conn, ledger, wallet, funded, currency)
        client = AsyncClient(
            transport=ASGITransport(app=app),
            base_url="http://finhub.test",
            headers={"Authorization": f"Bearer {token}"},
        )
        clients.append(client)
        return Person(user_id, email, wallet, client)

    yield make
    for client in clients:
        await client.aclose()
