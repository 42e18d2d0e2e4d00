"""All of the payments' SQL (payments and the wallet activity feed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.jsonutil import dumps
from finhub.payments.models import ActivityLine, Payment

COLUMNS = """id, kind, status, wallet_id, counterparty_wallet_id, amount, currency, fee, note,
    metadata, ledger_transaction_id, hold_transaction_id, failure_code, failure_message,
    created_at, updated_at"""


def _payment(row: dict[str, Any]) -> Payment:
    return Payment(**{**row, "amount": int(row["amount"]), "fee": int(row["fee"])})


async def insert_payments(conn: Connection, payments: list[Payment]) -> None:
    """One INSERT for all of them (arrays as binary parameters: cheap to encode)."""
    await conn.execute(
        """
        INSERT INTO payments (id, kind, status, wallet_id, counterparty_wallet_id, amount,
                              currency, fee, note, metadata, ledger_transaction_id,
                              hold_transaction_id, created_at, updated_at)
        SELECT i, k, s, w, cw, a, c, f, n, m::jsonb, lt, ht, t, t
          FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
                      %b::numeric[], %b::text[], %b::numeric[], %b::text[], %b::text[],
                      %b::text[], %b::text[], %b::timestamptz[])
               AS p(i, k, s, w, cw, a, c, f, n, m, lt, ht, t)
        """,
        (
            [p.id for p in payments],
            [p.kind for p in payments],
            [p.status for p in payments],
            [p.wallet_id for p in payments],
            [p.counterparty_wallet_id for p in payments],
            [p.amount for p in payments],
            [p.currency for p in payments],
            [p.fee for p in payments],
            [p.note for p in payments],
            [dumps(p.metadata).decode() for p in payments],
            [p.ledger_transaction_id for p in payments],
            [p.hold_transaction_id for p in payments],
            [p.created_at for p in payments],
        ),
    )


async def insert_activity_lines(
    conn: Connection, lines_of: list[tuple[Payment, list[ActivityLine]]], now: datetime
) -> None:
    """Each payment's lines in the wallet activity feed, with the payment's kind and status."""
    rows = [(payment, line) for payment, lines in lines_of for line in lines]
    if not rows:
        return
    await conn.execute(
        """
        INSERT INTO wallet_activity (id, wallet_id, payment_id, kind, direction, amount,
                                     currency, fee, counterparty, note, status, created_at,
                                     updated_at)
        SELECT i, w, p, k, d, a, c, f, cp, n, s, %b, %b
          FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
                      %b::numeric[], %b::text[], %b::numeric[], %b::text[], %b::text[],
                      %b::text[]) AS l(i, w, p, k, d, a, c, f, cp, n, s)
        """,
        (
            now,
            now,
            [new_id("act") for _ in rows],
            [line.wallet_id for _, line in rows],
            [payment.id for payment, _ in rows],
            [payment.kind for payment, _ in rows],
            [line.direction for _, line in rows],
            [line.amount for _, line in rows],
            [line.currency for _, line in rows],
            [line.fee for _, line in rows],
            [line.counterparty for _, line in rows],
            [line.note for _, line in rows],
            [payment.status for payment, _ in rows],
        ),
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
