"""Fees per operation and currency (fixed + percentage, min/max).

A schedule row for (operation, currency) says what finhub charges:

    fee = clamp(fixed + round_half_up(amount * percent_bps / 10 000), min_fee, max_fee)

in minor units of the payment's currency. The percentage part is rounded half-up to the minor
unit (0.5 of a cent becomes a cent: the customer sees the same figure a calculator gives), then
the total is raised to `min_fee` and capped at `max_fee` (no cap when `max_fee` is NULL). The fee
is an integer and never negative.

A row for currency `*` is the fallback for every currency without a row of its own. Fixed,
minimum and maximum amounts are minor units of one currency and mean nothing in another, so the
fallback row may only carry a percentage (the database enforces it). No row at all: no fee.

Every payment flow calls `fee_for` before posting and puts the fee into the same ledger
transaction as the payment (a leg to the fee revenue account).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from finhub.audit.service import AuditContext, record
from finhub.errors import Unprocessable
from finhub.kit.db.engine import Connection, Row
from finhub.kit.money import EXACT

OPERATIONS = (
    "p2p",
    "card_topup",
    "bank_topup",
    "withdrawal",
    "fx_conversion",
    "request_payment",
)
ANY_CURRENCY = "*"
BASIS_POINTS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    operation: str
    currency: str
    fixed: int
    percent_bps: Decimal
    min_fee: int
    max_fee: int | None
    updated_at: datetime | None = None
    updated_by: str | None = None


def compute_fee(schedule: FeeSchedule, amount: int) -> int:
    """The fee `schedule` charges on `amount` (minor units); see the module docstring."""
    # The exact context: the default one keeps 28 digits and a 128-bit amount has 39.
    product = EXACT.multiply(Decimal(amount), schedule.percent_bps)
    share = EXACT.divide(product, BASIS_POINTS).quantize(
        Decimal(1), rounding=ROUND_HALF_UP, context=EXACT
    )
    fee = max(schedule.fixed + int(share), schedule.min_fee, 0)
    if schedule.max_fee is not None:
        fee = min(fee, schedule.max_fee)
    return fee


async def fee_for(conn: Connection, operation: str, currency: str, amount: int) -> int:
    """The fee in minor units of `currency` for `operation` (p2p, card_topup, bank_topup,
    withdrawal, fx_conversion, request_payment) of `amount`; 0 when no schedule applies."""
    schedule = await _applicable_schedule(conn, operation, currency)
    return 0 if schedule is None else compute_fee(schedule, amount)


async def fees_for(conn: Connection, payments: list[tuple[str, str, int]]) -> list[int]:
    """`fee_for` of several (operation, currency, amount) at once: each schedule read once."""
    schedules: dict[tuple[str, str], FeeSchedule | None] = {}
    for operation, currency, _ in payments:
        if (operation, currency) not in schedules:
            schedules[(operation, currency)] = await _applicable_schedule(conn, operation, currency)
    fees = []
    for operation, currency, amount in payments:
        schedule = schedules[(operation, currency)]
        fees.append(0 if schedule is None else compute_fee(schedule, amount))
    return fees


def schedule_payload(schedule: FeeSchedule) -> dict[str, Any]:
    return {
        "object": "fee_schedule",
        "id": f"{schedule.operation}/{schedule.currency}",
        "operation": schedule.operation,
        "currency": schedule.currency,
        "fixed": schedule.fixed,
        "percent_bps": str(schedule.percent_bps.normalize()),
        "min": schedule.min_fee,
        "max": schedule.max_fee,
        "updated_at": schedule.updated_at,
        "updated_by": schedule.updated_by,
    }


async def list_schedules(conn: Connection) -> list[FeeSchedule]:
    cursor = await conn.execute(
        "SELECT operation, currency, fixed, percent_bps, min_fee, max_fee, updated_at, updated_by"
        "  FROM fee_schedules ORDER BY operation, currency"
    )
    return [_schedule(row) for row in await cursor.fetchall()]


async def set_schedule(
    conn: Connection,
    audit: AuditContext,
    schedule: FeeSchedule,
    *,
    now: datetime,
) -> FeeSchedule:
    """Create or replace the schedule of (operation, currency), audited with before and after."""
    _check(schedule)
    before = await _exact_schedule(conn, schedule.operation, schedule.currency, lock=True)
    cursor = await conn.execute(
        """
        INSERT INTO fee_schedules (operation, currency, fixed, percent_bps, min_fee, max_fee,
                                   updated_at, updated_by)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (operation, currency) DO UPDATE
           SET fixed = excluded.fixed, percent_bps = excluded.percent_bps,
               min_fee = excluded.min_fee, max_fee = excluded.max_fee,
               updated_at = excluded.updated_at, updated_by = excluded.updated_by
        RETURNING operation, currency, fixed, percent_bps, min_fee, max_fee, updated_at, updated_by
        """,
        (
            schedule.operation,
            schedule.currency,
            schedule.fixed,
            schedule.percent_bps,
            schedule.min_fee,
            schedule.max_fee,
            now,
            audit.actor_id,
        ),
    )
    row = await cursor.fetchone()
    assert row is not None
    saved = _schedule(row)
    await record(
        conn,
        audit,
        "fees.schedule_changed",
        object_type="fee_schedule",
        object_id=f"{saved.operation}/{saved.currency}",
        before=_audit_figures(before) if before else None,
        after=_audit_figures(saved),
    )
    return saved


def _check(schedule: FeeSchedule) -> None:
    if schedule.operation not in OPERATIONS:
        raise Unprocessable(f"Operations are {', '.join(OPERATIONS)}.", code="unknown_operation")
    if schedule.max_fee is not None and schedule.max_fee < schedule.min_fee:
        raise Unprocessable("The maximum fee is below the minimum.", code="invalid_fee_schedule")
    fixed_figures = schedule.fixed or schedule.min_fee or schedule.max_fee is not None
    if schedule.currency == ANY_CURRENCY and fixed_figures:
        raise Unprocessable(
            "The fallback schedule (currency '*') is a percentage only: fixed, min and max are "
            "amounts of one currency.",
            code="invalid_fee_schedule",
        )


def _audit_figures(schedule: FeeSchedule) -> dict[str, Any]:
    return {
        "fixed": str(schedule.fixed),
        "percent_bps": str(schedule.percent_bps.normalize()),
        "min": str(schedule.min_fee),
        "max": None if schedule.max_fee is None else str(schedule.max_fee),
    }


# --- storage ------------------------------------------------------------------------------------

EXACT_SCHEDULE = """
    SELECT operation, currency, fixed, percent_bps, min_fee, max_fee, updated_at, updated_by
      FROM fee_schedules WHERE operation = %s AND currency = %s
