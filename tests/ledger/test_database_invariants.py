"""The database guards the money rules on its own: raw SQL can't break them either.

Every write of history here bypasses the service. Each runs in a savepoint (or, for the checks
made at COMMIT, in a transaction whose commit fails), so nothing is ever left behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.money import MAX_AMOUNT
from finhub.ledger.models import Transaction
from finhub.ledger.service import LedgerService
from tests.ledger.factories import make_bank, make_wallet, transfer

# (account id, "debit" | "credit", amount) and optionally the entry's asset
Leg = tuple[str, str, int] | tuple[str, str, int, str]


async def insert_transaction(conn: Connection, kind: str = "standard", **columns: Any) -> str:
    transaction_id = new_id("txn")
    names = ["ledger_id", "id", "kind", "effective_at", "created_at", *columns]
    values = ["main", transaction_id, kind, "now", "now", *columns.values()]
    placeholders = ", ".join(["%s"] * len(values))
    await conn.execute(
        f"INSERT INTO ledger_transactions ({', '.join(names)}) VALUES ({placeholders})",  # noqa: S608
        values,
    )
    return transaction_id


async def insert_entries(
    conn: Connection, transaction_id: str, legs: list[Leg], *, asset: str = "USD"
) -> None:
    """Write raw entries in one statement (running totals left at zero: not checked here)."""
    legs_with_assets = [(*leg, asset) if len(leg) == 3 else leg for leg in legs]
    await conn.execute(
        """
        INSERT INTO ledger_entries (ledger_id, transaction_id, account_id, asset, direction, phase,
                                    amount, account_seq, debits_posted_after,
                                    credits_posted_after, debits_pending_after,
                                    credits_pending_after, posted_at)
        SELECT 'main', %s, account, asset, direction, 'posted', amount, 1, 0, 0, 0, 0, now()
          FROM unnest(%s::text[], %s::text[], %s::numeric[], %s::text[])
               AS l(account, direction, amount, asset)
        """,
        (
            transaction_id,
            [leg[0] for leg in legs_with_assets],
            [leg[1] for leg in legs_with_assets],
            [leg[2] for leg in legs_with_assets],
            [leg[3] for leg in legs_with_assets],
        ),
    )


@asynccontextmanager
async def uncommitted(db: Database) -> AsyncIterator[Connection]:
    """A connection whose transaction the test commits itself (or that is rolled back)."""
    async with db.connection() as connection:
        await connection.set_autocommit(False)  # pooled connections autocommit by default
        try:
            yield connection
        finally:
            await connection.rollback()
            await connection.set_autocommit(True)


def sqlstate_of(raised: pytest.ExceptionInfo[psycopg.Error]) -> str | None:
    return raised.value.sqlstate


async def two_accounts(ledger: LedgerService, conn: Connection) -> tuple[str, str]:
    return await make_bank(ledger, conn), await make_wallet(ledger, conn)


async def expect_sqlstate(conn: Connection, sqlstate: str, sql: str, params: Any = None) -> str:
    """Run `sql` in a savepoint, expect it to fail with `sqlstate`; return the message."""
    await conn.execute("SET LOCAL lock_timeout = '5s'")  # TRUNCATE must not wait forever
    with pytest.raises(psycopg.Error) as raised:
        async with conn.transaction():
            await conn.execute(sql, params)
    assert sqlstate_of(raised) == sqlstate, raised.value
    return str(raised.value)


# --- zero sum, checked at COMMIT ----------------------------------------------------------------


async def test_an_unbalanced_transaction_fails_at_commit(
    db: Database, ledger: LedgerService
) -> None:
    async with uncommitted(db) as conn:
        cash, wallet = await two_accounts(ledger, conn)
        transaction_id = await insert_transaction(conn)
        await insert_entries(conn, transaction_id, [(cash, "debit", 100), (wallet, "credit", 99)])
        # The check is deferred: the statements themselves succeed ...
        with pytest.raises(psycopg.Error) as raised:
            await conn.commit()  # ... and the commit refuses them.
    assert sqlstate_of(raised) == "FH003"
    assert "does not balance" in str(raised.value)
    await assert_not_stored(db, transaction_id)


async def test_a_transaction_with_one_entry_fails_at_commit(
    db: Database, ledger: LedgerService
) -> None:
    async with uncommitted(db) as conn:
        cash, _ = await two_accounts(ledger, conn)
        transaction_id = await insert_transaction(conn)
        await insert_entries(conn, transaction_id, [(cash, "debit", 100)])
        with pytest.raises(psycopg.Error) as raised:
            await conn.commit()
    assert sqlstate_of(raised) == "FH002"
    await assert_not_stored(db, transaction_id)


async def test_a_transaction_without_entries_fails_at_commit(db: Database) -> None:
    async with uncommitted(db) as conn:
        await insert_transaction(conn)
        with pytest.raises(psycopg.Error) as raised:
            await conn.commit()
    assert sqlstate_of(raised) == "FH002"


async def test_balancing_is_per_asset_in_the_database(db: Database, ledger: LedgerService) -> None:
    """100 USD against 100 EUR: the numbers cancel, but each asset's own sum is off."""
    async with uncommitted(db) as conn:
        usd = await make_bank(ledger, conn)
        eur = await make_wallet(ledger, conn, asset="EUR")
        transaction_id = await insert_transaction(conn)
        await insert_entries(
            conn, transaction_id, [(usd, "debit", 100, "USD"), (eur, "credit", 100, "EUR")]
        )
        with pytest.raises(psycopg.Error) as raised:
            await conn.commit()
    assert sqlstate_of(raised) == "FH003"


