"""SQL of scheduled payments and their runs; every read for a person is filtered by them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from finhub.kit.db.engine import Connection, Row
from finhub.payments.scheduled.models import Run, ScheduledPayment

COLUMNS = """id, user_id, type, recipient_wallet_id, recipient_label, payee_id, amount, currency,
    note, start_at, rule, end_at, status, next_run_at, created_at, updated_at, canceled_at"""
RUN_COLUMNS = """scheduled_payment_id, occurrence_at, status, attempts, next_attempt_at,
    payment_id, failure_code, failure_message, created_at, updated_at"""


def _schedule(row: Row) -> ScheduledPayment:
    return ScheduledPayment(**{**row, "amount": int(row["amount"])})


def _run(row: Row) -> Run:
    return Run(**row)


async def insert(conn: Connection, values: dict[str, Any]) -> ScheduledPayment:
    names = ", ".join(values)
    cursor = await conn.execute(
        f"INSERT INTO scheduled_payments ({names}) VALUES ({', '.join(['%s'] * len(values))})"
        f" RETURNING {COLUMNS}",
        tuple(values.values()),
    )
    row = await cursor.fetchone()
    assert row is not None
    return _schedule(row)


async def find_for_user(
    conn: Connection, schedule_id: str, user_id: str, *, lock: bool = False
) -> ScheduledPayment | None:
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM scheduled_payments WHERE id = %s AND user_id = %s"
        + (" FOR UPDATE" if lock else ""),
        (schedule_id, user_id),
    )
    row = await cursor.fetchone()
    return _schedule(row) if row else None


async def find(conn: Connection, schedule_id: str) -> ScheduledPayment | None:
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM scheduled_payments WHERE id = %s", (schedule_id,)
    )
    row = await cursor.fetchone()
    return _schedule(row) if row else None


async def list_for_user(
    conn: Connection, user_id: str, *, status: str | None, limit: int, starting_after: str | None
) -> list[ScheduledPayment]:
    cursor = await conn.execute(
        f"""
        SELECT {COLUMNS} FROM scheduled_payments
         WHERE user_id = %(user)s
           AND (%(status)s::text IS NULL OR status = %(status)s)
           AND (%(after)s::text IS NULL OR id < %(after)s)
         ORDER BY id DESC
         LIMIT %(limit)s
        """,
        {"user": user_id, "status": status, "after": starting_after, "limit": limit + 1},
    )
    return [_schedule(row) for row in await cursor.fetchall()]


async def update_state(
    conn: Connection,
    schedule_id: str,
    *,
    status: str,
    next_run_at: datetime | None,
    now: datetime,
) -> ScheduledPayment:
    cursor = await conn.execute(
        f"""
        UPDATE scheduled_payments
           SET status = %s, next_run_at = %s, updated_at = %s,
               canceled_at = CASE WHEN %s = 'canceled' THEN %s ELSE canceled_at END
         WHERE id = %s
        RETURNING {COLUMNS}
        """,
        (status, next_run_at, now, status, now, schedule_id),
    )
    row = await cursor.fetchone()
    assert row is not None
    return _schedule(row)


async def lock_due_schedules(conn: Connection, now: datetime, limit: int) -> list[ScheduledPayment]:
    """Active schedules with an occurrence due, locked; another worker skips them."""
    cursor = await conn.execute(
        f"""
        SELECT {COLUMNS} FROM scheduled_payments
         WHERE status = 'active' AND next_run_at <= %s
         ORDER BY next_run_at
         LIMIT %s
         FOR UPDATE SKIP LOCKED
        """,
        (now, limit),
    )
    return [_schedule(row) for row in await cursor.fetchall()]


async def insert_run(
    conn: Connection, schedule_id: str, occurrence_at: datetime, now: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO scheduled_payment_runs (scheduled_payment_id, occurrence_at, status,
                                            next_attempt_at, created_at, updated_at)
        VALUES (%s, %s, 'pending', %s, %s, %s)
        ON CONFLICT (scheduled_payment_id, occurrence_at) DO NOTHING
        """,
        (schedule_id, occurrence_at, occurrence_at, now, now),
    )


async def claim_due_run(conn: Connection, now: datetime) -> Run | None:
    """One pending run that is due, locked until the caller's transaction ends; runs locked
    by another worker are skipped. Runs of paused schedules wait for them to resume."""
    cursor = await conn.execute(
        f"""
        SELECT {", ".join("r." + c.strip() for c in RUN_COLUMNS.split(","))}
          FROM scheduled_payment_runs r
          JOIN scheduled_payments s ON s.id = r.scheduled_payment_id
         WHERE r.status = 'pending' AND r.next_attempt_at <= %s
           AND s.status IN ('active', 'finished')
         ORDER BY r.next_attempt_at
         LIMIT 1
         FOR UPDATE OF r SKIP LOCKED
        """,
        (now,),
    )
    row = await cursor.fetchone()
    return _run(row) if row else None


async def finish_run(
    conn: Connection,
    run: Run,
    *,
    status: str,
    attempts: int,
    next_attempt_at: datetime | None,
    payment_id: str | None,
    failure_code: str | None,
    failure_message: str | None,
    now: datetime,
) -> Run:
    cursor = await conn.execute(
        f"""
        UPDATE scheduled_payment_runs
           SET status = %s, attempts = %s, next_attempt_at = %s, payment_id = %s,
               failure_code = %s, failure_message = %s, updated_at = %s
         WHERE scheduled_payment_id = %s AND occurrence_at = %s AND status = 'pending'
        RETURNING {RUN_COLUMNS}
        """,
        (
            status,
            attempts,
            next_attempt_at,
            payment_id,
            failure_code,
            failure_message,
            now,
            run.scheduled_payment_id,
            run.occurrence_at,
        ),
    )
    row = await cursor.fetchone()
    assert row is not None
    return _run(row)


async def cancel_pending_runs(conn: Connection, schedule_id: str, now: datetime) -> None:
    await conn.execute(
        """
        UPDATE scheduled_payment_runs
           SET status = 'canceled', next_attempt_at = NULL, updated_at = %s
         WHERE scheduled_payment_id = %s AND status = 'pending'
        """,
        (now, schedule_id),
    )


async def runs_of(conn: Connection, schedule_id: str, limit: int) -> list[Run]:
    cursor = await conn.execute(
        f"""
        SELECT {RUN_COLUMNS} FROM scheduled_payment_runs
         WHERE scheduled_payment_id = %s
         ORDER BY occurrence_at DESC
         LIMIT %s
        """,
        (schedule_id, limit),
    )
    return [_run(row) for row in await cursor.fetchall()]
