"""All of the top-ups' SQL: tokenised cards, card top-ups and their refunds, processor webhook
events applied, virtual IBANs and incoming bank credits. Queries a customer can reach are
filtered by the caller's user id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ulid import ULID

from finhub.kit.db.engine import Connection

CARD_COLUMNS = "id, user_id, processor_token, brand, last4, exp_month, exp_year, created_at"
TOPUP_COLUMNS = """t.payment_id, t.user_id, t.wallet_id, t.card_id, t.processor_charge_id,
    t.captured_amount, t.refunded_amount, t.refunded_fee, t.capture_transaction_id,
    t.created_at, t.updated_at, c.brand, c.last4, c.exp_month, c.exp_year"""
CREDIT_COLUMNS = """id, bank_transaction_id, reference, iban, amount, currency, sender_name,
    status, unmatched_reason, wallet_id, payment_id, suspense_transaction_id, assigned_by,
    received_at, resolved_at"""


def new_bank_credit_id() -> str:
    return f"bcr_{ULID()}"


# --- cards ------------------------------------------------------------------------------------


async def insert_card(
    conn: Connection,
    *,
    card_id: str,
    user_id: str,
    processor_token: str,
    brand: str,
    last4: str,
    exp_month: int,
    exp_year: int,
    now: datetime,
) -> dict[str, Any]:
    cursor = await conn.execute(
        f"""
        INSERT INTO payment_cards (id, user_id, processor_token, brand, last4, exp_month,
                                   exp_year, created_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING {CARD_COLUMNS}
        """,
        (card_id, user_id, processor_token, brand, last4, exp_month, exp_year, now),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def card_for_user(conn: Connection, card_id: str, user_id: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        f"SELECT {CARD_COLUMNS} FROM payment_cards WHERE id = %s AND user_id = %s",
        (card_id, user_id),
    )
    return await cursor.fetchone()


# --- card top-ups -----------------------------------------------------------------------------


async def insert_topup(
    conn: Connection,
    *,
    payment_id: str,
    user_id: str,
    wallet_id: str,
    card_id: str,
    charge_id: str,
    now: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO card_topups (payment_id, user_id, wallet_id, card_id, processor_charge_id,
                                 created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        """,
        (payment_id, user_id, wallet_id, card_id, charge_id, now, now),
    )


async def topup_for_user(conn: Connection, payment_id: str, user_id: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        f"""
        SELECT {TOPUP_COLUMNS} FROM card_topups t JOIN payment_cards c ON c.id = t.card_id
         WHERE t.payment_id = %s AND t.user_id = %s
        """,
        (payment_id, user_id),
    )
    return await cursor.fetchone()


async def lock_topup_for_user(
    conn: Connection, payment_id: str, user_id: str
) -> dict[str, Any] | None:
    cursor = await conn.execute(
        f"""
        SELECT {TOPUP_COLUMNS} FROM card_topups t JOIN payment_cards c ON c.id = t.card_id
         WHERE t.payment_id = %s AND t.user_id = %s
           FOR UPDATE OF t
        """,
        (payment_id, user_id),
    )
    return await cursor.fetchone()


async def lock_topup_by_charge(conn: Connection, charge_id: str) -> dict[str, Any] | None:
    """For the processor's webhooks, which name the charge (not scoped to a person: the
    signature is the caller's credential)."""
    cursor = await conn.execute(
        f"""
        SELECT {TOPUP_COLUMNS} FROM card_topups t JOIN payment_cards c ON c.id = t.card_id
         WHERE t.processor_charge_id = %s
           FOR UPDATE OF t
        """,
        (charge_id,),
    )
    return await cursor.fetchone()


async def record_capture(
    conn: Connection, payment_id: str, amount: int, transaction_id: str, now: datetime
) -> None:
    await conn.execute(
        """
        UPDATE card_topups SET captured_amount = %s, capture_transaction_id = %s, updated_at = %s
         WHERE payment_id = %s
        """,
        (amount, transaction_id, now, payment_id),
    )


