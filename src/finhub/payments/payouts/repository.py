"""All of money-out's SQL: payees, payouts, payout batches and imported status reports.

Queries a person can reach take their user id and filter by it, so another person's payee or
withdrawal is simply not found. Batch queries are for staff and are not scoped to a person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from finhub.kit.db.engine import Connection
from finhub.payments.payouts.models import BankDetails, Payee, Payout, PayoutBatch

PAYEE_COLUMNS = """id, user_id, name, nickname, currency, country, iban, bic, account_number,
    clearing_system, clearing_code, created_at, removed_at"""
PAYOUT_COLUMNS = """payment_id, user_id, wallet_id, payee_id, amount, currency, end_to_end_id,
    status, batch_id, reason_code, report_message_id, created_at, updated_at"""
BATCH_COLUMNS = """id, currency, scheme, message_id, payment_count, control_sum, status, pain001,
    pain001_sha256, created_by, created_at, settled_at"""


def _payee(row: dict[str, Any]) -> Payee:
    return Payee(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        nickname=row["nickname"],
        currency=row["currency"],
        bank=BankDetails(
            country=row["country"],
            iban=row["iban"],
            bic=row["bic"],
            account_number=row["account_number"],
            clearing_system=row["clearing_system"],
            clearing_code=row["clearing_code"],
        ),
        created_at=row["created_at"],
        removed_at=row["removed_at"],
    )


def _payout(row: dict[str, Any]) -> Payout:
    return Payout(**{**row, "amount": int(row["amount"])})


def _batch(row: dict[str, Any]) -> PayoutBatch:
    return PayoutBatch(**{**row, "control_sum": int(row["control_sum"])})


# --- payees ------------------------------------------------------------------------------------


async def insert_payee(
    conn: Connection,
    *,
    payee_id: str,
    user_id: str,
    name: str,
    nickname: str | None,
    currency: str,
    bank: BankDetails,
    now: datetime,
) -> Payee:
    cursor = await conn.execute(
        f"""
        INSERT INTO payees (id, user_id, name, nickname, currency, country, iban, bic,
                            account_number, clearing_system, clearing_code, created_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING {PAYEE_COLUMNS}
        """,
        (
            payee_id,
            user_id,
            name,
            nickname,
            currency,
            bank.country,
            bank.iban,
            bank.bic,
            bank.account_number,
            bank.clearing_system,
            bank.clearing_code,
            now,
        ),
    )
    row = await cursor.fetchone()
    assert row is not None
    return _payee(row)


async def find_payee(conn: Connection, payee_id: str, user_id: str) -> Payee | None:
    """One of the person's saved payees (removed ones are gone for them)."""
    cursor = await conn.execute(
        f"""SELECT {PAYEE_COLUMNS} FROM payees
             WHERE id = %s AND user_id = %s AND removed_at IS NULL""",
        (payee_id, user_id),
    )
    row = await cursor.fetchone()
    return _payee(row) if row else None


async def list_payees(
    conn: Connection, user_id: str, *, limit: int, starting_after: str | None
) -> list[Payee]:
    """The person's payees, newest first."""
    cursor = await conn.execute(
        f"""SELECT {PAYEE_COLUMNS} FROM payees
             WHERE user_id = %s AND removed_at IS NULL AND (%s::text IS NULL OR id < %s)
             ORDER BY id DESC LIMIT %s""",
        (user_id, starting_after, starting_after, limit),
    )
    return [_payee(row) for row in await cursor.fetchall()]


async def remove_payee(
    conn: Connection, payee_id: str, user_id: str, now: datetime
) -> Payee | None:
    cursor = await conn.execute(
        f"""UPDATE payees SET removed_at = %s
             WHERE id = %s AND user_id = %s AND removed_at IS NULL
            RETURNING {PAYEE_COLUMNS}""",
        (now, payee_id, user_id),
    )
    row = await cursor.fetchone()
    return _payee(row) if row else None


# --- payouts -----------------------------------------------------------------------------------


async def insert_payout(
    conn: Connection,
    *,
    payment_id: str,
    user_id: str,
    wallet_id: str,
    payee_id: str,
    amount: int,
    currency: str,
    end_to_end_id: str,
    now: datetime,
) -> Payout:
    cursor = await conn.execute(
        f"""
        INSERT INTO payouts (payment_id, user_id, wallet_id, payee_id, amount, currency,
                             end_to_end_id, created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING {PAYOUT_COLUMNS}
        """,
        (payment_id, user_id, wallet_id, payee_id, amount, currency, end_to_end_id, now, now),
    )
    row = await cursor.fetchone()
    assert row is not None
    return _payout(row)


async def find_payout(
    conn: Connection, payment_id: str, user_id: str, *, lock: bool = False
) -> Payout | None:
    """The person's withdrawal; `lock` holds its row until commit (a batch run skips it)."""
    cursor = await conn.execute(
        f"""SELECT {PAYOUT_COLUMNS} FROM payouts WHERE payment_id = %s AND user_id = %s
            {"FOR UPDATE" if lock else ""}""",
        (payment_id, user_id),
    )
    row = await cursor.fetchone()
    return _payout(row) if row else None


async def set_payout_status(
    conn: Connection,
    payment_id: str,
    status: str,
    now: datetime,
    *,
    reason_code: str | None = None,
    report_message_id: str | None = None,
) -> None:
    await conn.execute(
        """UPDATE payouts SET status = %s, reason_code = %s, report_message_id = %s,
                  updated_at = %s
            WHERE payment_id = %s""",
        (status, reason_code, report_message_id, now, payment_id),
    )


async def claim_unbatched(conn: Connection, *, currency: str | None, limit: int) -> list[Payout]:
    """Withdrawals waiting for a batch, locked for this run. Rows another run (or a cancel)
    holds are skipped, never waited for: each withdrawal goes to exactly one batch."""
    cursor = await conn.execute(
        f"""SELECT {PAYOUT_COLUMNS} FROM payouts
             WHERE status = 'pending' AND (%s::text IS NULL OR currency = %s)
             ORDER BY currency, created_at, payment_id
             LIMIT %s
             FOR UPDATE SKIP LOCKED""",
        (currency, currency, limit),
    )
    return [_payout(row) for row in await cursor.fetchall()]


async def mark_batched(
    conn: Connection, batch_id: str, payment_ids: list[str], now: datetime
) -> int:
    cursor = await conn.execute(
        """UPDATE payouts SET status = 'batched', batch_id = %s, updated_at = %s
            WHERE payment_id = ANY(%s) AND status = 'pending'""",
        (batch_id, now, payment_ids),
    )
    return cursor.rowcount


async def payees_by_id(conn: Connection, payee_ids: list[str]) -> dict[str, Payee]:
    """Payees of payouts being exported, removed ones included (staff use only)."""
    cursor = await conn.execute(
        f"SELECT {PAYEE_COLUMNS} FROM payees WHERE id = ANY(%s)", (payee_ids,)
    )
    return {row["id"]: _payee(row) for row in await cursor.fetchall()}


async def batch_payouts(conn: Connection, batch_id: str, *, lock: bool = False) -> list[Payout]:
    cursor = await conn.execute(
        f"""SELECT {PAYOUT_COLUMNS} FROM payouts WHERE batch_id = %s
             ORDER BY payment_id {"FOR UPDATE" if lock else ""}""",
        (batch_id,),
    )
    return [_payout(row) for row in await cursor.fetchall()]


# --- batches -----------------------------------------------------------------------------------


async def insert_batch(conn: Connection, batch: PayoutBatch) -> None:
    await conn.execute(
        f"""INSERT INTO payout_batches ({BATCH_COLUMNS})
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            batch.id,
            batch.currency,
            batch.scheme,
            batch.message_id,
            batch.payment_count,
            batch.control_sum,
            batch.status,
            batch.pain001,
            batch.pain001_sha256,
            batch.created_by,
            batch.created_at,
            batch.settled_at,
        ),
    )


async def find_batch(conn: Connection, batch_id: str, *, lock: bool = False) -> PayoutBatch | None:
    cursor = await conn.execute(
        f"SELECT {BATCH_COLUMNS} FROM payout_batches WHERE id = %s {'FOR UPDATE' if lock else ''}",
        (batch_id,),
    )
    row = await cursor.fetchone()
    return _batch(row) if row else None


async def list_batches(
    conn: Connection, *, limit: int, starting_after: str | None
) -> list[PayoutBatch]:
    cursor = await conn.execute(
        f"""SELECT {BATCH_COLUMNS} FROM payout_batches
             WHERE (%s::text IS NULL OR id < %s) ORDER BY id DESC LIMIT %s""",
        (starting_after, starting_after, limit),
    )
    return [_batch(row) for row in await cursor.fetchall()]


async def mark_batch_settled(conn: Connection, batch_id: str, now: datetime) -> None:
    await conn.execute(
        """UPDATE payout_batches SET status = 'settled', settled_at = %s
            WHERE id = %s AND status = 'exported'""",
        (now, batch_id),
    )


# --- status reports ----------------------------------------------------------------------------


async def find_report(conn: Connection, batch_id: str, message_id: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        """SELECT batch_id, message_id, content_sha256, paid_count, failed_count, imported_at
             FROM payout_status_reports WHERE batch_id = %s AND message_id = %s""",
        (batch_id, message_id),
    )
    return await cursor.fetchone()


async def insert_report(
    conn: Connection,
    *,
    batch_id: str,
    message_id: str,
    content_sha256: str,
    paid: int,
    failed: int,
    imported_by: str,
    now: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO payout_status_reports (batch_id, message_id, content_sha256, paid_count,
                                              failed_count, imported_by, imported_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (batch_id, message_id, content_sha256, paid, failed, imported_by, now),
    )
