"""In production the sandboxes serve test mode only: fake cards and simulated bank credits
can't create money for live customers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from finhub.app import create_app
from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.factories import create_staff, create_user, session_token

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
CREDIT = {"reference": "FHNOSUCHREF2", "amount": 100, "currency": "EUR", "sender_name": "X"}


@pytest.fixture(scope="module")
async def production(database_url: str, data_dir: Path) -> AsyncIterator[Any]:
    settings = Settings(
        data_dir=data_dir, database_url=database_url, environment="production",
        run_worker_in_process=False,
    )  # fmt: skip
    async with LifespanManager(create_app(settings, database_url, clock=OffsetClock())) as m:
        yield m.app


def client(app: Any, token: str) -> AsyncClient:
    return AsyncClient(
        transport=ASGITransport(app=app),
        base_url="https://finhub.test",
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_nobody_tops_up_from_the_card_sandbox_in_production(
    production: Any, db: Database
) -> None:
    async with db.transaction() as conn:
        token = await session_token(conn, user_id=await create_user(conn))
    async with client(production, token) as person:
        refused = await person.post("/v1/payments/card-tokens", json=CARD)
        assert refused.status_code == 403
        assert refused.json()["code"] == "sandbox_only_in_test_mode"
        key = await person.post(
            "/v1/api-keys", json={"name": "sandbox", "mode": "test", "scopes": ["payments:write"]}
        )
        assert key.status_code == 201, key.text
    # With no separate sandbox ledger, a test-mode key would move real money: refused too.
    async with client(production, key.json()["secret"]) as test_mode:
        for path, body in (
            ("/v1/payments/card-tokens", CARD),
            ("/v1/payments/bank-topups/simulate", {**CREDIT, "bank_transaction_id": "t"}),
        ):
            response = await test_mode.post(path, json=body)
            assert response.status_code == 403, response.text
            assert response.json()["code"] == "test_mode_key_in_production"


@pytest.mark.parametrize(("role", "status"), [("support", 403), ("operations", 201)])
async def test_only_book_keeping_staff_enter_bank_credits_in_production(
    production: Any, db: Database, role: str, status: int
) -> None:
    async with db.transaction() as conn:
        token = await session_token(conn, staff_id=await create_staff(conn, roles=(role,)))
    body = {**CREDIT, "bank_transaction_id": f"prod-{role}"}
    async with client(production, token) as staff:
        response = await staff.post("/v1/payments/bank-topups/simulate", json=body)
    assert response.status_code in ((200, 201) if status == 201 else (status,)), response.text
