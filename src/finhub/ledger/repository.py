"""All of the ledger's SQL. Every function takes the caller's connection and never commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from finhub.kit.db import Row
from finhub.kit.db.arrays import int_array, text_array, timestamp_array
from finhub.kit.jsonutil import dumps
from finhub.kit.money import Asset
from finhub.ledger import errors
from finhub.ledger.models import (
    RESOLUTION_STATUS,
    Account,
    AccountState,
    AccountType,
    Direction,
    Entry,
    Phase,
    Transaction,
    TransactionKind,
    TransactionSpec,
)

Conn = AsyncConnection[Row]

ACCOUNT_COLUMNS = """
    ledger_id, id, asset, type, normal_side, name, external_ref, owner_ref, metadata, status,
    debits_must_not_exceed_credits, credits_must_not_exceed_debits, overdraft_limit,
    debits_posted, credits_posted, debits_pending, credits_pending, entry_count, version,
    created_at, closed_at
"""

ENTRY_COLUMNS = """
    id, transaction_id, account_id, asset, direction, phase, amount, account_seq,
    debits_posted_after, credits_posted_after, debits_pending_after, credits_pending_after,
    posted_at
"""


# --- assets -----------------------------------------------------------------------------------


async def get_asset(conn: Conn, code: str) -> Asset | None:
    cursor = await conn.execute(
        "SELECT code, scale, name, kind FROM assets WHERE code = %s", (code,)
    )
    row = await cursor.fetchone()
    return Asset(row["code"], row["scale"], row["name"], row["kind"]) if row else None


async def list_assets(conn: Conn) -> list[Asset]:
    cursor = await conn.execute("SELECT code, scale, name, kind FROM assets ORDER BY code")
    return [Asset(r["code"], r["scale"], r["name"], r["kind"]) for r in await cursor.fetchall()]


async def insert_asset(conn: Conn, asset: Asset, *, if_absent: bool = False) -> bool:
    conflict = " ON CONFLICT (code) DO NOTHING" if if_absent else ""
    try:
        cursor = await conn.execute(
            "INSERT INTO assets (code, scale, name, kind) VALUES (%s, %s, %s, %s)" + conflict,
            (asset.code, asset.scale, asset.name, asset.kind),
        )
    except UniqueViolation as exc:
        raise errors.AssetExists(f"Asset {asset.code} already exists") from exc
    return cursor.rowcount == 1


# --- accounts ---------------------------------------------------------------------------------


# Enum members by value: a dict lookup costs a fraction of calling the Enum, and statement
# pages and locked batches convert thousands of rows.
DIRECTIONS = {direction.value: direction for direction in Direction}
PHASES = {phase.value: phase for phase in Phase}


def _state(row: Row) -> AccountState:
    return AccountState(
        ledger_id=row["ledger_id"],
        id=row["id"],
        asset=row["asset"],
        normal_side=Direction(row["normal_side"]),
        status=row["status"],
        debits_must_not_exceed_credits=row["debits_must_not_exceed_credits"],
        credits_must_not_exceed_debits=row["credits_must_not_exceed_debits"],
        overdraft_limit=int(row["overdraft_limit"]),
        debits_posted=int(row["debits_posted"]),
        credits_posted=int(row["credits_posted"]),
        debits_pending=int(row["debits_pending"]),
        credits_pending=int(row["credits_pending"]),
        entry_count=row["entry_count"],
    )


def _account(row: Row) -> Account:
    return Account(
        state=_state(row),
        type=AccountType(row["type"]),
        name=row["name"],
        external_ref=row["external_ref"],
        owner_ref=row["owner_ref"],
        metadata=row["metadata"],
        version=row["version"],
        created_at=row["created_at"],
        closed_at=row["closed_at"],
    )


@dataclass(frozen=True, slots=True)
class NewAccount:
    ledger_id: str
    id: str
    asset: str
    type: AccountType
    normal_side: Direction
    name: str | None
    external_ref: str | None
    owner_ref: str | None
    metadata: dict[str, Any]
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    overdraft_limit: int


async def insert_account(conn: Conn, new: NewAccount) -> Account:
    try:
        cursor = await conn.execute(
            f"""
            INSERT INTO ledger_accounts (
                ledger_id, id, asset, type, normal_side, name, external_ref, owner_ref, metadata,
                debits_must_not_exceed_credits, credits_must_not_exceed_debits, overdraft_limit)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            RETURNING {ACCOUNT_COLUMNS}
            """,
            (
                new.ledger_id,
                new.id,
                new.asset,
                new.type.value,
                new.normal_side.value,
                new.name,
                new.external_ref,
                new.owner_ref,
                Jsonb(new.metadata),
                new.debits_must_not_exceed_credits,
                new.credits_must_not_exceed_debits,
                new.overdraft_limit,
            ),
        )
    except UniqueViolation as exc:
        raise errors.DuplicateExternalRef(
            f"External reference {new.external_ref!r} is already used in ledger {new.ledger_id}"
        ) from exc
    row = await cursor.fetchone()
    assert row is not None
    return _account(row)


async def insert_account_once(conn: Conn, new: NewAccount) -> Account:
    """Insert the account unless its external reference exists in the ledger; either way
    return the account with that reference. Safe under concurrency: a racing insert waits for
    the first to commit and then finds it."""
    assert new.external_ref is not None
    cursor = await conn.execute(
        f"""
        INSERT INTO ledger_accounts (
            ledger_id, id, asset, type, normal_side, name, external_ref, owner_ref, metadata,
            debits_must_not_exceed_credits, credits_must_not_exceed_debits, overdraft_limit)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (ledger_id, external_ref) DO NOTHING
        RETURNING {ACCOUNT_COLUMNS}
        """,
        (
            new.ledger_id,
            new.id,
            new.asset,
            new.type.value,
            new.normal_side.value,
            new.name,
            new.external_ref,
            new.owner_ref,
            Jsonb(new.metadata),
            new.debits_must_not_exceed_credits,
            new.credits_must_not_exceed_debits,
            new.overdraft_limit,
        ),
    )
    row = await cursor.fetchone()
    if row is None:
        cursor = await conn.execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts"
            " WHERE ledger_id = %s AND external_ref = %s",
            (new.ledger_id, new.external_ref),
        )
        row = await cursor.fetchone()
    assert row is not None
    return _account(row)


async def get_account(conn: Conn, account_id: str, *, for_update: bool = False) -> Account | None:
    lock = " FOR NO KEY UPDATE" if for_update else ""
    cursor = await conn.execute(
        f"SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = %s{lock}", (account_id,)
    )
    row = await cursor.fetchone()
    return _account(row) if row else None


@dataclass(frozen=True, slots=True)
class AccountFilter:
    ledger_id: str | None = None
    asset: str | None = None
    type: AccountType | None = None
    owner_ref: str | None = None
    external_ref: str | None = None
    status: str | None = None
    metadata: dict[str, str] | None = None


async def list_accounts(
    conn: Conn, where: AccountFilter, *, limit: int, starting_after: str | None
) -> list[Account]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("ledger_id", where.ledger_id),
        ("asset", where.asset),
        ("type", where.type.value if where.type else None),
        ("owner_ref", where.owner_ref),
        ("external_ref", where.external_ref),
        ("status", where.status),
    ):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if where.metadata:
        clauses.append("metadata @> %s")
        params.append(Jsonb(where.metadata))
    if starting_after:
        clauses.append("id < %s")
        params.append(starting_after)
    sql = f"SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY id DESC LIMIT %s"
    params.append(limit)
    cursor = await conn.execute(sql, params)
    return [_account(row) for row in await cursor.fetchall()]


async def lock_account_states(conn: Conn, account_ids: Collection[str]) -> dict[str, AccountState]:
    """Lock the accounts in id order (so concurrent batches never deadlock) and read them.

    Rows come as tuples and amounts as text: a batch locks thousands of accounts, and dict rows
    and Decimal amounts made reading them cost more than the database's own work.
    """
    cursor = conn.cursor(row_factory=tuple_row)
    await cursor.execute(
        """
        SELECT ledger_id, id, asset, normal_side, status, debits_must_not_exceed_credits,
               credits_must_not_exceed_debits, overdraft_limit::text, debits_posted::text,
               credits_posted::text, debits_pending::text, credits_pending::text, entry_count
          FROM ledger_accounts
         WHERE id = ANY(%s::text[])
         ORDER BY id
           FOR NO KEY UPDATE
        """,
        (text_array(sorted(set(account_ids))),),
    )
    return {row[1]: _locked_state(row) for row in await cursor.fetchall()}


def _locked_state(row: tuple[Any, ...]) -> AccountState:
    ledger_id, account_id, asset, side, status, debits_capped, credits_capped = row[:7]
    limit, debits_posted, credits_posted, debits_pending, credits_pending = map(int, row[7:12])
    return AccountState(
        ledger_id, account_id, asset, DIRECTIONS[side], status, debits_capped, credits_capped,
        limit, debits_posted, credits_posted, debits_pending, credits_pending, row[12],
    )  # fmt: skip


async def close_account(conn: Conn, ledger_id: str, account_id: str) -> None:
    await conn.execute(
        "UPDATE ledger_accounts SET status = 'closed', closed_at = now(), version = version + 1"
        " WHERE ledger_id = %s AND id = %s",
        (ledger_id, account_id),
    )


# --- writing postings -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrittenTransaction:
    id: str
    created_at: datetime
    effective_at: datetime


async def write_postings(
    conn: Conn,
    postings: Sequence[tuple[TransactionSpec, list[Entry]]],
    final_states: Sequence[AccountState],
) -> dict[str, WrittenTransaction]:
    """Insert transactions and entries and set the accounts' new totals, one statement each.

    Arrays go as literals (`kit.db.arrays`): encoding tens of thousands of elements one by one
    cost more Python time than PostgreSQL spends writing them, all under the row locks.
    """
    if not postings:
        return {}
    specs = [spec for spec, _ in postings]
    cursor = await conn.execute(
        """
        INSERT INTO ledger_transactions (ledger_id, id, kind, pending_id, reverses_id,
                                         description, metadata, effective_at, expires_at,
                                         created_at)
        SELECT l, i, k, p, r, d, m::jsonb, coalesce(e, statement_timestamp()), x,
               statement_timestamp()
          FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                      %s::text[], %s::timestamptz[], %s::timestamptz[])
               AS t(l, i, k, p, r, d, m, e, x)
        RETURNING id, created_at, effective_at
        """,
        (
            text_array(s.ledger_id for s in specs),
            text_array(s.id for s in specs),
            text_array(s.kind.value for s in specs),
            text_array(s.pending_id for s in specs),
            text_array(s.reverses_id for s in specs),
            text_array(s.description for s in specs),
            text_array(dumps(s.metadata).decode() for s in specs),
            timestamp_array(s.effective_at for s in specs),
            timestamp_array(s.expires_at for s in specs),
        ),
    )
    entries = [(spec.ledger_id, entry) for spec, batch in postings for entry in batch]
    await conn.execute(
        """
        INSERT INTO ledger_entries (ledger_id, transaction_id, account_id, asset, direction, phase,
                                    amount, account_seq, debits_posted_after,
                                    credits_posted_after, debits_pending_after,
                                    credits_pending_after, posted_at)
        SELECT *, statement_timestamp()
          FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                      %s::numeric[], %s::bigint[], %s::numeric[], %s::numeric[], %s::numeric[],
                      %s::numeric[])
        """,
        (
            text_array(ledger for ledger, _ in entries),
            text_array(e.transaction_id for _, e in entries),
            text_array(e.account_id for _, e in entries),
            text_array(e.asset for _, e in entries),
            text_array(e.direction.value for _, e in entries),
            text_array(e.phase.value for _, e in entries),
            int_array(e.amount for _, e in entries),
            int_array(e.account_seq for _, e in entries),
            int_array(e.debits_posted_after for _, e in entries),
            int_array(e.credits_posted_after for _, e in entries),
            int_array(e.debits_pending_after for _, e in entries),
            int_array(e.credits_pending_after for _, e in entries),
        ),
    )
    await _update_totals(conn, final_states)
    await _track_holds(conn, specs)
    # Fetch last: in pipeline mode every statement above is already on its way to the server.
    return {
        row["id"]: WrittenTransaction(row["id"], row["created_at"], row["effective_at"])
        for row in await cursor.fetchall()
    }


async def _update_totals(conn: Conn, states: Sequence[AccountState]) -> None:
    await conn.execute(
        """
        UPDATE ledger_accounts AS a
           SET debits_posted = u.dp, credits_posted = u.cp,
               debits_pending = u.dpe, credits_pending = u.cpe,
               entry_count = u.n, version = a.version + 1
          FROM unnest(%s::text[], %s::text[], %s::numeric[], %s::numeric[], %s::numeric[],
                      %s::numeric[], %s::bigint[]) AS u(l, i, dp, cp, dpe, cpe, n)
         WHERE a.ledger_id = u.l AND a.id = u.i
        """,
        (
            text_array(s.ledger_id for s in states),
            text_array(s.id for s in states),
            int_array(s.debits_posted for s in states),
            int_array(s.credits_posted for s in states),
            int_array(s.debits_pending for s in states),
            int_array(s.credits_pending for s in states),
            int_array(s.entry_count for s in states),
        ),
    )


async def _track_holds(conn: Conn, specs: Sequence[TransactionSpec]) -> None:
    opened = [s for s in specs if s.kind is TransactionKind.PENDING]
    resolved = [s for s in specs if s.pending_id is not None]
    if opened:
        await conn.execute(
            "INSERT INTO ledger_open_holds (ledger_id, transaction_id, expires_at)"
            " SELECT * FROM unnest(%b::text[], %b::text[], %b::timestamptz[])",
            ([s.ledger_id for s in opened], [s.id for s in opened], [s.expires_at for s in opened]),
        )
    if resolved:
        await conn.execute(
            "DELETE FROM ledger_open_holds h USING unnest(%b::text[], %b::text[]) AS r(l, i)"
            " WHERE h.ledger_id = r.l AND h.transaction_id = r.i",
            ([s.ledger_id for s in resolved], [s.pending_id for s in resolved]),
        )


# --- reading transactions ---------------------------------------------------------------------

TRANSACTION_SELECT = """
    SELECT t.ledger_id, t.id, t.kind, t.pending_id, t.reverses_id, t.description, t.metadata,
           t.effective_at, t.expires_at, t.created_at,
           res.id AS resolved_by, res.kind AS resolved_kind, rev.id AS reversed_by
      FROM ledger_transactions t
      LEFT JOIN ledger_transactions res
             ON res.ledger_id = t.ledger_id AND res.pending_id = t.id
      LEFT JOIN ledger_transactions rev
             ON rev.ledger_id = t.ledger_id AND rev.reverses_id = t.id
