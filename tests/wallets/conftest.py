"""Fixtures for the wallet tests: people with a signed-in client and their wallet, and helpers
that produce activity the way the payment flows do (`finhub.payments.core.create_payment`).

API tests commit for real; each test keeps apart by creating its own people.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from finhub.audit.service import AuditContext
from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.errors import UnknownAsset
from finhub.ledger.models import Direction, EntrySpec, Phase
from finhub.ledger.service import LedgerService
from finhub.payments.core import Posting, create_payment
from finhub.payments.models import ActivityLine, NewPayment, Payment, PaymentKind
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import Wallet
from tests.factories import create_user, session_token

BASE_URL = "http://finhub.test"
AUDIT = AuditContext.system("wallet-tests")


@dataclass
class Holder:
    """A verified person with a stepped-up session and their wallet."""

    user_id: str
    client: AsyncClient
    wallet: Wallet


HolderFactory = Callable[..., Awaitable[Holder]]


@pytest.fixture
async def make_holder(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> AsyncIterator[HolderFactory]:
    clients: list[AsyncClient] = []

    async def make(*, aal: int = 2, display_name: str = "Ada Lovelace") -> Holder:
        async with db.transaction() as conn:
            user_id = await create_user(conn, display_name=display_name)
            token = await session_token(
                conn, user_id=user_id, aal=aal, settings=settings, clock=clock
            )
            wallet = await wallets.ensure_wallet(conn, clock, user_id)
        client = AsyncClient(
            transport=ASGITransport(app=app),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {token}"},
        )
        clients.append(client)
        return Holder(user_id, client, wallet)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def holder(make_holder: HolderFactory) -> Holder:
    return await make_holder()


# --- producing activity -----------------------------------------------------------------------


async def fund(
    db: Database, ledger: LedgerService, wallet: Wallet, amount: int, currency: str = "EUR"
) -> None:
    """Money straight from the bank clearing account, with no payment (a plain ledger move)."""
    async with db.transaction() as conn:
        account = await wallets.balance_account(conn, ledger, wallet, currency)
        bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, currency)
        spec = ledger.transfer_spec(
            from_account=bank, to_account=account, amount=amount, asset=currency
        )
        await ledger.post_one(conn, spec)


async def top_up(
    db: Database,
    ledger: LedgerService,
    wallet: Wallet,
    amount: int,
    *,
    currency: str = "EUR",
    kind: PaymentKind = "bank_topup",
    counterparty: str | None = "ACME Bank",
    note: str | None = None,
    fee: int = 0,
) -> Payment:
    """A completed top-up: the bank (or card) clearing account pays the wallet, less a fee."""
    async with db.transaction() as conn:
        account = await wallets.balance_account(conn, ledger, wallet, currency)
        clearing = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, currency)
        entries = [
            EntrySpec(clearing, Direction.DEBIT, amount),
            EntrySpec(account, Direction.CREDIT, amount - fee),
        ]
        if fee:
            revenue = await system_account(conn, ledger, SystemAccount.FEE_REVENUE, currency)
            entries.append(EntrySpec(revenue, Direction.CREDIT, fee))
        return await create_payment(
            conn,
            ledger,
            AUDIT,
            NewPayment(kind=kind, wallet_id=wallet.id, amount=amount, currency=currency, fee=fee,
                       note=note),
            posting=Posting(entries),
            status="completed",
            activity=[ActivityLine(wallet.id, "in", amount, currency, fee=fee,
                                   counterparty=counterparty, note=note)],
        )  # fmt: skip


async def pay(
    db: Database,
    ledger: LedgerService,
    payer: Wallet,
    payee: Wallet,
    amount: int,
    *,
    currency: str = "EUR",
    note: str | None = None,
    fee: int = 0,
    payer_name: str = "Ada Lovelace",
    payee_name: str = "Grace Hopper",
) -> Payment:
    """A completed P2P payment; the payer also pays the fee, in the same transaction."""
    async with db.transaction() as conn:
        source = await wallets.balance_account(conn, ledger, payer, currency)
        target = await wallets.balance_account(conn, ledger, payee, currency)
        entries = [
            EntrySpec(source, Direction.DEBIT, amount + fee),
            EntrySpec(target, Direction.CREDIT, amount),
        ]
        if fee:
            revenue = await system_account(conn, ledger, SystemAccount.FEE_REVENUE, currency)
            entries.append(EntrySpec(revenue, Direction.CREDIT, fee))
        return await create_payment(
            conn,
            ledger,
            AUDIT,
            NewPayment(kind="p2p", wallet_id=payer.id, amount=amount, currency=currency, fee=fee,
                       counterparty_wallet_id=payee.id, note=note),
            posting=Posting(entries),
            status="completed",
            activity=[
                ActivityLine(payer.id, "out", amount, currency, fee=fee, counterparty=payee_name,
                             note=note),
                ActivityLine(payee.id, "in", amount, currency, counterparty=payer_name, note=note),
            ],
        )  # fmt: skip


async def withdraw_pending(
    db: Database, ledger: LedgerService, wallet: Wallet, amount: int, currency: str = "EUR"
) -> Payment:
    """A withdrawal on its way: the amount is held (a pending ledger transaction)."""
    async with db.transaction() as conn:
        account = await wallets.balance_account(conn, ledger, wallet, currency)
        payout = await system_account(conn, ledger, SystemAccount.PAYOUT_CLEARING, currency)
        return await create_payment(
            conn,
            ledger,
            AUDIT,
            NewPayment(kind="withdrawal", wallet_id=wallet.id, amount=amount, currency=currency),
            posting=Posting([EntrySpec(account, Direction.DEBIT, amount, Phase.PENDING),
                             EntrySpec(payout, Direction.CREDIT, amount, Phase.PENDING)],
                            pending=True),
            status="processing",
            activity=[ActivityLine(wallet.id, "out", amount, currency, counterparty="My bank")],
        )  # fmt: skip


async def register_asset(db: Database, ledger: LedgerService, code: str, scale: int) -> None:
    """A custom asset (staff register these through the ledger), once per test session."""
    async with db.transaction() as conn:
        try:
            await ledger.resolve_asset(conn, code)
        except UnknownAsset:
            await ledger.create_asset(conn, code, scale, code.title())
