"""A realistic wallet for the dashboard and activity pages: a salary, a card top-up in dollars,
payments both ways, an exchange, a withdrawal on its way, a card top-up waiting for 3-D
Secure, a request to pay and a scheduled payment due tomorrow.

Money moves through `create_payment`, the path every payment flow takes; the request and the
schedule are made through the API, as the person's own clients would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from httpx import ASGITransport, AsyncClient

from finhub.fx.models import RateFact
from finhub.fx.rates import store_rates
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.models import Direction, EntrySpec
from finhub.ledger.service import LedgerService
from finhub.payments.core import Posting, create_payment
from finhub.payments.models import ActivityLine, NewPayment, Payment
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import Wallet
from tests.wallets.conftest import AUDIT, pay, top_up, withdraw_pending
from tests.web.conftest import PersonFactory, WebPerson


@dataclass
class Story:
    ada: WebPerson
    grace: WebPerson
    salary: Payment
    dinner: Payment
    exchange: Payment


def client_for(app: Any, person: WebPerson) -> AsyncClient:
    return AsyncClient(
        transport=ASGITransport(app=app),
        base_url="http://finhub.test",
        headers={"Authorization": f"Bearer {person.token}"},
    )


async def wallet_of(db: Database, person: WebPerson) -> Wallet:
    async with db.connection() as conn:
        return await wallets.get_wallet(conn, person.wallet_id)


async def usd_rate(db: Database, clock: OffsetClock) -> None:
    """A EUR → USD rate, so the total can be shown (a newer one from another test wins)."""
    now = clock.now()
    async with db.transaction() as conn:
        fact = RateFact("EUR", "USD", Decimal("1.08"), now.date(), now)
        await store_rates(conn, "manual", [fact], now=now, created_by=None)


async def exchange(
    db: Database, ledger: LedgerService, wallet: Wallet, sell: int, buy: int, fee: int
) -> Payment:
    """EUR sold for USD, booked as the currencies module books a conversion."""
    async with db.transaction() as conn:
        source = await wallets.balance_account(conn, ledger, wallet, "EUR")
        target = await wallets.balance_account(conn, ledger, wallet, "USD")
        sold = await system_account(conn, ledger, SystemAccount.FX_POSITION, "EUR")
        bought = await system_account(conn, ledger, SystemAccount.FX_POSITION, "USD")
        revenue = await system_account(conn, ledger, SystemAccount.FEE_REVENUE, "EUR")
        note = "EUR to USD at 1.08"
        return await create_payment(
            conn,
            ledger,
            AUDIT,
            NewPayment(kind="fx_conversion", wallet_id=wallet.id, amount=sell, currency="EUR",
                       fee=fee, note=note),
            posting=Posting([
                EntrySpec(source, Direction.DEBIT, sell + fee),
                EntrySpec(sold, Direction.CREDIT, sell),
                EntrySpec(revenue, Direction.CREDIT, fee),
                EntrySpec(bought, Direction.DEBIT, buy),
                EntrySpec(target, Direction.CREDIT, buy),
            ]),
            status="completed",
            activity=[
                ActivityLine(wallet.id, "out", sell, "EUR", fee=fee, note=note),
                ActivityLine(wallet.id, "in", buy, "USD", note=note),
            ],
        )  # fmt: skip


async def card_top_up_waiting(db: Database, ledger: LedgerService, wallet: Wallet) -> Payment:
    """A card top-up that stopped at the bank's 3-D Secure check."""
    async with db.transaction() as conn:
        return await create_payment(
            conn,
            ledger,
            AUDIT,
            NewPayment(kind="card_topup", wallet_id=wallet.id, amount=50_00, currency="EUR",
                       note="Visa •••• 4242"),
            posting=None,
            status="requires_action",
            activity=[ActivityLine(wallet.id, "in", 50_00, "EUR", counterparty="Visa •••• 4242")],
        )  # fmt: skip


async def tell_story(
    app: Any,
    db: Database,
    clock: OffsetClock,
    make_person: PersonFactory,
    *,
    locale: str = "en",
) -> Story:
    ledger = LedgerService(clock)
    ada = await make_person(display_name="Ada Lovelace", balances={"EUR": 250_00}, locale=locale)
    grace = await make_person(display_name="Grace Hopper", balances={"EUR": 300_00})
    await usd_rate(db, clock)
    mine, hers = await wallet_of(db, ada), await wallet_of(db, grace)
    salary = await top_up(
        db, ledger, mine, 2_400_00, counterparty="ACME Ltd", note="Salary November"
    )
    await top_up(
        db, ledger, mine, 150_00, currency="USD", kind="card_topup",
        counterparty="Visa •••• 4242", note=None,
    )  # fmt: skip
    dinner = await pay(
        db, ledger, mine, hers, 42_50, note="Dinner at Luigi's", fee=25,
        payer_name="Ada Lovelace", payee_name="Grace Hopper",
    )  # fmt: skip
    await pay(
        db, ledger, hers, mine, 12_00, note="Cinema tickets",
        payer_name="Grace Hopper", payee_name="Ada Lovelace",
    )  # fmt: skip
    converted = await exchange(db, ledger, mine, 100_00, 108_00, fee=50)
    await withdraw_pending(db, ledger, mine, 300_00)
    await card_top_up_waiting(db, ledger, mine)
    async with client_for(app, grace) as graces, client_for(app, ada) as adas:
        asked = await graces.post(
            "/v1/payment-requests",
            json={"amount": 18_00, "currency": "EUR", "note": "Concert ticket",
                  "from": {"wallet_id": ada.wallet_id}},
            headers={"Idempotency-Key": f"story-request-{ada.wallet_id}"},
        )  # fmt: skip
        assert asked.status_code == 201, asked.text
        scheduled = await adas.post(
            "/v1/payments/scheduled",
            json={"type": "p2p", "to": {"wallet_id": grace.wallet_id}, "amount": 25_00,
                  "currency": "EUR", "note": "Book club",
                  "start_at": (clock.now() + timedelta(days=1)).isoformat()},
            headers={"Idempotency-Key": f"story-schedule-{ada.wallet_id}"},
        )  # fmt: skip
        assert scheduled.status_code == 201, scheduled.text
    return Story(ada, grace, salary, dinner, converted)
