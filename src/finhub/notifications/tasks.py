"""The notifications module's background jobs: delivering due mail.

API processes deliver right after a request commits; this job catches everything else: retries
whose backoff has passed, and mail a process queued but did not get to send before it stopped.
"""

from __future__ import annotations

from procrastinate import Blueprint

from finhub import config
from finhub.kit.logging import get_logger
from finhub.notifications.mail import deliver_due, transport_for
from finhub.runtime import current_runtime

log = get_logger(__name__)
blueprint = Blueprint()


@blueprint.periodic(cron="* * * * *", periodic_id="deliver_mail")
@blueprint.task(
    name="notifications.deliver_mail", queue="notifications", queueing_lock="deliver_mail"
)
async def deliver_mail(timestamp: int) -> int:
    """Every minute: send each queued message that is due; returns how many were sent."""
    runtime = current_runtime()
    settings = config.get_settings()
    report = await deliver_due(runtime.db, settings, transport_for(settings), runtime.clock)
    if report.sent or report.failed or report.retrying:
        log.info(
            "mail delivered",
            sent=report.sent,
            retrying=report.retrying,
            failed=report.failed,
        )
    return report.sent