async def test_a_balanced_raw_transaction_passes_the_check(
    conn: Connection, ledger: LedgerService
) -> None:
    """The control for the tests above: the trigger accepts a sound transaction."""
    cash, wallet = await two_accounts(ledger, conn)
    transaction_id = await insert_transaction(conn)
    await insert_entries(conn, transaction_id, [(cash, "debit", 100), (wallet, "credit", 100)])
    await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")  # runs the deferred check right now


async def assert_not_stored(db: Database, transaction_id: str) -> None:
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM ledger_transactions WHERE id = %s", (transaction_id,)
        )
        row = await cursor.fetchone()
    assert row is not None
    assert row["n"] == 0


# --- append only --------------------------------------------------------------------------------


@pytest.fixture
async def payment(conn: Connection, ledger: LedgerService) -> Transaction:
    cash, wallet = await two_accounts(ledger, conn)
    return await transfer(ledger, conn, cash, wallet, 500)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_entries SET amount = amount + 1 WHERE transaction_id = %s",
        "UPDATE ledger_entries SET direction = 'credit' WHERE transaction_id = %s",
        "DELETE FROM ledger_entries WHERE transaction_id = %s",
        "UPDATE ledger_transactions SET description = 'edited' WHERE id = %s",
        "DELETE FROM ledger_transactions WHERE id = %s",
    ],
)
async def test_history_can_not_be_updated_or_deleted(
    conn: Connection, payment: Transaction, sql: str
) -> None:
    message = await expect_sqlstate(conn, "FH001", sql, (payment.id,))
    assert "append-only" in message


@pytest.mark.parametrize("sql", ["TRUNCATE ledger_entries", "TRUNCATE ledger_transactions CASCADE"])
async def test_history_can_not_be_truncated(conn: Connection, sql: str) -> None:
    # No postings first: PostgreSQL refuses TRUNCATE while deferred checks are pending anyway.
    await expect_sqlstate(conn, "FH001", sql)


async def test_entries_can_not_be_added_to_an_existing_transaction(
    conn: Connection, ledger: LedgerService, payment: Transaction
) -> None:
    cash, wallet = (entry.account_id for entry in payment.entries)
    # A balanced pair, so only the "written once" rule can object.
    with pytest.raises(psycopg.Error) as raised:
        async with conn.transaction():
            await conn.execute(
                """
                INSERT INTO ledger_entries (ledger_id, transaction_id, account_id, asset,
                    direction, phase, amount, account_seq, debits_posted_after,
                    credits_posted_after, debits_pending_after, credits_pending_after, posted_at)
                VALUES ('main', %(t)s, %(cash)s, 'USD', 'debit', 'posted', 7, 2, 0, 0, 0, 0,
                        now()),
                       ('main', %(t)s, %(wallet)s, 'USD', 'credit', 'posted', 7, 2, 0, 0, 0, 0,
                        now())
                """,
                {"t": payment.id, "cash": cash, "wallet": wallet},
            )
    assert sqlstate_of(raised) == "FH004"


# --- per-row constraints ------------------------------------------------------------------------


async def test_an_entry_must_have_its_accounts_asset(
    conn: Connection, ledger: LedgerService
) -> None:
    cash, wallet = await two_accounts(ledger, conn)
    transaction_id = await insert_transaction(conn)
    with pytest.raises(pg_errors.ForeignKeyViolation):
        async with conn.transaction():
            await insert_entries(
                conn, transaction_id, [(cash, "debit", 5), (wallet, "credit", 5)], asset="EUR"
            )


async def test_an_entry_must_have_an_existing_account(
    conn: Connection, ledger: LedgerService
) -> None:
    cash, _ = await two_accounts(ledger, conn)
    transaction_id = await insert_transaction(conn)
    with pytest.raises(pg_errors.ForeignKeyViolation) as raised:
        async with conn.transaction():
            await insert_entries(
                conn, transaction_id, [(cash, "debit", 5), ("acct_missing", "credit", 5)]
            )
    assert "acct_missing" in str(raised.value)


