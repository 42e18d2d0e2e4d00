"""Scheduled and recurring payments: the rules of creating, pausing, resuming and canceling a
schedule, and the runner that pays each due occurrence exactly once.

The runner works in two steps, each in short transactions:
1. due schedules (locked with SKIP LOCKED) get one run per occurrence that has come, keyed by
   (schedule, occurrence), and their `next_run_at` moves on;
2. each due run is claimed with FOR UPDATE SKIP LOCKED and paid in the same transaction that
   marks it succeeded, so a crash rolls both back and a second worker never sees it pending.
A payment that fails on a rule (insufficient funds, a limit) is retried after 1, 4 and 12
hours; after the last attempt the run fails and the person hears of it in the app and by mail.
Rules that no retry can mend (an unknown recipient or payee, a closed wallet) fail at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from finhub.errors import Conflict, FinhubError, NotFound, Unprocessable
from finhub.identity import repository as people
from finhub.kit.clock import Clock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.logging import get_logger
from finhub.notifications import inbox
from finhub.notifications.mail import Mailer
from finhub.payments.payouts.errors import PayeeCurrencyMismatch
from finhub.payments.payouts.service import get_payee
from finhub.payments.scheduled import occurrences, repository
from finhub.payments.scheduled.executor import Executor
from finhub.payments.scheduled.models import Run, ScheduledPayment
from finhub.payments.transfers.errors import SelfPayment
from finhub.payments.transfers.group import counterparty_label
from finhub.payments.transfers.service import (
    Context,
    Recipient,
    payer_party,
    require_currency,
    resolve_recipient,
)

log = get_logger(__name__)
RETRY_DELAYS = (timedelta(hours=1), timedelta(hours=4), timedelta(hours=12))
FINAL_CODES = frozenset(
    {
        "recipient_not_found",
        "recipient_wallet_closed",
        "self_payment",
        "payee_not_found",
        "currency_mismatch",
        "unsupported_currency",
        "wallet_closed",
        "wallet_not_available",
    }
)
MAX_CATCH_UP = 100  # occurrences turned into runs per schedule and pass
UPCOMING = 3


class ScheduledPaymentNotFound(NotFound):
    code = "scheduled_payment_not_found"


class ScheduledPaymentState(Conflict):
    code = "scheduled_payment_state_conflict"
    title = "The scheduled payment is not in a state that allows this"


@dataclass(frozen=True, slots=True)
class NewSchedule:
    type: str
    amount: int
    currency: str
    note: str | None
    start_at: datetime
    rule: str | None
    end_at: datetime | None
    to: Recipient | None = None
    payee_id: str | None = None


@dataclass
class RunReport:
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0


# --- a person's schedules ----------------------------------------------------------------------


async def create(
    conn: Connection, ctx: Context, user_id: str, new: NewSchedule
) -> ScheduledPayment:
    """Check the schedule and its counterparty now, so a mistake is a 4xx today rather than a
    failed payment next month."""
    now = ctx.clock.now()
    require_currency(new.currency)
    new = replace(new, start_at=occurrences.whole_second(new.start_at))
    if new.start_at < now - timedelta(minutes=1):
        raise Unprocessable("start_at is in the past.", code="start_in_past", field="start_at")
    if new.end_at is not None and new.end_at < new.start_at:
        raise Unprocessable("end_at is before start_at.", code="invalid_end", field="end_at")
    first = occurrences.first_occurrence(new.start_at, new.rule, new.end_at)
    if first is None:
        raise occurrences.InvalidRule("The rule gives no occurrence before end_at.", field="rule")
    payer = await payer_party(conn, ctx.clock, user_id)
    values: dict[str, Any] = {"recipient_wallet_id": None, "recipient_label": None}
    if new.type == "p2p":
        assert new.to is not None
        payee = await resolve_recipient(conn, ctx, user_id, new.to)
        if payee.wallet.id == payer.wallet.id:
            raise SelfPayment("You can't send money to yourself.")
        values = {
            "recipient_wallet_id": payee.wallet.id,
            "recipient_label": counterparty_label(payee.person),
        }
    else:
        assert new.payee_id is not None
        bank_payee = await get_payee(conn, user_id, new.payee_id)
        if bank_payee.currency != new.currency:
            raise PayeeCurrencyMismatch(
                f"The payee's account takes {bank_payee.currency}, not {new.currency}.",
                payee_currency=bank_payee.currency,
            )
        values["recipient_label"] = bank_payee.label
    return await repository.insert(
        conn,
        {
            "id": new_id("sch"),
            "user_id": user_id,
            "type": new.type,
            **values,
            "payee_id": new.payee_id if new.type == "withdrawal" else None,
            "amount": new.amount,
            "currency": new.currency,
            "note": new.note,
            "start_at": new.start_at,
            "rule": new.rule,
            "end_at": new.end_at,
            "status": "active",
            "next_run_at": first,
            "created_at": now,
            "updated_at": now,
        },
    )


async def get(
    conn: Connection, user_id: str, schedule_id: str, *, lock: bool = False
) -> ScheduledPayment:
    """The person's schedule; anyone else's id answers 404 like a missing one."""
    schedule = await repository.find_for_user(conn, schedule_id, user_id, lock=lock)
    if schedule is None:
        raise ScheduledPaymentNotFound(f"No scheduled payment {schedule_id}.")
    return schedule


async def pause(conn: Connection, clock: Clock, user_id: str, schedule_id: str) -> ScheduledPayment:
    schedule = await get(conn, user_id, schedule_id, lock=True)
    _require(schedule, "active")
    return await repository.update_state(
        conn, schedule.id, status="paused", next_run_at=schedule.next_run_at, now=clock.now()
    )


async def resume(
    conn: Connection, clock: Clock, user_id: str, schedule_id: str
) -> ScheduledPayment:
    """Occurrences that fell while paused are skipped: the next one is the first from now."""
    schedule = await get(conn, user_id, schedule_id, lock=True)
    _require(schedule, "paused")
    now = clock.now()
    upcoming = occurrences.upcoming(schedule.start_at, schedule.rule, schedule.end_at, now, 1)
    if schedule.next_run_at is not None and schedule.next_run_at >= now:
        upcoming = [schedule.next_run_at]
    if upcoming:
        return await repository.update_state(
            conn, schedule.id, status="active", next_run_at=upcoming[0], now=now
        )
    return await repository.update_state(
        conn, schedule.id, status="finished", next_run_at=None, now=now
    )


async def cancel(
    conn: Connection, clock: Clock, user_id: str, schedule_id: str
) -> ScheduledPayment:
    """Stop the schedule, retries of failed occurrences included."""
    schedule = await get(conn, user_id, schedule_id, lock=True)
    _require(schedule, "active", "paused", "finished")
    await repository.cancel_pending_runs(conn, schedule.id, clock.now())
    return await repository.update_state(
        conn, schedule.id, status="canceled", next_run_at=None, now=clock.now()
    )


def _require(schedule: ScheduledPayment, *statuses: str) -> None:
    if schedule.status not in statuses:
        raise ScheduledPaymentState(
            f"The scheduled payment is {schedule.status}.", status_now=schedule.status
        )


def schedule_payload(schedule: ScheduledPayment, now: datetime) -> dict[str, Any]:
    upcoming: list[datetime] = []
    if schedule.status == "active" and schedule.next_run_at is not None:
        upcoming = [schedule.next_run_at]
        upcoming += occurrences.upcoming(
            schedule.start_at, schedule.rule, schedule.end_at, schedule.next_run_at, UPCOMING
        )[1:]
    return {
        "object": "scheduled_payment",
        "id": schedule.id,
        "type": schedule.type,
        "to": (
            {"wallet_id": schedule.recipient_wallet_id, "name": schedule.recipient_label}
            if schedule.type == "p2p"
            else None
        ),
        "payee_id": schedule.payee_id,
        "amount": schedule.amount,
        "currency": schedule.currency,
        "note": schedule.note,
        "start_at": schedule.start_at,
        "rule": schedule.rule,
        "end_at": schedule.end_at,
        "status": schedule.status,
        "next_run_at": schedule.next_run_at if schedule.status == "active" else None,
        "upcoming": upcoming,
        "created_at": schedule.created_at,
        "updated_at": schedule.updated_at,
        "canceled_at": schedule.canceled_at,
    }


def run_payload(run: Run) -> dict[str, Any]:
    return {
        "object": "scheduled_payment_run",
        "id": run.key,
        "scheduled_payment_id": run.scheduled_payment_id,
        "occurrence_at": run.occurrence_at,
        "status": run.status,
        "attempts": run.attempts,
        "next_attempt_at": run.next_attempt_at,
        "payment_id": run.payment_id,
        "failure_code": run.failure_code,
        "failure_message": run.failure_message,
    }


# --- the runner ----------------------------------------------------------------------------------


async def run_due(
    db: Database, clock: Clock, executor: Executor, mailer: Mailer, *, limit: int = 200
) -> RunReport:
    """Turn due occurrences into runs, then pay each due run once. Safe to run concurrently."""
    await _materialise_due(db, clock, limit)
    report = RunReport()
    for _ in range(limit):
        async with db.transaction() as conn:
            run = await repository.claim_due_run(conn, clock.now())
            if run is None:
                break
            outcome = await _attempt(conn, clock, executor, mailer, run)
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


async def _materialise_due(db: Database, clock: Clock, limit: int) -> None:
    async with db.transaction() as conn:
        now = clock.now()
        for schedule in await repository.lock_due_schedules(conn, now, limit):
            occurrence = schedule.next_run_at
            for _ in range(MAX_CATCH_UP):
                if occurrence is None or occurrence > now:
                    break
                await repository.insert_run(conn, schedule.id, occurrence, now)
                occurrence = occurrences.next_occurrence(
                    schedule.start_at, schedule.rule, schedule.end_at, occurrence
                )
            await repository.update_state(
                conn,
                schedule.id,
                status="active" if occurrence is not None else "finished",
                next_run_at=occurrence,
                now=now,
            )


async def _attempt(
    conn: Connection, clock: Clock, executor: Executor, mailer: Mailer, run: Run
) -> str:
    schedule = await repository.find(conn, run.scheduled_payment_id)
    assert schedule is not None
    now = clock.now()
    attempts = run.attempts + 1
    try:
        async with conn.transaction():  # a savepoint: a failed payment leaves nothing behind
            payment_id = await executor.execute(conn, schedule, run.key)
    except Exception as error:
        code = error.code if isinstance(error, FinhubError) else "internal_error"
        message = (error.detail or error.title) if isinstance(error, FinhubError) else repr(error)
        if not isinstance(error, FinhubError):
            log.error("scheduled payment raised", run=run.key, error=repr(error))
        if code not in FINAL_CODES and attempts <= len(RETRY_DELAYS):
            await repository.finish_run(
                conn, run, status="pending", attempts=attempts,
                next_attempt_at=now + RETRY_DELAYS[attempts - 1], payment_id=None,
                failure_code=code, failure_message=message[:500], now=now,
            )  # fmt: skip
            return "retrying"
        failed = await repository.finish_run(
            conn, run, status="failed", attempts=attempts, next_attempt_at=None,
            payment_id=None, failure_code=code, failure_message=message[:500], now=now,
        )  # fmt: skip
        await _tell_of_failure(conn, mailer, schedule, failed)
        return "failed"
    await repository.finish_run(
        conn, run, status="succeeded", attempts=attempts, next_attempt_at=None,
        payment_id=payment_id, failure_code=None, failure_message=None, now=now,
    )  # fmt: skip
    return "succeeded"


async def _tell_of_failure(
    conn: Connection, mailer: Mailer, schedule: ScheduledPayment, run: Run
) -> None:
    """In the app and by mail: the payment did not go out and will not be tried again."""
    title = f"A scheduled payment of {schedule.amount} {schedule.currency} failed"
    what = f"to {schedule.recipient_label}" if schedule.recipient_label else ""
    body = (
        f"Your scheduled payment {what} due {run.occurrence_at:%Y-%m-%d %H:%M} UTC could not be "
        f"made after {run.attempts} attempts ({run.failure_code}: {run.failure_message}). "
        "Nothing was taken from your wallet."
    )
    await inbox.notify(
        conn,
        user_id=schedule.user_id,
        kind="scheduled_payment.failed",
        title=title,
        body=body,
        data={"scheduled_payment_id": schedule.id, "run": run.key, "code": run.failure_code},
    )
    person = await people.get_user(conn, schedule.user_id)
    if person is not None:
        await mailer.queue(
            conn, to=person.email, subject=title, text=body, tag="scheduled_payment_failed"
        )
