"""The hold-expiry job, run by a real procrastinate worker against the test database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.models import AccountType
from finhub.ledger.service import LedgerService
from finhub.ledger.tasks import expire_holds
from finhub.worker import in_process_worker


async def _hold(db: Database, ledger: LedgerService, clock: OffsetClock) -> tuple[str, str]:
    async with db.transaction() as conn:
        cash = await ledger.create_account(conn, asset="USD", type=AccountType.ASSET)
        wallet = await ledger.create_account(
            conn, asset="USD", type=AccountType.LIABILITY, debits_must_not_exceed_credits=True
        )
        await ledger.post_one(
            conn,
            ledger.transfer_spec(
                from_account=cash.state.id, to_account=wallet.state.id, amount=500, asset="USD"
            ),
        )
        hold = await ledger.post_one(
            conn,
            ledger.transfer_spec(
                from_account=wallet.state.id,
                to_account=cash.state.id,
                amount=200,
                asset="USD",
                pending=True,
                expires_at=clock.now() + timedelta(minutes=5),
            ),
        )
    return hold.id, wallet.state.id


async def test_worker_releases_a_hold_once_it_has_expired(db: Database, database_url: str) -> None:
    clock = OffsetClock()
    ledger = LedgerService(clock)
    hold_id, wallet_id = await _hold(db, ledger, clock)
    async with db.transaction() as conn:
        assert (await ledger.balance(conn, wallet_id)).account.available_balance == 300

    clock.advance(timedelta(minutes=6))
    async with in_process_worker(database_url, db, ledger, clock) as job_app:
        await expire_holds.configure(app=job_app, queueing_lock=None).defer_async(timestamp=0)
        resolved_by = await _wait_until_resolved(db, ledger, hold_id, seconds=60)

    assert resolved_by is not None, await _job_report(db)
    async with db.transaction() as conn:
        hold = await ledger.get_transaction(conn, hold_id)
        resolution = await ledger.get_transaction(conn, resolved_by)
        balance = await ledger.balance(conn, wallet_id)
    assert hold.status == "expired"
    assert resolution.kind.value == "expire_pending"
    assert balance.account.available_balance == 500
    assert balance.account.debits_pending == 0


async def _wait_until_resolved(
    db: Database, ledger: LedgerService, transaction_id: str, seconds: float
) -> str | None:
    """Poll until the job has resolved the hold (bounded by `seconds`)."""
    for _ in range(int(seconds / 0.2)):
        async with db.connection() as conn:
            transaction = await ledger.get_transaction(conn, transaction_id)
        if transaction.resolved_by is not None:
            return transaction.resolved_by
        await asyncio.sleep(0.2)
    return None


async def _job_report(db: Database) -> str:
    """What the job queue holds, to explain a failure."""
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT task_name, status, count(*) AS n FROM procrastinate_jobs"
            " GROUP BY task_name, status ORDER BY task_name, status"
        )
        rows = await cursor.fetchall()
    return "jobs: " + ", ".join(f"{r['task_name']} {r['status']} x{r['n']}" for r in rows)
