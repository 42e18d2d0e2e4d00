"""Background jobs of webhooks and payment notifications, each every minute in `finhub worker`.

`webhooks.dispatch` turns new outbox events into deliveries, then sends every delivery that is
due (first attempts and retries whose backoff has passed). `webhooks.notify_payments` turns
new payment events into inbox notes and emails.
"""

from __future__ import annotations

from procrastinate import Blueprint

from finhub import config
from finhub.identity.factors.crypto import Keyring
from finhub.kit.logging import get_logger
from finhub.kit.secrets import load_or_create_secret_key
from finhub.notifications.mail import Mailer
from finhub.runtime import current_runtime
from finhub.webhooks.dispatcher import dispatch_pending
from finhub.webhooks.payment_notifications import notify_pending
from finhub.webhooks.sender import WebhookSender
from finhub.webhooks.ssrf import EgressPolicy

log = get_logger(__name__)
blueprint = Blueprint()


@blueprint.periodic(cron="* * * * *", periodic_id="dispatch_webhooks")
@blueprint.task(name="webhooks.dispatch", queue="webhooks", queueing_lock="dispatch_webhooks")
async def dispatch_webhooks(timestamp: int) -> int:
    """Every minute: fan new events out to endpoints, then send what is due; returns how many
    deliveries succeeded."""
    runtime = current_runtime()
    settings = config.get_settings()
    planned = await dispatch_pending(runtime.db, runtime.clock)
    keyring = Keyring(
        load_or_create_secret_key(settings.data_dir, settings.secret_key),
        settings.retired_secret_keys,
    )
    sender = WebhookSender(runtime.db, runtime.clock, keyring, EgressPolicy.for_settings(settings))
    report = await sender.deliver_due()
    if planned.deliveries or report.succeeded or report.retrying or report.failed:
        log.info(
            "webhooks sent",
            events=planned.events,
            new_deliveries=planned.deliveries,
            succeeded=report.succeeded,
            retrying=report.retrying,
            failed=report.failed,
        )
    return report.succeeded


@blueprint.periodic(cron="* * * * *", periodic_id="notify_payments")
@blueprint.task(
    name="webhooks.notify_payments", queue="notifications", queueing_lock="notify_payments"
)
async def notify_payments(timestamp: int) -> int:
    """Every minute: an inbox note and an email for each new payment event."""
    runtime = current_runtime()
    mailer = Mailer(runtime.db, config.get_settings(), clock=runtime.clock)
    made = await notify_pending(runtime.db, mailer, runtime.clock)
    await mailer.close()
    if made:
        log.info("payment notifications made", count=made)
    return made
