"""Shared by the top-up, withdrawal and payee page tests: balances, payees, and a session that
still has to step up."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.factories import session_token
from tests.web.conftest import WebPerson


async def balance_in(api: AsyncClient, currency: str = "EUR") -> dict[str, int]:
    """The wallet's balance, available and held amounts in `currency` (zeros if none)."""
    wallet = (await api.get("/v1/wallets/me")).json()
    for found in wallet["balances"]:
        if found["currency"] == currency:
            return {key: int(found[key]) for key in ("balance", "available", "held")}
    return {"balance": 0, "available": 0, "held": 0}


async def not_stepped_up(
    db: Database, settings: Settings, clock: OffsetClock, person: WebPerson
) -> WebPerson:
    """The same person signed in again with a password only: sensitive actions ask for a
    second factor first."""
    async with db.transaction() as conn:
        token = await session_token(
            conn, user_id=person.user_id, aal=1, settings=settings, clock=clock
        )
    return WebPerson(person.user_id, person.email, token, person.wallet_id)


async def add_payee(api: AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Ada Lovelace", "currency": "EUR", "iban": "DE89370400440532013000"}
    answer = await api.post("/v1/payees", json={**body, **fields})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())