async def test_an_entry_must_have_a_transaction_written_with_it(
    conn: Connection, ledger: LedgerService
) -> None:
    cash, wallet = await two_accounts(ledger, conn)
    with pytest.raises(psycopg.Error) as raised:
        async with conn.transaction():
            await insert_entries(conn, new_id("txn"), [(cash, "debit", 5), (wallet, "credit", 5)])
    assert sqlstate_of(raised) == "FH004"


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM ledger_accounts WHERE id = %(account)s",
        "UPDATE ledger_accounts SET asset = 'EUR' WHERE id = %(account)s",
        "UPDATE ledger_accounts SET id = 'acct_renamed' WHERE id = %(account)s",
        "UPDATE ledger_accounts SET ledger_id = 'other' WHERE id = %(account)s",
        "TRUNCATE ledger_accounts CASCADE",
    ],
)
async def test_accounts_can_not_be_removed_or_re_keyed(
    conn: Connection, payment: Transaction, sql: str
) -> None:
    """Entries point at their account by (ledger, id, asset), so none of these may change."""
    account = payment.entries[0].account_id
    message = await expect_sqlstate(conn, "FH001", sql, {"account": account})
    assert "never removed or re-keyed" in message


async def test_an_account_can_still_be_renamed_and_closed(
    conn: Connection, ledger: LedgerService
) -> None:
    account = await make_wallet(ledger, conn)
    await conn.execute("UPDATE ledger_accounts SET name = 'renamed' WHERE id = %s", (account,))
    closed = await ledger.close_account(conn, account)
    assert (closed.name, closed.state.status) == ("renamed", "closed")


@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT + 1])
async def test_an_entry_amount_must_be_positive_and_fit_128_bits(
    conn: Connection, ledger: LedgerService, amount: int
) -> None:
    cash, wallet = await two_accounts(ledger, conn)
    transaction_id = await insert_transaction(conn)
    with pytest.raises(pg_errors.CheckViolation) as raised:
        async with conn.transaction():
            await insert_entries(
                conn, transaction_id, [(cash, "debit", amount), (wallet, "credit", amount)]
            )
    assert raised.value.diag.constraint_name == "ledger_entries_amount_check"


async def test_the_largest_amount_fits(conn: Connection, ledger: LedgerService) -> None:
    cash, wallet = await two_accounts(ledger, conn)
    transaction_id = await insert_transaction(conn)
    await insert_entries(
        conn, transaction_id, [(cash, "debit", MAX_AMOUNT), (wallet, "credit", MAX_AMOUNT)]
    )
    cursor = await conn.execute(
        "SELECT max(amount) AS amount FROM ledger_entries WHERE transaction_id = %s",
        (transaction_id,),
    )
    row = await cursor.fetchone()
    assert row is not None
    assert int(row["amount"]) == 2**128 - 1


async def test_an_account_row_can_not_break_its_limit(
    conn: Connection, ledger: LedgerService
) -> None:
    _, wallet = await two_accounts(ledger, conn)  # no overdraft, balance 0
    with pytest.raises(pg_errors.CheckViolation) as raised:
        async with conn.transaction():
            await conn.execute(
                "UPDATE ledger_accounts SET debits_posted = 1 WHERE id = %s", (wallet,)
            )
    assert raised.value.diag.constraint_name == "debits_within_limit"
    with pytest.raises(pg_errors.CheckViolation) as held:
        async with conn.transaction():
            await conn.execute(
                "UPDATE ledger_accounts SET debits_pending = 1 WHERE id = %s", (wallet,)
            )
    assert held.value.diag.constraint_name == "debits_within_limit"


async def test_account_totals_can_not_go_negative(conn: Connection, ledger: LedgerService) -> None:
    cash, _ = await two_accounts(ledger, conn)
    with pytest.raises(pg_errors.CheckViolation):
        async with conn.transaction():
            await conn.execute(
                "UPDATE ledger_accounts SET credits_pending = -1 WHERE id = %s", (cash,)
            )


async def test_a_hold_is_resolved_and_a_transaction_reversed_at_most_once(
    conn: Connection, ledger: LedgerService
) -> None:
    cash, wallet = await two_accounts(ledger, conn)
    hold = await transfer(ledger, conn, cash, wallet, 100, pending=True)
    await ledger.void_pending(conn, hold.id)
    with pytest.raises(pg_errors.UniqueViolation):
        async with conn.transaction():
            await insert_transaction(conn, "post_pending", pending_id=hold.id)

    payment = await transfer(ledger, conn, cash, wallet, 100)
    await ledger.reverse(conn, payment.id)
    with pytest.raises(pg_errors.UniqueViolation):
        async with conn.transaction():
            await insert_transaction(conn, "reversal", reverses_id=payment.id)


@pytest.mark.parametrize(
    ("kind", "columns"),
    [
        ("reversal", {}),  # a reversal must say what it reverses
        ("post_pending", {}),  # a resolution must name its hold
        ("standard", {"expires_at": "2100-01-01T00:00:00Z"}),  # only holds expire
    ],
)
async def test_transaction_kinds_carry_their_links(
    conn: Connection, kind: str, columns: dict[str, str]
) -> None:
    with pytest.raises(pg_errors.CheckViolation):
        async with conn.transaction():
            await insert_transaction(conn, kind, **columns)
