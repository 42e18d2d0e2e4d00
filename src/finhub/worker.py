"""Background jobs on procrastinate, a PostgreSQL-native job queue.

`finhub worker` runs them in their own process; `finhub serve` in embedded mode runs a worker
inside the API process so a single command gives a complete system.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from procrastinate import App, Blueprint, PsycopgConnector
from psycopg import AsyncConnection

from finhub.fx import tasks as fx_tasks
from finhub.identity import tasks as identity_tasks
from finhub.kit import idempotency
from finhub.kit.clock import Clock, SystemClock
from finhub.kit.db import Database
from finhub.kit.logging import get_logger
from finhub.ledger import tasks as ledger_tasks
from finhub.ledger.service import LedgerService
from finhub.notifications import tasks as notification_tasks
from finhub.payments.scheduled import tasks as scheduled_tasks
from finhub.payments.topups import tasks as topup_tasks
from finhub.runtime import Runtime, current_runtime, install_runtime
from finhub.webhooks import tasks as webhook_tasks

log = get_logger(__name__)
housekeeping = Blueprint()


@housekeeping.periodic(cron="17 * * * *", periodic_id="purge_idempotency_keys")
@housekeeping.task(name="kit.purge_idempotency_keys", queue="housekeeping")
async def purge_idempotency_keys(timestamp: int) -> int:
    """Hourly: forget idempotency keys older than their 24-hour retention."""
    async with current_runtime().db.transaction() as conn:
        return await idempotency.purge_expired(conn)


def build_job_app(database_url: str) -> App:
    """A procrastinate app with finhub's tasks. Building one binds the tasks to it, so a
    process builds one per purpose and defers through that one."""
    app = App(connector=PsycopgConnector(conninfo=database_url))
    for blueprint in (
        ledger_tasks.blueprint,
        identity_tasks.blueprint,
        notification_tasks.blueprint,
        webhook_tasks.blueprint,
        scheduled_tasks.blueprint,
        fx_tasks.blueprint,
        topup_tasks.blueprint,
        housekeeping,
    ):
        app.add_tasks_from(blueprint, namespace="")
    return app


async def ensure_job_schema(database_url: str) -> None:
    """Create procrastinate's tables the first time (its schema is not Alembic's)."""
    async with await AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        row = await cursor.fetchone()
        if row and row[0]:
            return
    app = build_job_app(database_url)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


@asynccontextmanager
async def in_process_worker(
    database_url: str, db: Database, ledger: LedgerService, clock: Clock
) -> AsyncIterator[App]:
    """Run a worker in this event loop for as long as the block lasts; yields the job app.

    Defer jobs through the yielded app: tasks belong to the app built last in the process.
    """
    install_runtime(Runtime(db=db, clock=clock, ledger=ledger))
    app = build_job_app(database_url)
    async with app.open_async():
        task = asyncio.create_task(
            app.run_worker_async(install_signal_handlers=False, concurrency=2, wait=True)
        )
        try:
            yield app
        finally:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("the in-process worker stopped", error=repr(task.exception()))
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
            install_runtime(None)


async def run_worker(database_url: str, **options: Any) -> None:
    """The `finhub worker` process."""
    db = Database(database_url, min_size=1, max_size=4)
    await db.open()
    clock = SystemClock()
    install_runtime(Runtime(db=db, clock=clock, ledger=LedgerService(clock)))
    app = build_job_app(database_url)
    try:
        async with app.open_async():
            await app.run_worker_async(**options)
    finally:
        await db.close()