async def record_refund(
    conn: Connection,
    *,
    refund_payment_id: str,
    topup_payment_id: str,
    amount: int,
    fee_returned: int,
    processor_refund_id: str,
    now: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO card_topup_refunds (payment_id, topup_payment_id, amount, fee_returned,
                                        processor_refund_id, created_at)
        VALUES (%s, %s, %s, %s, %s, %s)
        """,
        (refund_payment_id, topup_payment_id, amount, fee_returned, processor_refund_id, now),
    )
    await conn.execute(
        """
        UPDATE card_topups
           SET refunded_amount = refunded_amount + %s, refunded_fee = refunded_fee + %s,
               updated_at = %s
         WHERE payment_id = %s
        """,
        (amount, fee_returned, now, topup_payment_id),
    )


async def refunds_of(conn: Connection, topup_payment_id: str) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        """
        SELECT payment_id AS id, amount, fee_returned, processor_refund_id, created_at
          FROM card_topup_refunds WHERE topup_payment_id = %s ORDER BY created_at, payment_id
        """,
        (topup_payment_id,),
    )
    return await cursor.fetchall()


async def claim_webhook_event(
    conn: Connection, event_id: str, type: str, charge_id: str, now: datetime
) -> bool:
    """True the first time an event id is seen; False for a duplicate."""
    cursor = await conn.execute(
        """
        INSERT INTO card_webhook_events (event_id, type, charge_id, received_at)
        VALUES (%s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING RETURNING event_id
        """,
        (event_id, type, charge_id, now),
    )
    return await cursor.fetchone() is not None


# --- virtual IBANs ----------------------------------------------------------------------------


async def virtual_iban(conn: Connection, wallet_id: str) -> str | None:
    cursor = await conn.execute(
        "SELECT iban FROM wallet_virtual_ibans WHERE wallet_id = %s", (wallet_id,)
    )
    row = await cursor.fetchone()
    return str(row["iban"]) if row else None


async def next_account_number(conn: Connection) -> int:
    cursor = await conn.execute("SELECT nextval('virtual_iban_account_numbers') AS n")
    row = await cursor.fetchone()
    assert row is not None
    return int(row["n"])


async def insert_virtual_iban_once(
    conn: Connection, wallet_id: str, iban: str, account_number: int, now: datetime
) -> str:
    """The wallet's IBAN: this one, or the one a concurrent request stored first."""
    await conn.execute(
        """
        INSERT INTO wallet_virtual_ibans (wallet_id, iban, account_number, created_at)
        VALUES (%s, %s, %s, %s) ON CONFLICT (wallet_id) DO NOTHING
        """,
        (wallet_id, iban, account_number, now),
    )
    stored = await virtual_iban(conn, wallet_id)
    assert stored is not None
    return stored


async def wallet_id_by_iban(conn: Connection, iban: str) -> str | None:
    cursor = await conn.execute(
        "SELECT wallet_id FROM wallet_virtual_ibans WHERE iban = %s", (iban,)
    )
    row = await cursor.fetchone()
    return str(row["wallet_id"]) if row else None


# --- bank credits -----------------------------------------------------------------------------


async def insert_bank_credit_once(
    conn: Connection,
    *,
    credit_id: str,
    bank_transaction_id: str,
    reference: str | None,
    iban: str | None,
    amount: int,
    currency: str,
    sender_name: str,
    status: str,
    now: datetime,
) -> dict[str, Any] | None:
    """The new credit, or None when the bank already sent this transaction."""
    cursor = await conn.execute(
        f"""
        INSERT INTO bank_credits (id, bank_transaction_id, reference, iban, amount, currency,
                                  sender_name, status, received_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (bank_transaction_id) DO NOTHING
        RETURNING {CREDIT_COLUMNS}
        """,
        (credit_id, bank_transaction_id, reference, iban, amount, currency, sender_name, status,
         now),
    )  # fmt: skip
    return await cursor.fetchone()


async def credit_by_bank_transaction(
    conn: Connection, bank_transaction_id: str
) -> dict[str, Any] | None:
    cursor = await conn.execute(
        f"SELECT {CREDIT_COLUMNS} FROM bank_credits WHERE bank_transaction_id = %s",
        (bank_transaction_id,),
    )
    return await cursor.fetchone()


async def lock_credit(conn: Connection, credit_id: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        f"SELECT {CREDIT_COLUMNS} FROM bank_credits WHERE id = %s FOR UPDATE", (credit_id,)
    )
    return await cursor.fetchone()


async def settle_credit(
    conn: Connection,
    credit_id: str,
    *,
    status: str,
    wallet_id: str,
    payment_id: str,
    assigned_by: str | None,
    now: datetime,
) -> dict[str, Any]:
    cursor = await conn.execute(
        f"""
        UPDATE bank_credits
           SET status = %s, wallet_id = %s, payment_id = %s, assigned_by = %s, resolved_at = %s,
               unmatched_reason = CASE WHEN %s = 'assigned' THEN unmatched_reason END
         WHERE id = %s
        RETURNING {CREDIT_COLUMNS}
        """,
        (status, wallet_id, payment_id, assigned_by, now, status, credit_id),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def park_credit(
    conn: Connection, credit_id: str, reason: str, suspense_transaction_id: str
) -> dict[str, Any]:
    cursor = await conn.execute(
        f"""
        UPDATE bank_credits SET unmatched_reason = %s, suspense_transaction_id = %s
         WHERE id = %s RETURNING {CREDIT_COLUMNS}
        """,
        (reason, suspense_transaction_id, credit_id),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def unmatched_credits(
    conn: Connection, *, limit: int, starting_after: str | None
) -> list[dict[str, Any]]:
    """Oldest first: the credit waiting longest is the one to look at first."""
    cursor = await conn.execute(
        f"""
        SELECT {CREDIT_COLUMNS} FROM bank_credits
         WHERE status = 'unmatched' AND (%s::text IS NULL OR id > %s)
         ORDER BY id
         LIMIT %s
        """,
        (starting_after, starting_after, limit),
    )
    return await cursor.fetchall()


async def stale_authorizations(
    conn: Connection, *, older_than: datetime, limit: int
) -> list[tuple[str, str]]:
    """(payment id, hold id) of card top-ups still waiting since before `older_than`, locked
    so two workers don't fail the same one."""
    cursor = await conn.execute(
        """
        SELECT id, hold_transaction_id FROM payments
         WHERE kind = 'card_topup' AND status IN ('requires_action', 'processing')
           AND hold_transaction_id IS NOT NULL AND created_at < %s
         ORDER BY created_at
         LIMIT %s
         FOR UPDATE SKIP LOCKED
        """,
        (older_than, limit),
    )
    return [(row["id"], row["hold_transaction_id"]) for row in await cursor.fetchall()]
