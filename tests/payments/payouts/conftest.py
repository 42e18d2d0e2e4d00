"""Fixtures for money out: people with funded wallets and clients, and staff clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.factories import create_staff, create_user, session_token
from tests.payments.payouts.support import Person, fund

PersonFactory = Callable[..., Awaitable[Person]]


def _client(app: Any, token: str) -> AsyncClient:
    return AsyncClient(
        transport=ASGITransport(app=app),
        base_url="http://finhub.test",
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture
async def people(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> AsyncIterator[PersonFactory]:
    """`await people(EUR=10_000)`: a verified person with a wallet holding those balances and
    a signed-in client (stepped up unless `aal=1`)."""
    async with AsyncExitStack() as stack:

        async def make(*, aal: int = 2, **balances: int) -> Person:
            async with db.transaction() as conn:
                user_id = await create_user(conn)
                token = await session_token(
                    conn, user_id=user_id, aal=aal, settings=settings, clock=clock
                )
                wallet_id = await fund(conn, clock, user_id, balances)
            client = await stack.enter_async_context(_client(app, token))
            return Person(user_id=user_id, wallet_id=wallet_id, client=client)

        yield make


@pytest.fixture
async def support_client(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> AsyncIterator[AsyncClient]:
    """A staff member without a payout role."""
    async with db.transaction() as conn:
        staff_id = await create_staff(conn, roles=("support",))
        token = await session_token(conn, staff_id=staff_id, settings=settings, clock=clock)
    async with _client(app, token) as client:
        yield client
