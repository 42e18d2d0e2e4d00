"""The scheduled payments' background job: paying each due occurrence, every minute."""

from __future__ import annotations

from procrastinate import Blueprint

from finhub import config
from finhub.kit.logging import get_logger
from finhub.kit.throttle import Throttle
from finhub.notifications.mail import Mailer
from finhub.payments.scheduled.executor import PaymentServices
from finhub.payments.scheduled.service import run_due
from finhub.runtime import current_runtime

log = get_logger(__name__)
blueprint = Blueprint()


@blueprint.periodic(cron="* * * * *", periodic_id="run_scheduled_payments")
@blueprint.task(
    name="payments.run_scheduled", queue="payments", queueing_lock="run_scheduled_payments"
)
async def run_scheduled_payments(timestamp: int) -> int:
    """Every minute: pay the occurrences that are due; returns how many were paid."""
    runtime = current_runtime()
    executor = PaymentServices(runtime.ledger, Throttle(runtime.db))
    mailer = Mailer(runtime.db, config.get_settings(), clock=runtime.clock)
    report = await run_due(runtime.db, runtime.clock, executor, mailer)
    if report.succeeded or report.retrying or report.failed:
        log.info(
            "scheduled payments run",
            succeeded=report.succeeded,
            retrying=report.retrying,
            failed=report.failed,
        )
    return report.succeeded
