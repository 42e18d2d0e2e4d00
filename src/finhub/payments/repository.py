"""All of the payments' SQL (payments and the wallet activity feed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.payments.models import ActivityLine, Payment

COLUMNS = """id, kind, status, wallet_id, counterparty_wallet_id, amount, currency, fee, note,
    metadata, ledger_transaction_id, hold_transaction_id, failure_code, failure_message,
    created_at, updated_at"""


def _payment(row: dict[str, Any]) -> Payment:
    return Payment(**{**row, "amount": int(row["amount"]), "fee": int(row["fee"])})


async def insert_payments(conn: Connection, payments: list[Payment]) -> None:
    await conn.cursor().executemany(
        """
        INSERT INTO payments (id, kind, status, wallet_id, counterparty_wallet_id, amount,
                              currency, fee, note, metadata, ledger_transaction_id,
                              hold_transaction_id, created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        [
            (
                p.id, p.kind, p.status, p.wallet_id, p.counterparty_wallet_id, p.amount,
                p.currency, p.fee, p.note, Jsonb(p.metadata), p.ledger_transaction_id,
                p.hold_transaction_id, p.created_at, p.updated_at,
            )
            for p in payments
        ],
    )  # fmt: skip


async def insert_activity_lines(
    conn: Connection, lines_of: list[tuple[Payment, list[ActivityLine]]], now: datetime
) -> None:
    """Each payment's lines in the wallet activity feed, with the payment's kind and status."""
    rows = [
        (
            new_id("act"), line.wallet_id, payment.id, payment.kind, line.direction,
            line.amount, line.currency, line.fee, line.counterparty, line.note, payment.status,
            now, now,
        )
        for payment, lines in lines_of
        for line in lines
    ]  # fmt: skip
    if not rows:
        return
    await conn.cursor().executemany(
        """
        INSERT INTO wallet_activity (id, wallet_id, payment_id, kind, direction, amount,
                                     currency, fee, counterparty, note, status, created_at,
                                     updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        rows,
    )


async def find(conn: Connection, payment_id: str) -> Payment | None:
    cursor = await conn.execute(f"SELECT {COLUMNS} FROM payments WHERE id = %s", (payment_id,))
    row = await cursor.fetchone()
    return _payment(row) if row else None


async def lock_payment(conn: Connection, payment_id: str) -> Payment | None:
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM payments WHERE id = %s FOR UPDATE", (payment_id,)
    )
    row = await cursor.fetchone()
    return _payment(row) if row else None


async def update_status(
    conn: Connection,
    payment_id: str,
    *,
    status: str,
    ledger_transaction_id: str | None,
    failure_code: str | None,
    failure_message: str | None,
    now: datetime,
) -> Payment:
    cursor = await conn.execute(
        f"""
        UPDATE payments
           SET status = %s,
               ledger_transaction_id = coalesce(%s, ledger_transaction_id),
               failure_code = %s, failure_message = %s, updated_at = %s
         WHERE id = %s
        RETURNING {COLUMNS}
        """,
        (status, ledger_transaction_id, failure_code, failure_message, now, payment_id),
    )
    row = await cursor.fetchone()
    assert row is not None
    await conn.execute(
        "UPDATE wallet_activity SET status = %s, updated_at = %s WHERE payment_id = %s",
        (status, now, payment_id),
    )
    return _payment(row)


async def find_for_wallet(conn: Connection, payment_id: str, wallet_id: str) -> Payment | None:
    """A payment the wallet started or received; None for anyone else's."""
    cursor = await conn.execute(
        f"""
        SELECT {COLUMNS} FROM payments
         WHERE id = %s AND (wallet_id = %s OR counterparty_wallet_id = %s)
        """,
        (payment_id, wallet_id, wallet_id),
    )
    row = await cursor.fetchone()
    return _payment(row) if row else None
