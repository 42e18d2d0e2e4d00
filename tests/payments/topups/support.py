"""Helpers for the top-up tests: people with a signed-in client, cards, top-ups, the sandbox's
signed webhooks delivered by hand, and balances read back through the wallets service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from finhub.integrations.card_sandbox import CardSandbox
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.payments.topups.processor import WEBHOOK_PATH, build_card_processor
from finhub.wallets import service as wallets
from finhub.wallets.models import CurrencyBalance
from tests.factories import create_user, session_token

SUCCESS = "4242424242424242"
INSUFFICIENT_FUNDS = "4000000000009995"
STOLEN = "4000000000009979"
THREE_D_SECURE = "4000000000003220"
PROCESSING_ERROR = "4000000000000119"


@dataclass
class Person:
    user_id: str
    client: AsyncClient


async def new_person(app: Any, db: Database, clock: OffsetClock) -> Person:
    async with db.transaction() as conn:
        user_id = await create_user(conn)
        token = await session_token(conn, user_id=user_id, clock=clock)
    client = AsyncClient(
        transport=ASGITransport(app=app),
        base_url="http://finhub.test",
        headers={"Authorization": f"Bearer {token}"},
    )
    return Person(user_id, client)


def fastapi_app(app: Any) -> FastAPI:
    """The FastAPI instance inside the lifespan manager's wrapper (the `app` fixture)."""
    if isinstance(app, FastAPI):
        return app
    for cell in app.__closure__ or ():
        if isinstance(cell.cell_contents, FastAPI):
            return cell.cell_contents
    raise AssertionError("no FastAPI app inside the test app")


def sandbox_of(app: Any) -> CardSandbox:
    """A handle on the app's card sandbox (its state is in the database, so any instance built
    from the app's container sees the same charges and events)."""
    return cast(CardSandbox, build_card_processor(fastapi_app(app).state.container))


async def card_token(person: Person, number: str = SUCCESS, **overrides: Any) -> str:
    body = {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123", **overrides}
    response = await person.client.post("/v1/payments/card-tokens", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def top_up(
    person: Person, token: str, amount: int = 10_000, *, key: str | None = None
) -> Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await person.client.post(
        "/v1/payments/card-topups",
        json={"card_token": token, "amount": amount, "currency": "EUR"},
        headers=headers,
    )


async def deliver_webhooks(app: Any, charge_id: str) -> list[Response]:
    """Post every event the sandbox has about the charge to finhub, signed as it would be."""
    responses = []
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://finhub.test") as c:
        for body, headers in await sandbox_of(app).signed_events(charge_id):
            responses.append(await c.post(WEBHOOK_PATH, content=body, headers=headers))
    return responses


async def completed_topup(app: Any, person: Person, amount: int = 10_000) -> dict[str, Any]:
    """A card top-up captured and confirmed by the processor's webhook."""
    created = await top_up(person, await card_token(person), amount)
    assert created.status_code == 201, created.text
    for response in await deliver_webhooks(app, created.json()["processor_charge_id"]):
        assert response.status_code == 200, response.text
    shown = await person.client.get(f"/v1/payments/card-topups/{created.json()['id']}")
    assert shown.json()["status"] == "completed"
    return dict(shown.json())


async def eur_balance(db: Database, user_id: str) -> CurrencyBalance | None:
    async with db.connection() as conn:
        wallet = await wallets.wallet_for_user(conn, user_id)
        found = [b for b in await wallets.balances(conn, wallet) if b.currency == "EUR"]
    return found[0] if found else None


async def scalar(db: Database, sql: str, *params: object) -> Any:
    async with db.connection() as conn:
        cursor = await conn.execute(sql, params)
        row = await cursor.fetchone()
    assert row is not None
    return next(iter(row.values()))


async def transaction_status(db: Database, clock: OffsetClock, transaction_id: str) -> str:
    """A ledger transaction's status as the ledger reports it (a hold: pending, posted,
    voided, expired)."""
    async with db.connection() as conn:
        transaction = await LedgerService(clock).get_transaction(conn, transaction_id)
    return str(transaction.status)
