"""The ledger's background jobs: releasing expired holds."""

from __future__ import annotations

from procrastinate import Blueprint

from finhub.kit.logging import get_logger
from finhub.runtime import current_runtime

log = get_logger(__name__)
blueprint = Blueprint()


@blueprint.periodic(cron="* * * * *", periodic_id="expire_holds")
@blueprint.task(name="ledger.expire_holds", queue="ledger", queueing_lock="expire_holds")
async def expire_holds(timestamp: int) -> int:
    """Every minute: void each hold whose `expires_at` has passed (as `expire_pending`)."""
    runtime = current_runtime()
    total = 0
    while True:
        async with runtime.db.transaction() as conn:
            released = await runtime.ledger.expire_due_holds(conn, limit=200)
        total += released
        if released < 200:
            break
    if total:
        log.info("expired holds released", count=total)
    return total
