"""Checks of the ledger's books that several concurrency tests share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.ledger.models import AccountState, Entry
from finhub.ledger.service import LedgerService


async def all_entries(ledger: LedgerService, conn: Connection, account_id: str) -> list[Entry]:
    """An account's whole statement, newest first, read page by page like a client would."""
    entries: list[Entry] = []
    cursor: int | None = None
    for _ in range(10_000):  # bounded: far more pages than any test writes
        _, page = await ledger.statement(conn, account_id, limit=500, starting_after=cursor)
        entries.extend(page)
        if len(page) < 500:
            return entries
        cursor = page[-1].id
    raise AssertionError(f"statement of {account_id} never ended")


def limit_breaches(state: AccountState, entries: Iterable[Entry]) -> list[Entry]:
    """Entries after which a no-overdraft account had more debits (incl. holds) than credits."""
    assert state.debits_must_not_exceed_credits
    return [
        e
        for e in entries
        if e.debits_posted_after + e.debits_pending_after
        > e.credits_posted_after + state.overdraft_limit
    ]


async def assert_statements_within_limits(
    ledger: LedgerService, conn: Connection, account_ids: Iterable[str]
) -> int:
    """Every snapshot of every limited account respects its limit; returns entries checked."""
    checked = 0
    for account_id in account_ids:
        state = (await ledger.get_account(conn, account_id)).state
        entries = await all_entries(ledger, conn, account_id)
        assert state.posted_balance >= 0, f"{account_id} ended negative"
        assert not limit_breaches(state, entries), f"{account_id} went below zero"
        sequence = [e.account_seq for e in reversed(entries)]
        assert sequence == list(range(1, state.entry_count + 1)), f"{account_id} has gaps"
        checked += len(entries)
    return checked


async def posted_balances(
    ledger: LedgerService, conn: Connection, account_ids: Iterable[str]
) -> dict[str, int]:
    return {a: (await ledger.get_account(conn, a)).state.posted_balance for a in account_ids}


async def assert_ledger_sound(db: Database, ledger: LedgerService) -> None:
    """`ledger verify` over the whole database: totals, zero sums and running balances."""
    async with db.transaction() as conn:
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        report = await ledger.verify(conn)
    assert report.ok, (report.unbalanced, report.mismatched, report.bad_snapshots)


async def written_transactions(db: Database, run: str) -> dict[str, int]:
    """The ids of the transactions tagged with `run`, each with the database transaction
    (xid) that wrote it: distinct xids count the commits the ledger made."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT id, xmin::text::bigint AS xid FROM ledger_transactions"
            " WHERE metadata @> jsonb_build_object('run', %s::text)",
            (run,),
        )
        rows = await cursor.fetchall()
    return {row["id"]: row["xid"] for row in rows}


def expected_balances(
    initial: Mapping[str, int], moves: Iterable[tuple[str, Mapping[str, int]]]
) -> dict[str, int]:
    """Credit-normal balances after the successful moves (debit one account, credit others)."""
    balances: Counter[str] = Counter(initial)
    for debited, credits in moves:
        for account_id, amount in credits.items():
            balances[debited] -= amount
            balances[account_id] += amount
    return dict(balances)


def first(items: list[Any], count: int = 5) -> list[Any]:
    """A few examples for an assertion message."""
    return items[:count]