"""
EXACT_SCHEDULE_FOR_UPDATE = EXACT_SCHEDULE + " FOR UPDATE"


async def _applicable_schedule(
    conn: Connection, operation: str, currency: str
) -> FeeSchedule | None:
    """The currency's own row, else the '*' fallback: one primary-key lookup."""
    cursor = await conn.execute(
        """
        SELECT operation, currency, fixed, percent_bps, min_fee, max_fee, updated_at, updated_by
          FROM fee_schedules
         WHERE operation = %s AND currency IN (%s, '*')
         ORDER BY currency = '*'
         LIMIT 1
        """,
        (operation, currency),
    )
    row = await cursor.fetchone()
    return _schedule(row) if row else None


async def _exact_schedule(
    conn: Connection, operation: str, currency: str, *, lock: bool = False
) -> FeeSchedule | None:
    query = EXACT_SCHEDULE_FOR_UPDATE if lock else EXACT_SCHEDULE
    cursor = await conn.execute(query, (operation, currency))
    row = await cursor.fetchone()
    return _schedule(row) if row else None


def _schedule(row: Row) -> FeeSchedule:
    return FeeSchedule(
        operation=row["operation"],
        currency=row["currency"],
        fixed=int(row["fixed"]),
        percent_bps=Decimal(row["percent_bps"]),
        min_fee=int(row["min_fee"]),
        max_fee=None if row["max_fee"] is None else int(row["max_fee"]),
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )
