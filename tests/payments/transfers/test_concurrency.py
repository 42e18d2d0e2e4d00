"""Two hundred people paying each other at once through the HTTP API.

Each person pays one or two others a random amount; some can't afford it (insufficient_funds)
and some payments are sent twice with the same Idempotency-Key, concurrently and again
afterwards. Whatever the interleaving: money is conserved, no balance goes below zero, the
ledger verifies, and every payment that was answered 201 exists exactly once.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient, Response

from finhub.app import create_app
from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.wallets import service as wallets
from finhub.wallets.models import Wallet
from tests.factories import create_user, session_token
from tests.payments.transfers.conftest import fund

PEOPLE = 200
P2P = "/v1/payments/p2p"


@dataclass
class Payer:
    wallet: Wallet
    client: AsyncClient


@dataclass
class Attempt:
    payer: Payer
    body: dict[str, Any]
    key: str
    retried: bool


@pytest.fixture
async def busy_app(settings: Settings, database_url: str, clock: OffsetClock) -> AsyncIterator[Any]:
    """The app with a pool of 40 connections, so many payments really run side by side."""
    tuned = settings.model_copy(update={"db_pool_min": 10, "db_pool_max": 40})
    async with LifespanManager(create_app(tuned, database_url, clock=clock)) as manager:
        yield manager.app


async def make_payers(
    db: Database, app: Any, clock: OffsetClock, ledger: LedgerService, rng: random.Random
) -> list[Payer]:
    payers = []
    async with db.transaction() as conn:
        for n in range(PEOPLE):
            user_id = await create_user(conn, email=f"crowd-{uuid4().hex[:12]}@example.com")
            token = await session_token(conn, user_id=user_id, clock=clock)
            wallet = await wallets.ensure_wallet(conn, clock, user_id)
            # One in ten start with nothing (their balance opens when paid); the rest vary.
            if n % 10:
                await fund(conn, ledger, wallet, rng.randint(1, 5_000))
            client = AsyncClient(
                transport=ASGITransport(app=app),
                base_url="http://finhub.test",
                headers={"Authorization": f"Bearer {token}"},
            )
            payers.append(Payer(wallet, client))
    return payers


def plan(payers: list[Payer], rng: random.Random) -> list[Attempt]:
    attempts = []
    for payer in payers:
        for _ in range(rng.choice((1, 2))):
            payee = rng.choice([p for p in payers if p is not payer])
            body = {"to": {"wallet_id": payee.wallet.id}, "amount": rng.randint(1, 3_000),
                    "currency": "EUR", "note": "crowd"}  # fmt: skip
            attempts.append(Attempt(payer, body, uuid4().hex, retried=rng.random() < 0.15))
    return attempts


async def send(attempt: Attempt) -> Response:
    return await attempt.payer.client.post(
        P2P, json=attempt.body, headers={"Idempotency-Key": attempt.key}
    )


async def totals(db: Database, payers: list[Payer]) -> dict[str, int]:
    async with db.connection() as conn:
        return {
            p.wallet.id: sum(b.balance for b in await wallets.balances(conn, p.wallet))
            for p in payers
        }


async def test_two_hundred_people_paying_each_other_at_once(
    db: Database, busy_app: Any, clock: OffsetClock, ledger: LedgerService
) -> None:
    rng = random.Random(20261123)
    payers = await make_payers(db, busy_app, clock, ledger, rng)
    try:
        before = await totals(db, payers)
        attempts = plan(payers, rng)
        sends = [send(a) for a in attempts] + [send(a) for a in attempts if a.retried]
        responses = await asyncio.gather(*sends)
        # A retry that met its first request still running got 409; now it gets the answer.
        retries = await asyncio.gather(*(send(a) for a in attempts if a.retried))
    finally:
        for payer in payers:
            await payer.client.aclose()

    first = responses[: len(attempts)]
    outcomes = Counter((r.status_code, r.json().get("code")) for r in first)
    assert set(outcomes) <= {(201, None), (422, "insufficient_funds")}, outcomes
    assert outcomes[(201, None)] > len(attempts) / 2
    assert outcomes[(422, "insufficient_funds")] > 0
    concurrent_retries = responses[len(attempts) :]
    assert {r.status_code for r in concurrent_retries} <= {201, 409, 422}
    retried = [a for a in attempts if a.retried]
    for attempt, retry in zip(retried, retries, strict=True):
        original = first[attempts.index(attempt)]
        assert retry.status_code == original.status_code
        assert retry.json().get("id") == original.json().get("id")

    paid = {r.json()["id"]: r.json() for r in first if r.status_code == 201}
    after = await totals(db, payers)
    fees = sum(p["fee"] for p in paid.values())
    assert sum(after.values()) + fees == sum(before.values())
    assert min(after.values()) >= 0
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, count(ledger_transaction_id) AS posted FROM payments"
            " WHERE wallet_id = ANY(%s) GROUP BY id",
            ([p.wallet.id for p in payers],),
        )
        recorded = {row["id"]: row["posted"] for row in await cursor.fetchall()}
        report = await ledger.verify(conn)
    assert recorded == dict.fromkeys(paid, 1)
    assert report.ok, report
