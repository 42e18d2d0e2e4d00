"""Helpers for the tests of fees, limits and scheduled payments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from finhub.app import create_app
from finhub.audit.service import AuditContext
from finhub.config import Settings
from finhub.kit.clock import Clock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.ledger.models import Direction, EntrySpec
from finhub.ledger.service import LedgerService
from finhub.payments.core import Posting, create_payment
from finhub.payments.models import ActivityLine, NewPayment, Payment
from finhub.payments.rules_endpoints import router as rules_router
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import Wallet
from tests.factories import create_staff, create_user, session_token

AUDIT = AuditContext.system("test")


class FixedClock:
    """A clock that stands still until moved: usage windows are tested at exact instants."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@asynccontextmanager
async def rules_app(settings: Settings, database_url: str, clock: Clock) -> AsyncIterator[Any]:
    """The app with the staff routes for fees and limits (until app.py includes them)."""
    app = create_app(settings, database_url, clock=clock)
    if not any(getattr(r, "path", "") == "/v1/staff/fees" for r in app.routes):
        app.include_router(rules_router)
    async with LifespanManager(app) as manager:
        yield manager.app


async def open_wallet(
    conn: Connection, ledger: LedgerService, *, funds: int = 0, currency: str = "EUR",
    tier: str = "basic", email: str | None = None,
) -> Wallet:  # fmt: skip
    user_id = await create_user(conn, email=email)
    if tier != "basic":
        await conn.execute("UPDATE users SET kyc_tier = %s WHERE id = %s", (tier, user_id))
    wallet = await wallets.ensure_wallet(conn, ledger.clock, user_id)
    account = await wallets.balance_account(conn, ledger, wallet, currency)
    if funds:
        bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, currency)
        await ledger.post_one(
            conn,
            ledger.transfer_spec(
                from_account=bank, to_account=account, amount=funds, asset=currency
            ),
        )
    return wallet


async def pay(
    conn: Connection,
    ledger: LedgerService,
    payer: Wallet,
    payee: Wallet,
    amount: int,
    *,
    currency: str = "EUR",
    kind: str = "p2p",
    status: str = "completed",
) -> Payment:
    """A payment recorded through the payments core, as the flows record them."""
    source = await wallets.balance_account(conn, ledger, payer, currency)
    target = await wallets.balance_account(conn, ledger, payee, currency)
    return await create_payment(
        conn, ledger, AUDIT,
        NewPayment(kind=kind, wallet_id=payer.id, amount=amount, currency=currency,  # type: ignore[arg-type]
                   counterparty_wallet_id=payee.id),
        posting=Posting([EntrySpec(source, Direction.DEBIT, amount),
                         EntrySpec(target, Direction.CREDIT, amount)]),
        status=status,
        activity=[ActivityLine(payer.id, "out", amount, currency),
                  ActivityLine(payee.id, "in", amount, currency)],
    )  # fmt: skip


@asynccontextmanager
async def client_for(app: Any, token: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        transport=ASGITransport(app=app),
        base_url="http://finhub.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


async def person_token(db: Database, settings: Settings, **user: Any) -> tuple[str, str]:
    """A committed person and a session token: (user_id, token)."""
    async with db.transaction() as conn:
        user_id = await create_user(conn, **user)
        return user_id, await session_token(conn, user_id=user_id, settings=settings)


async def staff_token(db: Database, settings: Settings, *roles: str) -> tuple[str, str]:
    async with db.transaction() as conn:
        staff_id = await create_staff(conn, roles=roles)
        return staff_id, await session_token(conn, staff_id=staff_id, settings=settings)


async def scalar(conn: Connection, sql: str, *params: object) -> Any:
    cursor = await conn.execute(sql, params)
    row = await cursor.fetchone()
    assert row is not None
    return next(iter(row.values()))
