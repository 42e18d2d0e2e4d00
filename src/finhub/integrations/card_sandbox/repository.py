"""The sandbox's SQL: its vault, charges, refunds and webhook events (its own tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from finhub.kit.db.engine import Connection

CHARGE_COLUMNS = """id, payment_method_id, idempotency_key, amount, currency, status,
    amount_captured, amount_refunded, decline_code, metadata, created_at, updated_at"""


async def insert_payment_method(
    conn: Connection,
    *,
    method_id: str,
    sealed_pan: bytes,
    key_id: str,
    fingerprint: str,
    brand: str,
    last4: str,
    exp_month: int,
    exp_year: int,
    now: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO card_sandbox_payment_methods (id, sealed_pan, key_id, fingerprint, brand,
                                                  last4, exp_month, exp_year, created_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (method_id, sealed_pan, key_id, fingerprint, brand, last4, exp_month, exp_year, now),
    )


async def find_payment_method(conn: Connection, method_id: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        "SELECT * FROM card_sandbox_payment_methods WHERE id = %s", (method_id,)
    )
    return await cursor.fetchone()


async def charge_by_key(conn: Connection, idempotency_key: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        f"SELECT {CHARGE_COLUMNS} FROM card_sandbox_charges WHERE idempotency_key = %s",
        (idempotency_key,),
    )
    return await cursor.fetchone()


async def insert_charge_once(
    conn: Connection,
    *,
    charge_id: str,
    method_id: str,
    idempotency_key: str,
    amount: int,
    currency: str,
    status: str,
    decline_code: str | None,
    metadata: dict[str, str],
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """The charge for `idempotency_key`: inserted now (True) or the one made earlier."""
    cursor = await conn.execute(
        f"""
        INSERT INTO card_sandbox_charges (id, payment_method_id, idempotency_key, amount,
                                          currency, status, decline_code, metadata,
                                          created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING {CHARGE_COLUMNS}
        """,
        (
            charge_id,
            method_id,
            idempotency_key,
            amount,
            currency,
            status,
            decline_code,
            Jsonb(metadata),
            now,
            now,
        ),
    )
    row = await cursor.fetchone()
    if row is not None:
        return row, True
    existing = await charge_by_key(conn, idempotency_key)
    assert existing is not None
    return existing, False


async def lock_charge(conn: Connection, charge_id: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        f"SELECT {CHARGE_COLUMNS} FROM card_sandbox_charges WHERE id = %s FOR UPDATE",
        (charge_id,),
    )
    return await cursor.fetchone()


async def update_charge(
    conn: Connection, charge_id: str, now: datetime, **changes: Any
) -> dict[str, Any]:
    assignments = ", ".join(f"{column} = %s" for column in changes)
    cursor = await conn.execute(
        f"""
        UPDATE card_sandbox_charges SET {assignments}, updated_at = %s
         WHERE id = %s RETURNING {CHARGE_COLUMNS}
        """,
        (*changes.values(), now, charge_id),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def refund_by_key(conn: Connection, idempotency_key: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        "SELECT * FROM card_sandbox_refunds WHERE idempotency_key = %s", (idempotency_key,)
    )
    return await cursor.fetchone()


async def insert_refund(
    conn: Connection,
    *,
    refund_id: str,
    charge_id: str,
    idempotency_key: str,
    amount: int,
    now: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO card_sandbox_refunds (id, charge_id, idempotency_key, amount, created_at)
        VALUES (%s, %s, %s, %s, %s)
        """,
        (refund_id, charge_id, idempotency_key, amount, now),
    )


async def insert_event(
    conn: Connection, *, event_id: str, type: str, payload: dict[str, Any], now: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO card_sandbox_events (id, type, payload, created_at, next_attempt_at)
        VALUES (%s, %s, %s, %s, %s)
        """,
        (event_id, type, Jsonb(payload), now, now),
    )


async def events_for_charge(conn: Connection, charge_id: str) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        """
        SELECT id, type, payload FROM card_sandbox_events
         WHERE payload->'data'->>'charge_id' = %s
         ORDER BY created_at, id
        """,
        (charge_id,),
    )
    return await cursor.fetchall()


async def claim_due_events(conn: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Undelivered events whose next attempt is due, locked so two deliverers never send the
    same event at once."""
    cursor = await conn.execute(
        """
        SELECT id, type, payload, attempts FROM card_sandbox_events
         WHERE delivered_at IS NULL AND next_attempt_at <= %s
         ORDER BY next_attempt_at, id
         LIMIT %s
           FOR UPDATE SKIP LOCKED
        """,
        (now, limit),
    )
    return await cursor.fetchall()


async def mark_delivered(conn: Connection, event_id: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE card_sandbox_events SET delivered_at = %s, attempts = attempts + 1 WHERE id = %s",
        (now, event_id),
    )


async def mark_failed(conn: Connection, event_id: str, next_attempt_at: datetime) -> None:
    await conn.execute(
        """
        UPDATE card_sandbox_events SET attempts = attempts + 1, next_attempt_at = %s
         WHERE id = %s
        """,
        (next_attempt_at, event_id),
    )
