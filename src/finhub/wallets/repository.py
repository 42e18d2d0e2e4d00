"""All of the wallets' SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from finhub.kit.db.engine import Connection
from finhub.wallets.models import Wallet

COLUMNS = "id, user_id, home_currency, status, payment_reference, created_at, closed_at"


async def insert_wallet_once(
    conn: Connection,
    *,
    wallet_id: str,
    user_id: str,
    home_currency: str,
    payment_reference: str,
    now: datetime,
) -> Wallet:
    """The person's wallet, created now if they have none (safe under concurrency)."""
    cursor = await conn.execute(
        f"""
        INSERT INTO wallets (id, user_id, home_currency, payment_reference, created_at)
        VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (user_id) DO NOTHING
        RETURNING {COLUMNS}
        """,
        (wallet_id, user_id, home_currency, payment_reference, now),
    )
    row = await cursor.fetchone()
    if row is None:
        found = await find_by_user(conn, user_id)
        assert found is not None
        return found
    return Wallet(**row)


async def find_by_user(conn: Connection, user_id: str) -> Wallet | None:
    cursor = await conn.execute(f"SELECT {COLUMNS} FROM wallets WHERE user_id = %s", (user_id,))
    row = await cursor.fetchone()
    return Wallet(**row) if row else None


async def find(conn: Connection, wallet_id: str) -> Wallet | None:
    cursor = await conn.execute(f"SELECT {COLUMNS} FROM wallets WHERE id = %s", (wallet_id,))
    row = await cursor.fetchone()
    return Wallet(**row) if row else None


async def find_by_reference(conn: Connection, reference: str) -> Wallet | None:
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM wallets WHERE payment_reference = %s", (reference,)
    )
    row = await cursor.fetchone()
    return Wallet(**row) if row else None


async def user_for_wallet_open(conn: Connection, user_id: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        "SELECT status, email_verified_at, home_currency FROM users WHERE id = %s", (user_id,)
    )
    return await cursor.fetchone()


async def balance_account(conn: Connection, wallet_id: str, currency: str) -> str | None:
    cursor = await conn.execute(
        "SELECT ledger_account_id FROM wallet_balances WHERE wallet_id = %s AND currency = %s",
        (wallet_id, currency),
    )
    row = await cursor.fetchone()
    return str(row["ledger_account_id"]) if row else None


async def balance_accounts(
    conn: Connection, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The ledger account of each (wallet, currency) that is open, in one round trip."""
    cursor = await conn.execute(
        """
        SELECT b.wallet_id, b.currency, b.ledger_account_id
          FROM unnest(%s::text[], %s::text[]) AS l(wallet_id, currency)
          JOIN wallet_balances b ON b.wallet_id = l.wallet_id AND b.currency = l.currency
        """,
        ([wallet_id for wallet_id, _ in pairs], [currency for _, currency in pairs]),
    )
    return {
        (row["wallet_id"], row["currency"]): str(row["ledger_account_id"])
        for row in await cursor.fetchall()
    }


async def insert_balance_once(
    conn: Connection, wallet_id: str, currency: str, account_id: str, now: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO wallet_balances (wallet_id, currency, ledger_account_id, opened_at)
        VALUES (%s, %s, %s, %s) ON CONFLICT (wallet_id, currency) DO NOTHING
        """,
        (wallet_id, currency, account_id, now),
    )


async def balances(conn: Connection, wallet_id: str) -> list[dict[str, Any]]:
    """Each currency's totals, straight from the ledger account (read-only)."""
    cursor = await conn.execute(
        """
        SELECT b.currency, b.ledger_account_id,
               a.credits_posted - a.debits_posted AS balance,
               a.debits_pending AS held
          FROM wallet_balances b JOIN ledger_accounts a ON a.id = b.ledger_account_id
         WHERE b.wallet_id = %s
         ORDER BY b.opened_at, b.currency
        """,
        (wallet_id,),
    )
    return await cursor.fetchall()


async def status_for_share(conn: Connection, wallet_id: str) -> str | None:
    """The wallet's status under a share lock: it waits for a close in progress (which holds
    the row's update lock) and keeps the wallet from closing until the caller commits."""
    cursor = await conn.execute("SELECT status FROM wallets WHERE id = %s FOR SHARE", (wallet_id,))
    row = await cursor.fetchone()
    return str(row["status"]) if row else None


async def lock(conn: Connection, wallet_id: str) -> None:
    await conn.execute("SELECT 1 FROM wallets WHERE id = %s FOR UPDATE", (wallet_id,))


async def set_home_currency(conn: Connection, wallet_id: str, currency: str) -> None:
    await conn.execute("UPDATE wallets SET home_currency = %s WHERE id = %s", (currency, wallet_id))


async def close(conn: Connection, wallet_id: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE wallets SET status = 'closed', closed_at = %s WHERE id = %s AND status = 'active'",
        (now, wallet_id),
    )
