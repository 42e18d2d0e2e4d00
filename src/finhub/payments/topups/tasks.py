"""Top-up jobs: failing card top-ups whose authorisation lapsed."""

from __future__ import annotations

from procrastinate import Blueprint

from finhub.kit.logging import get_logger
from finhub.payments.topups.service import expire_stale_authorizations
from finhub.runtime import current_runtime

log = get_logger(__name__)
blueprint = Blueprint()


@blueprint.periodic(cron="*/10 * * * *", periodic_id="expire_card_authorizations")
@blueprint.task(
    name="payments.expire_card_authorizations",
    queue="payments",
    queueing_lock="expire_card_authorizations",
)
async def expire_card_authorizations(timestamp: int) -> int:
    """Every ten minutes: release the holds of card top-ups left unfinished for a week."""
    runtime = current_runtime()
    total = 0
    while True:
        async with runtime.db.transaction() as conn:
            failed = await expire_stale_authorizations(conn, runtime.ledger)
        total += failed
        if failed < 100:
            break
    if total:
        log.info("lapsed card authorisations failed", count=total)
    return total