"""


def _entry(row: Row) -> Entry:
    return Entry(
        id=row["id"],
        transaction_id=row["transaction_id"],
        account_id=row["account_id"],
        asset=row["asset"],
        direction=DIRECTIONS[row["direction"]],
        phase=PHASES[row["phase"]],
        amount=int(row["amount"]),
        account_seq=row["account_seq"],
        debits_posted_after=int(row["debits_posted_after"]),
        credits_posted_after=int(row["credits_posted_after"]),
        debits_pending_after=int(row["debits_pending_after"]),
        credits_pending_after=int(row["credits_pending_after"]),
        posted_at=row["posted_at"],
    )


def _status(row: Row, now: datetime) -> str:
    kind = TransactionKind(row["kind"])
    if kind is not TransactionKind.PENDING:
        return "posted"
    if row["resolved_kind"]:
        return RESOLUTION_STATUS[TransactionKind(row["resolved_kind"])]
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return "expired"
    return "pending"


def _transaction(row: Row, entries: list[Entry], now: datetime) -> Transaction:
    return Transaction(
        id=row["id"],
        ledger_id=row["ledger_id"],
        kind=TransactionKind(row["kind"]),
        status=_status(row, now),
        entries=entries,
        description=row["description"],
        metadata=row["metadata"],
        effective_at=row["effective_at"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        pending_id=row["pending_id"],
        reverses_id=row["reverses_id"],
        resolved_by=row["resolved_by"],
        reversed_by=row["reversed_by"],
    )


async def _entries_by_transaction(conn: Conn, rows: list[Row]) -> dict[str, list[Entry]]:
    grouped: dict[str, list[Entry]] = {row["id"]: [] for row in rows}
    if not rows:
        return grouped
    cursor = await conn.execute(
        f"""
        SELECT {ENTRY_COLUMNS} FROM ledger_entries
         WHERE (ledger_id, transaction_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
         ORDER BY id
        """,
        ([r["ledger_id"] for r in rows], [r["id"] for r in rows]),
    )
    for entry_row in await cursor.fetchall():
        grouped[entry_row["transaction_id"]].append(_entry(entry_row))
    return grouped


async def get_transaction(
    conn: Conn, transaction_id: str, now: datetime, *, lock: bool = False
) -> Transaction | None:
    if lock:
        # Serialises post/void/reverse of one transaction so the loser gets a clean 409. Two
        # statements on purpose: after waiting for the lock, only a new statement sees the
        # winner's resolution (a locking read re-checks its own row, not the joined ones).
        await conn.execute(
            "SELECT 1 FROM ledger_transactions WHERE id = %s FOR NO KEY UPDATE", (transaction_id,)
        )
    cursor = await conn.execute(TRANSACTION_SELECT + " WHERE t.id = %s", (transaction_id,))
    row = await cursor.fetchone()
    if row is None:
        return None
    entries = await _entries_by_transaction(conn, [row])
    return _transaction(row, entries[row["id"]], now)


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    ledger_id: str | None = None
    account_id: str | None = None
    kind: TransactionKind | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None


async def list_transactions(
    conn: Conn, where: TransactionFilter, now: datetime, *, limit: int, starting_after: str | None
) -> list[Transaction]:
    clauses: list[str] = []
    params: list[Any] = []
    if where.ledger_id:
        clauses.append("t.ledger_id = %s")
        params.append(where.ledger_id)
    if where.account_id:
        # Through the entries' (ledger_id, account_id, …) index: needs the account's ledger.
        clauses.append(
            "t.id IN (SELECT e.transaction_id FROM ledger_entries e"
            " WHERE e.ledger_id = (SELECT ledger_id FROM ledger_accounts WHERE id = %s)"
            " AND e.account_id = %s)"
        )
        params.extend([where.account_id, where.account_id])
    if where.kind:
        clauses.append("t.kind = %s")
        params.append(where.kind.value)
    if where.created_gte:
        clauses.append("t.created_at >= %s")
        params.append(where.created_gte)
    if where.created_lt:
        clauses.append("t.created_at < %s")
        params.append(where.created_lt)
    if starting_after:
        clauses.append("t.id < %s")
        params.append(starting_after)
    sql = TRANSACTION_SELECT
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY t.id DESC LIMIT %s"
    params.append(limit)
    cursor = await conn.execute(sql, params)
    rows = await cursor.fetchall()
    entries = await _entries_by_transaction(conn, rows)
    return [_transaction(row, entries[row["id"]], now) for row in rows]


# --- statements and balances ------------------------------------------------------------------


async def account_entries(
    conn: Conn,
    ledger_id: str,
    account_id: str,
    *,
    limit: int,
    before_seq: int | None,
) -> list[Entry]:
    """An account's entries, newest first, each with the balance after it."""
    seq_clause = " AND account_seq < %s" if before_seq is not None else ""
    params: list[Any] = [ledger_id, account_id]
    if before_seq is not None:
        params.append(before_seq)
    params.append(limit)
    cursor = await conn.execute(
        f"""
        SELECT {ENTRY_COLUMNS} FROM ledger_entries
         WHERE ledger_id = %s AND account_id = %s{seq_clause}
         ORDER BY account_seq DESC LIMIT %s
        """,
        params,
    )
    return [_entry(row) for row in await cursor.fetchall()]


async def entry_seq(conn: Conn, ledger_id: str, account_id: str, entry_id: int) -> int | None:
    cursor = await conn.execute(
        "SELECT account_seq FROM ledger_entries WHERE ledger_id = %s AND id = %s"
        " AND account_id = %s",
        (ledger_id, entry_id, account_id),
    )
    row = await cursor.fetchone()
    return int(row["account_seq"]) if row else None


async def last_entry_before(
    conn: Conn, ledger_id: str, account_id: str, at: datetime
) -> Entry | None:
    cursor = await conn.execute(
        f"""
        SELECT {ENTRY_COLUMNS} FROM ledger_entries
         WHERE ledger_id = %s AND account_id = %s AND posted_at <= %s
         ORDER BY posted_at DESC, account_seq DESC LIMIT 1
        """,
        (ledger_id, account_id, at),
    )
    row = await cursor.fetchone()
    return _entry(row) if row else None


async def expired_holds(conn: Conn, now: datetime, limit: int) -> list[str]:
    cursor = await conn.execute(
        "SELECT transaction_id FROM ledger_open_holds WHERE expires_at <= %s"
        " ORDER BY expires_at LIMIT %s",
        (now, limit),
    )
    return [row["transaction_id"] for row in await cursor.fetchall()]


# --- verification -----------------------------------------------------------------------------


async def unbalanced_transactions(conn: Conn, limit: int = 100) -> list[Row]:
    """Transactions with fewer than two entries or whose entries don't net to zero."""
    cursor = await conn.execute(
        """
        WITH per_asset AS (
            SELECT ledger_id, transaction_id, count(*) AS n,
                   sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) AS net
              FROM ledger_entries GROUP BY ledger_id, transaction_id, asset, phase
        ), per_transaction AS (
            SELECT ledger_id, transaction_id, sum(n) AS n, bool_or(net <> 0) AS unbalanced
              FROM per_asset GROUP BY ledger_id, transaction_id
        )
        SELECT t.ledger_id, t.id, coalesce(p.n, 0) AS entries,
               coalesce(p.unbalanced, false) AS unbalanced
          FROM ledger_transactions t
          LEFT JOIN per_transaction p ON p.ledger_id = t.ledger_id AND p.transaction_id = t.id
         WHERE coalesce(p.n, 0) < 2 OR p.unbalanced
         LIMIT %s
        """,
        (limit,),
    )
    return await cursor.fetchall()


async def mismatched_accounts(conn: Conn, limit: int = 100) -> list[Row]:
    """Accounts whose stored totals differ from the sum of their entries."""
    cursor = await conn.execute(
        """
        WITH sums AS (
            SELECT ledger_id, account_id,
                   sum(amount) FILTER (WHERE direction = 'debit' AND phase = 'posted') AS dp,
                   sum(amount) FILTER (WHERE direction = 'credit' AND phase = 'posted') AS cp,
                   sum(CASE WHEN phase = 'pending' THEN amount WHEN phase = 'release'
                            THEN -amount END) FILTER (WHERE direction = 'debit') AS dpe,
                   sum(CASE WHEN phase = 'pending' THEN amount WHEN phase = 'release'
                            THEN -amount END) FILTER (WHERE direction = 'credit') AS cpe,
                   count(*) AS n,
                   max(account_seq) AS last_seq
              FROM ledger_entries GROUP BY ledger_id, account_id
        )
        SELECT a.ledger_id, a.id, a.debits_posted, a.credits_posted, a.debits_pending,
               a.credits_pending, a.entry_count,
               coalesce(s.dp, 0) AS sum_debits_posted, coalesce(s.cp, 0) AS sum_credits_posted,
               coalesce(s.dpe, 0) AS sum_debits_pending,
               coalesce(s.cpe, 0) AS sum_credits_pending, coalesce(s.n, 0) AS sum_entries
          FROM ledger_accounts a
          LEFT JOIN sums s ON s.ledger_id = a.ledger_id AND s.account_id = a.id
         WHERE a.debits_posted <> coalesce(s.dp, 0) OR a.credits_posted <> coalesce(s.cp, 0)
            OR a.debits_pending <> coalesce(s.dpe, 0) OR a.credits_pending <> coalesce(s.cpe, 0)
            OR a.entry_count <> coalesce(s.n, 0) OR a.entry_count <> coalesce(s.last_seq, 0)
         LIMIT %s
        """,
        (limit,),
    )
    return await cursor.fetchall()


async def bad_snapshots(conn: Conn, limit: int = 100) -> list[Row]:
    """Entries whose recorded 'totals after' don't follow from the entry before them."""
    cursor = await conn.execute(
        """
        SELECT ledger_id, account_id, account_seq FROM (
            SELECT ledger_id, account_id, account_seq, direction, phase, amount,
                   debits_posted_after - coalesce(lag(debits_posted_after)
                       OVER w, 0) AS ddp,
                   credits_posted_after - coalesce(lag(credits_posted_after) OVER w, 0) AS dcp,
                   debits_pending_after - coalesce(lag(debits_pending_after) OVER w, 0) AS ddpe,
                   credits_pending_after - coalesce(lag(credits_pending_after) OVER w, 0) AS dcpe,
                   account_seq - coalesce(lag(account_seq) OVER w, 0) AS dseq
              FROM ledger_entries
            WINDOW w AS (PARTITION BY ledger_id, account_id ORDER BY account_seq)
        ) AS steps
         WHERE dseq <> 1
            OR (ddp, dcp, ddpe, dcpe) <> (
                CASE WHEN phase = 'posted' AND direction = 'debit' THEN amount ELSE 0 END,
                CASE WHEN phase = 'posted' AND direction = 'credit' THEN amount ELSE 0 END,
                CASE WHEN direction = 'debit' AND phase = 'pending' THEN amount
                     WHEN direction = 'debit' AND phase = 'release' THEN -amount ELSE 0 END,
                CASE WHEN direction = 'credit' AND phase = 'pending' THEN amount
                     WHEN direction = 'credit' AND phase = 'release' THEN -amount ELSE 0 END)
         LIMIT %s
        """,
        (limit,),
    )
    return await cursor.fetchall()
