"""The `finhub` command line, run in-process on scratch databases of the test server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from typer.testing import CliRunner, Result

from finhub import cli
from finhub.config import get_settings
from finhub.kit.db.migrate import upgrade
from finhub.worker import ensure_job_schema

# --- helpers shared with the backup tests ----------------------------------------------------


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database (as tests/conftest.py derives them)."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@contextmanager
def scratch_database(server_url: str, name: str, *, migrate: bool = True) -> Iterator[str]:
    """A database of its own on the test server, dropped afterwards."""
    name = f"{name}_{os.getpid()}"
    admin_url = with_database(server_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    try:
        if migrate:
            import asyncio

            upgrade(url)
            asyncio.run(ensure_job_schema(url))
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def invoke(
    args: list[str], *, database_url: str | None, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Result:
    """Run `finhub ARGS` in this process with its own settings.

    The CLI reconfigures logging to the terminal it was given; here that terminal is the
    runner's short-lived buffer, so logging set-up is skipped to keep the rest of the suite's
    logs working.
    """
    monkeypatch.setattr(cli, "configure_logging", lambda **_: None)
    env = {"FINHUB_DATA_DIR": str(data_dir), "FINHUB_DATABASE_URL": database_url}
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli.app, args, env=env)
    finally:
        get_settings.cache_clear()


def read_one(url: str, sql: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_database(server_url: str) -> Iterator[str]:
    with scratch_database(server_url, "finhub_cli") as url:
        yield url


class Run(Protocol):
    def __call__(self, *args: str, database_url: str | None = ...) -> Result: ...


@pytest.fixture
def run(cli_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    def runner(*args: str, database_url: str | None = cli_database) -> Result:
        return invoke(
            list(args), database_url=database_url, data_dir=tmp_path, monkeypatch=monkeypatch
        )

    return runner


# --- tests ------------------------------------------------------------------------------------


def test_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "finhub.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stderr
    for command in (
        "serve",
        "migrate",
        "worker",
        "ledger",
        "bench",
        "backup",
        "restore",
        "staff",
        "audit",
        "mail",
    ):
        assert command in result.stdout


def test_ledger_help_lists_verify(run: Run) -> None:
    result = run("ledger", "--help")
    assert result.exit_code == 0
    assert "verify" in result.output


def test_migrate_is_idempotent(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with scratch_database(server_url, "finhub_cli_migrate", migrate=False) as url:
        tables_sql = (
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables"
            " WHERE schemaname = 'public'"
        )
        first = invoke(["migrate"], database_url=url, data_dir=tmp_path, monkeypatch=monkeypatch)
        assert first.exit_code == 0, first.output
        assert "migrations applied" in first.output
        tables = read_one(url, tables_sql)
        head = read_one(url, "SELECT version_num FROM alembic_version")
        second = invoke(["migrate"], database_url=url, data_dir=tmp_path, monkeypatch=monkeypatch)
        assert second.exit_code == 0, second.output
        assert read_one(url, tables_sql) == tables
        assert read_one(url, "SELECT version_num FROM alembic_version") == head
        assert "ledger_entries" in str(tables)
        assert "procrastinate_jobs" in str(tables)


def test_restore_needs_yes(run: Run, tmp_path: Path) -> None:
    result = run("restore", str(tmp_path / "whatever.dump"))
    assert result.exit_code == 2
    assert "--yes" in result.output


# --- ledger verify ----------------------------------------------------------------------------

SEED = """
    INSERT INTO assets (code, scale, name, kind) VALUES ('EUR', 2, 'Euro', 'currency')
        ON CONFLICT DO NOTHING;
    INSERT INTO ledger_accounts (ledger_id, id, asset, type, normal_side,
                                 debits_posted, entry_count, version)
        VALUES ('main', 'acct_cash', 'EUR', 'asset', 'debit', 1000, 1, 1);
    INSERT INTO ledger_accounts (ledger_id, id, asset, type, normal_side,
                                 credits_posted, entry_count, version)
        VALUES ('main', 'acct_wallet', 'EUR', 'liability', 'credit', 1000, 1, 1);
    INSERT INTO ledger_transactions (ledger_id, id, kind, effective_at, created_at)
        VALUES ('main', 'txn_1', 'standard', now(), now());
    INSERT INTO ledger_entries (ledger_id, transaction_id, account_id, asset, direction, phase,
                                amount, account_seq, debits_posted_after, credits_posted_after,
                                debits_pending_after, credits_pending_after, posted_at)
        VALUES ('main', 'txn_1', 'acct_cash', 'EUR', 'debit', 'posted', 1000, 1, 1000, 0, 0, 0,
                now()),
               ('main', 'txn_1', 'acct_wallet', 'EUR', 'credit', 'posted', 1000, 1, 0, 1000,
                0, 0, now());
"""


@pytest.fixture
def books(server_url: str) -> Iterator[str]:
    """A database with one sound transaction, ready to be broken."""
    with scratch_database(server_url, "finhub_cli_books") as url:
        with psycopg.connect(url) as conn:
            conn.execute(SEED)
        yield url


def test_verify_passes_on_sound_books(run: Run, books: str) -> None:
    result = run("ledger", "verify", database_url=books)
    assert result.exit_code == 0, result.output
    assert "checked 1 transactions and 2 accounts" in result.output
    assert "ledger OK" in result.output


def test_verify_fails_when_an_account_total_was_edited(run: Run, books: str) -> None:
    with psycopg.connect(books) as conn:
        conn.execute("UPDATE ledger_accounts SET credits_posted = 999 WHERE id = 'acct_wallet'")
    result = run("ledger", "verify", database_url=books)
    assert result.exit_code == 1, result.output
    assert "ledger BROKEN" in result.output
    assert "acct_wallet" in result.output


def test_verify_fails_when_history_was_rewritten(run: Run, books: str) -> None:
    # Only a superuser switching the append-only trigger off can rewrite an entry.
    with psycopg.connect(books) as conn:
        conn.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
        conn.execute(
            "UPDATE ledger_entries SET amount = 900, credits_posted_after = 900"
            " WHERE account_id = 'acct_wallet'"
        )
        conn.execute("UPDATE ledger_accounts SET credits_posted = 900 WHERE id = 'acct_wallet'")
        conn.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only")
    result = run("ledger", "verify", database_url=books)
    assert result.exit_code == 1, result.output
    assert "unbalanced transactions" in result.output
    assert "txn_1" in result.output


def test_entries_cannot_be_edited_while_the_trigger_is_on(books: str) -> None:
    with psycopg.connect(books) as conn, pytest.raises(psycopg.Error) as raised:
        conn.execute("UPDATE ledger_entries SET amount = 1 WHERE account_id = 'acct_wallet'")
    assert raised.value.sqlstate == "FH001"
