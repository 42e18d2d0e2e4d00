"""SQL of the currencies module: rates, settings, quotes and the rounding carry.

Quotes are always read through their owner (`user_id`), so another person's quote id reads
exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from finhub.fx.models import FxSettings, Quote, RateFact, StoredRate
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id

RATE_COLUMNS = "id, source, base, quote, rate, as_of_date, as_of, created_at"
QUOTE_COLUMNS = """
    id, user_id, sell_currency, buy_currency, fixed_side, sell_amount, buy_amount, fee,
    mid_rate, rate, spread_bps, remainder, rate_source, rate_as_of, created_at, expires_at,
    accepted_at, payment_id
"""


# --- rates ------------------------------------------------------------------------------------


async def upsert_rates(
    conn: Connection,
    source: str,
    facts: Sequence[RateFact],
    *,
    now: datetime,
    created_by: str | None,
) -> int:
    """Store `facts`; the same source, pair and time again replaces the rate (a corrected
    publication). Returns how many rows were new or changed."""
    if not facts:
        return 0
    cursor = await conn.execute(
        """
        INSERT INTO fx_rates (id, source, base, quote, rate, as_of_date, as_of, created_at,
                              created_by)
        SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::numeric[],
                             %s::date[], %s::timestamptz[], %s::timestamptz[], %s::text[])
        ON CONFLICT (source, base, quote, as_of) DO UPDATE
            SET rate = EXCLUDED.rate, created_at = EXCLUDED.created_at,
                created_by = EXCLUDED.created_by
            WHERE fx_rates.rate <> EXCLUDED.rate
        """,
        (
            [new_id("rate") for _ in facts],
            [source] * len(facts),
            [f.base for f in facts],
            [f.quote for f in facts],
            [f.rate for f in facts],
            [f.as_of_date for f in facts],
            [f.as_of for f in facts],
            [now] * len(facts),
            [created_by] * len(facts),
        ),
    )
    return cursor.rowcount


async def latest_rates(
    conn: Connection, currencies: Collection[str] | None = None
) -> list[StoredRate]:
    """The rate in force for each pair (the newest), among `currencies` when given."""
    where = ""
    params: tuple[Any, ...] = ()
    if currencies is not None:
        where = "WHERE base = ANY(%s) AND quote = ANY(%s)"
        params = (list(currencies), list(currencies))
    cursor = await conn.execute(
        f"""
        SELECT DISTINCT ON (base, quote) {RATE_COLUMNS}
        FROM fx_rates {where}
        ORDER BY base, quote, as_of DESC, created_at DESC
        """,
        params,
    )
    return [_stored_rate(row) for row in await cursor.fetchall()]


def _stored_rate(row: dict[str, Any]) -> StoredRate:
    return StoredRate(
        id=row["id"],
        source=row["source"],
        base=row["base"],
        quote=row["quote"],
        rate=row["rate"],
        as_of_date=row["as_of_date"],
        as_of=row["as_of"],
        created_at=row["created_at"],
    )


# --- settings ---------------------------------------------------------------------------------


async def get_settings(conn: Connection, *, for_update: bool = False) -> FxSettings:
    lock = " FOR UPDATE" if for_update else ""
    cursor = await conn.execute(
        f"SELECT ecb_url, spread_bps, updated_at, updated_by FROM fx_settings{lock}"
    )
    row = await cursor.fetchone()
    assert row is not None, "migration 0014 seeds the settings row"
    return FxSettings(**row)


async def update_settings(
    conn: Connection, *, ecb_url: str | None, spread_bps: int, now: datetime, updated_by: str
) -> FxSettings:
    cursor = await conn.execute(
        """
        UPDATE fx_settings SET ecb_url = %s, spread_bps = %s, updated_at = %s, updated_by = %s
        RETURNING ecb_url, spread_bps, updated_at, updated_by
        """,
        (ecb_url, spread_bps, now, updated_by),
    )
    row = await cursor.fetchone()
    assert row is not None
    return FxSettings(**row)


# --- quotes -----------------------------------------------------------------------------------


async def insert_quote(conn: Connection, quote: Quote) -> None:
    await conn.execute(
        f"""
        INSERT INTO fx_quotes ({QUOTE_COLUMNS})
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            quote.id,
            quote.user_id,
            quote.sell_currency,
            quote.buy_currency,
            quote.fixed_side,
            quote.sell_amount,
            quote.buy_amount,
            quote.fee,
            quote.mid_rate,
            quote.rate,
            quote.spread_bps,
            quote.remainder,
            quote.rate_source,
            quote.rate_as_of,
            quote.created_at,
            quote.expires_at,
            quote.accepted_at,
            quote.payment_id,
        ),
    )


async def find_quote(
    conn: Connection, quote_id: str, user_id: str, *, for_update: bool = False
) -> Quote | None:
    lock = " FOR UPDATE" if for_update else ""
    cursor = await conn.execute(
        f"SELECT {QUOTE_COLUMNS} FROM fx_quotes WHERE id = %s AND user_id = %s{lock}",
        (quote_id, user_id),
    )
    row = await cursor.fetchone()
    return _quote(row) if row else None


async def mark_accepted(conn: Connection, quote_id: str, payment_id: str, now: datetime) -> Quote:
    cursor = await conn.execute(
        f"""
        UPDATE fx_quotes SET accepted_at = %s, payment_id = %s
        WHERE id = %s AND accepted_at IS NULL
        RETURNING {QUOTE_COLUMNS}
        """,
        (now, payment_id, quote_id),
    )
    row = await cursor.fetchone()
    assert row is not None, "the caller holds the quote's row lock"
    return _quote(row)


def _quote(row: dict[str, Any]) -> Quote:
    return Quote(
        **{
            **row,
            "sell_amount": int(row["sell_amount"]),
            "buy_amount": int(row["buy_amount"]),
            "fee": int(row["fee"]),
        }
    )


# --- rounding carry ---------------------------------------------------------------------------


async def lock_carry(conn: Connection, currency: str, now: datetime) -> Decimal:
    """The currency's carried fraction, its row locked until the caller commits (created at
    zero on first use)."""
    await conn.execute(
        """
        INSERT INTO fx_rounding_carry (currency, carry, updated_at) VALUES (%s, 0, %s)
        ON CONFLICT (currency) DO NOTHING
        """,
        (currency, now),
    )
    cursor = await conn.execute(
        "SELECT carry FROM fx_rounding_carry WHERE currency = %s FOR UPDATE", (currency,)
    )
    row = await cursor.fetchone()
    assert row is not None
    carry: Decimal = row["carry"]
    return carry


async def store_carry(conn: Connection, currency: str, carry: Decimal, now: datetime) -> None:
    await conn.execute(
        "UPDATE fx_rounding_carry SET carry = %s, updated_at = %s WHERE currency = %s",
        (carry, now, currency),
    )


async def carry_of(conn: Connection, currency: str) -> Decimal:
    cursor = await conn.execute(
        "SELECT carry FROM fx_rounding_carry WHERE currency = %s", (currency,)
    )
    row = await cursor.fetchone()
    return row["carry"] if row else Decimal(0)
