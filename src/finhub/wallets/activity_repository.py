"""SQL of what a wallet shows: the activity feed, its filters and search, the statement's
ledger lines, and the wallet's own settings.

Every query takes the caller's wallet id and filters by it, so another wallet's lines never
come back. Statement lines read the ledger's entries of the wallet's own account read-only (the
entries carry the balance after each, DESIGN.md §3), the same way `repository.balances` reads
the account totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from finhub.kit.db.engine import Connection

ACTIVITY_COLUMNS = """id, wallet_id, payment_id, kind, direction, amount, currency, fee,
    counterparty, note, status, created_at, updated_at"""


@dataclass(frozen=True, slots=True)
class ActivityFilter:
    """The feed's filters; every one is optional and they combine with AND."""

    kinds: tuple[str, ...] = ()
    direction: str | None = None
    statuses: tuple[str, ...] = ()
    currency: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    search: str | None = None


def like_pattern(text: str) -> str:
    """`text` as a literal substring pattern for ILIKE (its own % and _ match themselves)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(wallet_id: str, where: ActivityFilter) -> tuple[list[str], list[Any]]:
    clauses = ["wallet_id = %s"]
    params: list[Any] = [wallet_id]
    if where.kinds:
        clauses.append("kind = ANY(%s)")
        params.append(list(where.kinds))
    if where.statuses:
        clauses.append("status = ANY(%s)")
        params.append(list(where.statuses))
    for column, operator, value in (
        ("direction", "=", where.direction),
        ("currency", "=", where.currency),
        ("created_at", ">=", where.created_gte),
        ("created_at", "<", where.created_lt),
        ("amount", ">=", where.min_amount),
        ("amount", "<=", where.max_amount),
    ):
        if value is not None:
            clauses.append(f"{column} {operator} %s")
            params.append(value)
    if where.search:
        # The search walks this wallet's part of the feed index newest first and stops once
        # the page is full, so it is bounded by one wallet's lines, never the whole table.
        pattern = like_pattern(where.search)
        clauses.append("(note ILIKE %s OR counterparty ILIKE %s)")
        params.extend([pattern, pattern])
    return clauses, params


async def list_activity(
    conn: Connection,
    wallet_id: str,
    where: ActivityFilter,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> list[dict[str, Any]]:
    """The wallet's lines, newest first; `after` is the (created_at, id) of the last line seen."""
    clauses, params = _where(wallet_id, where)
    if after is not None:
        clauses.append("(created_at, id) < (%s, %s)")
        params.extend(after)
    params.append(limit)
    # Only constant column lists and clauses are spliced in; every value is a parameter.
    cursor = await conn.execute(
        f"""
        SELECT {ACTIVITY_COLUMNS} FROM wallet_activity
         WHERE {" AND ".join(clauses)}
         ORDER BY created_at DESC, id DESC
         LIMIT %s
        """,
        params,
    )
    return await cursor.fetchall()


async def find_activity(
    conn: Connection, wallet_id: str, activity_id: str
) -> dict[str, Any] | None:
    cursor = await conn.execute(
        f"SELECT {ACTIVITY_COLUMNS} FROM wallet_activity WHERE id = %s AND wallet_id = %s",
        (activity_id, wallet_id),
    )
    return await cursor.fetchone()


async def posted_entries(
    conn: Connection,
    *,
    ledger_id: str,
    account_id: str,
    wallet_id: str,
    after_seq: int,
    upto_seq: int,
) -> list[dict[str, Any]]:
    """The account's posted entries with `after_seq < account_seq <= upto_seq`, oldest first,
    each with the wallet's activity line of the payment behind it (if any).

    A payment is found from the transaction's `payment_id` metadata, or for the posting of a
    hold from the hold's metadata. Of that payment's lines for this wallet, the one in the
    account's currency and on the entry's side is preferred (a conversion has an `out` and an
    `in` line for the same wallet)."""
    cursor = await conn.execute(
        """
        SELECT e.account_seq, e.transaction_id, e.direction, e.amount, e.posted_at,
               e.credits_posted_after - e.debits_posted_after AS balance_after,
               t.kind AS transaction_kind, t.description,
               a.payment_id, a.kind, a.counterparty, a.note, a.fee, a.id AS activity_id
          FROM ledger_entries e
          JOIN ledger_transactions t ON t.ledger_id = e.ledger_id AND t.id = e.transaction_id
          LEFT JOIN ledger_transactions h ON h.ledger_id = t.ledger_id AND h.id = t.pending_id
          LEFT JOIN LATERAL (
                SELECT w.id, w.payment_id, w.kind, w.counterparty, w.note, w.fee
                  FROM wallet_activity w
                 WHERE w.wallet_id = %s
                   AND w.payment_id = coalesce(t.metadata->>'payment_id',
                                               h.metadata->>'payment_id')
                 ORDER BY (w.currency = e.asset) DESC,
                          (w.direction = CASE e.direction WHEN 'debit' THEN 'out'
                                                          ELSE 'in' END) DESC
                 LIMIT 1
               ) a ON true
         WHERE e.ledger_id = %s AND e.account_id = %s AND e.phase = 'posted'
           AND e.account_seq > %s AND e.account_seq <= %s
         ORDER BY e.account_seq
        """,
        (wallet_id, ledger_id, account_id, after_seq, upto_seq),
    )
    return await cursor.fetchall()


# --- the summary ------------------------------------------------------------------------------


async def activity_totals(
    conn: Connection,
    wallet_id: str,
    *,
    start: datetime,
    end: datetime,
    statuses: tuple[str, ...],
) -> list[dict[str, Any]]:
    """The wallet's lines created in [start, end) with one of `statuses`, summed per direction,
    kind and currency (a range of the feed index, so a month costs that month's lines)."""
    cursor = await conn.execute(
        """
        SELECT direction, kind, currency, sum(amount) AS amount, sum(fee) AS fee
          FROM wallet_activity
         WHERE wallet_id = %s AND created_at >= %s AND created_at < %s AND status = ANY(%s)
         GROUP BY direction, kind, currency
        """,
        (wallet_id, start, end, list(statuses)),
    )
    return await cursor.fetchall()


async def balances_at(
    conn: Connection, wallet_id: str, moments: list[datetime]
) -> list[dict[str, Any]]:
    """Each currency balance of the wallet as it was just before each of `moments`: the
    posted balance after the account's last ledger entry before it (DESIGN.md §3), one
    backward probe of the ledger's (account, posted_at) index per balance and moment."""
    cursor = await conn.execute(
        """
        SELECT b.currency, m.n AS moment,
               coalesce(e.credits_posted_after - e.debits_posted_after, 0) AS balance
          FROM wallet_balances b
          JOIN ledger_accounts a ON a.id = b.ledger_account_id
         CROSS JOIN unnest(%s::timestamptz[]) WITH ORDINALITY AS m(at, n)
          LEFT JOIN LATERAL (
                SELECT x.credits_posted_after, x.debits_posted_after
                  FROM ledger_entries x
                 WHERE x.ledger_id = a.ledger_id AND x.account_id = a.id AND x.posted_at < m.at
                 ORDER BY x.posted_at DESC, x.account_seq DESC
                 LIMIT 1
               ) e ON true
         WHERE b.wallet_id = %s
         ORDER BY b.currency, m.n
        """,
        (moments, wallet_id),
    )
    return await cursor.fetchall()
