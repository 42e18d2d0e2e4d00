"""Large payments by a person need a fresh second factor; small ones and API keys don't."""

from __future__ import annotations

from typing import Any

from httpx import ASGITransport, AsyncClient

from finhub.config import Settings
from finhub.identity import sessions
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from tests.factories import LONG_SESSIONS, create_user

OVER = 60_000  # €600.00, above the default €500.00
UNDER = 10_000


async def funded_person(db: Database, clock: OffsetClock) -> tuple[str, str]:
    """(session token, wallet id) of a person with €2,000 and an aal 1 session."""
    ledger = LedgerService(clock)
    async with db.transaction() as conn:
        user_id = await create_user(conn)
        wallet = await wallets.ensure_wallet(conn, clock, user_id)
        account = await wallets.balance_account(conn, ledger, wallet, "EUR")
        bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, "EUR")
        await ledger.post_one(
            conn,
            ledger.transfer_spec(
                from_account=bank, to_account=account, amount=200_000, asset="EUR"
            ),
        )
        session = await sessions.start_session(
            conn, LONG_SESSIONS, now=clock.now(), aal=1, user_id=user_id
        )
    return session.token, session.id


def client(app: Any, token: str) -> AsyncClient:
    return AsyncClient(
        transport=ASGITransport(app=app),
        base_url="http://finhub.test",
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_a_large_p2p_payment_waits_for_a_fresh_second_factor(
    app: Any, db: Database, clock: OffsetClock, settings: Settings
) -> None:
    assert settings.step_up_payment_threshold == 50_000
    token, session_id = await funded_person(db, clock)
    async with db.transaction() as conn:
        payee = await wallets.ensure_wallet(conn, clock, await create_user(conn))
    async with client(app, token) as person:
        body = {"to": {"wallet_id": payee.id}, "currency": "EUR"}
        small = await person.post("/v1/payments/p2p", json={**body, "amount": UNDER})
        assert small.status_code == 201, small.text
        large = await person.post("/v1/payments/p2p", json={**body, "amount": OVER})
        assert large.status_code == 403
        assert large.json()["code"] == "step_up_required"
        async with db.transaction() as conn:
            await sessions.mark_second_factor(conn, session_id, clock.now())
        stepped_up = await person.post("/v1/payments/p2p", json={**body, "amount": OVER})
        assert stepped_up.status_code == 201, stepped_up.text
    async with db.connection() as conn:
        balances = await wallets.balances(conn, payee)
    assert balances[0].balance == UNDER + OVER  # the refused attempt moved nothing


async def test_a_retry_with_the_same_idempotency_key_pays_once_stepped_up(
    app: Any, db: Database, clock: OffsetClock
) -> None:
    """The step-up refusal is not kept for replays: the same key works once stepped up."""
    token, session_id = await funded_person(db, clock)
    async with db.transaction() as conn:
        payee = await wallets.ensure_wallet(conn, clock, await create_user(conn))
    body = {"to": {"wallet_id": payee.id}, "currency": "EUR", "amount": OVER}
    headers = {"Idempotency-Key": "large-payment-1"}
    async with client(app, token) as person:
        refused = await person.post("/v1/payments/p2p", json=body, headers=headers)
        assert refused.json()["code"] == "step_up_required"
        async with db.transaction() as conn:
            await sessions.mark_second_factor(conn, session_id, clock.now())
        paid = await person.post("/v1/payments/p2p", json=body, headers=headers)
        assert paid.status_code == 201, paid.text
        replay = await person.post("/v1/payments/p2p", json=body, headers=headers)
        assert replay.headers.get("idempotent-replayed") == "true"
        assert replay.json()["id"] == paid.json()["id"]
    async with db.connection() as conn:
        balances = await wallets.balances(conn, payee)
    assert balances[0].balance == OVER


async def test_a_large_withdrawal_and_schedule_need_it_too(
    app: Any, db: Database, clock: OffsetClock
) -> None:
    token, _ = await funded_person(db, clock)
    async with client(app, token) as person:
        refused = await person.post(
            "/v1/payments/withdrawals",
            json={"payee_id": "pye_00000000000000000000000000", "amount": OVER, "currency": "EUR"},
        )
        assert refused.json()["code"] == "step_up_required"
        schedule = await person.post(
            "/v1/payments/scheduled",
            json={
                "type": "p2p",
                "to": {"wallet_id": "wal_00000000000000000000000000"},
                "amount": OVER,
                "currency": "EUR",
                "start_at": clock.now().isoformat(),
            },
        )
        assert schedule.json()["code"] == "step_up_required"
