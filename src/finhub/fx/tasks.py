"""The currencies' background job: the daily import of the ECB reference rates.

It runs only when an `ecb_url` is configured (`PATCH /v1/staff/fx/settings`). The ECB
publishes around 16:00 Frankfurt time on working days; the job runs at 16:30 UTC, after the
publication in summer and winter alike. Importing an unchanged file again changes nothing.
"""

from __future__ import annotations

import httpx
from procrastinate import Blueprint

from finhub.audit.service import AuditContext
from finhub.fx import repository, service
from finhub.fx.rates import EcbFeed
from finhub.kit.logging import get_logger
from finhub.runtime import current_runtime

ECB_FETCH_TIMEOUT = httpx.Timeout(20.0)
log = get_logger(__name__)
blueprint = Blueprint()


@blueprint.periodic(cron="30 16 * * *", periodic_id="import_ecb_rates")
@blueprint.task(name="fx.import_ecb_rates", queue="fx", queueing_lock="import_ecb_rates")
async def import_ecb_rates(timestamp: int) -> int:
    """Daily: fetch the configured ECB URL and store its rates; how many were new."""
    runtime = current_runtime()
    async with runtime.db.connection() as conn:
        url = (await repository.get_settings(conn)).ecb_url
    if url is None:
        return 0
    async with httpx.AsyncClient(timeout=ECB_FETCH_TIMEOUT) as client:
        return await import_from_url(url, client)


async def import_from_url(url: str, client: httpx.AsyncClient) -> int:
    """One import from `url` in its own transaction (the job's body, callable from tests)."""
    runtime = current_runtime()
    source = EcbFeed(url, client)
    facts = await source.fetch()
    async with runtime.db.transaction() as conn:
        summary = await service.store_import(
            conn,
            source.name,
            facts,
            AuditContext.system("fx.import_ecb_rates"),
            now=runtime.clock.now(),
        )
    log.info("ECB rates imported", rates=summary.rates, stored=summary.stored)
    return summary.stored
