"""`finhub backup` / `finhub restore` round-trip every row, and a failed restore changes nothing.

Runs on the test server (the embedded one unless FINHUB_TEST_DATABASE_URL says otherwise) and,
when it answers, on the PostgreSQL 15 server at 127.0.0.1:5432, including a backup taken with
newer client tools restored into that older server.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from finhub.kit.clock import SystemClock
from finhub.kit.db import Database
from finhub.kit.db import backup as backup_module
from finhub.kit.db.backup import BackupError, bundled_toolsets, dump, server_major, toolset_for
from finhub.ledger.models import AccountType
from finhub.ledger.service import LedgerService
from tests.test_cli import invoke, read_one, scratch_database, with_database

# The local PostgreSQL 15 (CI names it in FINHUB_EXTRA_TEST_SERVER).
LOCAL_PG15 = os.environ.get(
    "FINHUB_EXTRA_TEST_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres"
)

# --- helpers ---------------------------------------------------------------------------------


async def open_accounts(url: str) -> tuple[str, str]:
    """A cash account and a customer wallet that can't go below zero."""
    db = Database(url, min_size=1, max_size=1)
    await db.open()
    ledger = LedgerService(SystemClock())
    try:
        async with db.transaction() as conn:
            cash = await ledger.create_account(conn, asset="EUR", type=AccountType.ASSET)
            wallet = await ledger.create_account(
                conn,
                asset="EUR",
                type=AccountType.LIABILITY,
                debits_must_not_exceed_credits=True,
                metadata={"owner": "ada"},
            )
    finally:
        await db.close()
    return cash.state.id, wallet.state.id


async def move_money(url: str, cash: str, wallet: str, *, transfers: int) -> None:
    """Funding transfers, a hold, a posted hold and a reversal, plus a stored API response."""
    db = Database(url, min_size=1, max_size=1)
    await db.open()
    ledger = LedgerService(SystemClock())
    try:
        async with db.transaction() as conn:
            specs = [
                ledger.transfer_spec(
                    from_account=cash, to_account=wallet, amount=100 + i, asset="EUR"
                )
                for i in range(transfers)
            ]
            posted = await ledger.post(conn, specs)
            hold = ledger.transfer_spec(
                from_account=wallet, to_account=cash, amount=50, asset="EUR", pending=True
            )
            kept = await ledger.post_one(conn, hold)
            second = ledger.transfer_spec(
                from_account=wallet, to_account=cash, amount=70, asset="EUR", pending=True
            )
            await ledger.post_pending(conn, (await ledger.post_one(conn, second)).id, amount=30)
            first = posted[0].transaction
            assert first is not None
            await ledger.reverse(conn, first.id)
            await conn.execute(
                "INSERT INTO idempotency_keys (principal, key, method, path, request_hash, state,"
                " response_status, response_body) VALUES ('admin:admin', %s, 'POST', '/v1/x',"
                " 'h', 'completed', 201, %s)",
                (kept.id, b"\x00binary\xff"),
            )
    finally:
        await db.close()


def snapshot(url: str) -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row of every table, so equal means equal to the byte."""
    with psycopg.connect(url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        result = {}
        for table in tables:
            row = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text),"  # noqa: S608
                f" '')) FROM public.{table} AS t"
            ).fetchone()
            assert row is not None
            result[table] = (row[0], row[1])
    return result


def balances(url: str) -> list[tuple[str, int, int, int, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id, debits_posted, credits_posted, debits_pending, credits_pending"
            " FROM ledger_accounts ORDER BY id"
        ).fetchall()
    return [(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]


class Cli:
    def __init__(self, url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.url = url
        self.data_dir = data_dir
        self.monkeypatch = monkeypatch

    def __call__(self, *args: str) -> tuple[int, str]:
        result = invoke(
            list(args), database_url=self.url, data_dir=self.data_dir, monkeypatch=self.monkeypatch
        )
        return result.exit_code, result.output + repr(result.exception or "")


def assert_round_trip(cli: Cli, backup_file: Path, cash: str, wallet: str) -> None:
    """Back up, change everything, restore: the data is the backup moment's, exactly."""
    import asyncio

    code, output = cli("backup", str(backup_file))
    assert code == 0, output
    assert backup_file.stat().st_size > 0
    before, money_before = snapshot(cli.url), balances(cli.url)
    assert before["ledger_entries"][0] > 0

    asyncio.run(move_money(cli.url, cash, wallet, transfers=5))
    asyncio.run(open_accounts(cli.url))
    assert snapshot(cli.url) != before
    assert balances(cli.url) != money_before

    code, output = cli("restore", str(backup_file), "--yes")
    assert code == 0, output
    assert snapshot(cli.url) == before
    assert balances(cli.url) == money_before
    code, output = cli("ledger", "verify")
    assert code == 0, output


def assert_ledger_is_live(url: str, cash: str, wallet: str) -> None:
    """After a restore, sequences continue and the database still guards the history."""
    import asyncio

    entries = read_one(url, "SELECT count(*) FROM ledger_entries")
    asyncio.run(move_money(url, cash, wallet, transfers=2))
    assert read_one(url, "SELECT count(*) FROM ledger_entries") > entries  # type: ignore[operator]
    with psycopg.connect(url) as conn, pytest.raises(psycopg.Error) as raised:
        conn.execute("DELETE FROM ledger_entries")
    assert raised.value.sqlstate == "FH001"


def truncated_copy(source: Path, target: Path) -> Path:
    """The backup without its last bytes: the table of contents reads, a data block doesn't."""
    data = source.read_bytes()
    target.write_bytes(data[:-16])
    newest = bundled_toolsets()[-1]
    listed = subprocess.run(
        [newest.tool("pg_restore"), "--list", str(target)], env=newest.env, capture_output=True
    )
    assert listed.returncode == 0, "the damage should only show once the restore has begun"
    return target


def assert_failed_restores_change_nothing(cli: Cli, good_backup: Path, tmp_path: Path) -> None:
    before = snapshot(cli.url)
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"PGDMP this is not a backup at all" * 10)
    for broken in (garbage, truncated_copy(good_backup, tmp_path / "truncated.dump")):
        code, output = cli("restore", str(broken), "--yes")
        assert code != 0, output
        assert snapshot(cli.url) == before
    code, output = cli("ledger", "verify")
    assert code == 0, output


def run_round_trip(
    url: str, cash: str, wallet: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = Cli(url, tmp_path, monkeypatch)
    assert_round_trip(cli, tmp_path / "nested" / "finhub.dump", cash, wallet)
    assert_failed_restores_change_nothing(cli, tmp_path / "nested" / "finhub.dump", tmp_path)
    assert_ledger_is_live(url, cash, wallet)


Backup = tuple[Path, dict[str, tuple[int, str]]]


def spy_on_script_restores(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record each restore that goes through a SQL script."""
    calls: list[Path] = []
    original = backup_module._restore_as_script

    def spy(url: str, file: Path, toolset: backup_module.Toolset) -> None:
        calls.append(file)
        original(url, file, toolset)

    monkeypatch.setattr(backup_module, "_restore_as_script", spy)
    return calls


# --- on the test server (embedded by default) ------------------------------------------------


@contextmanager
def books(server_url: str, name: str) -> Iterator[tuple[str, str, str]]:
    """A migrated scratch database with 40 transfers, holds and a reversal in it."""
    import asyncio

    with scratch_database(server_url, name) as url:
        cash, wallet = asyncio.run(open_accounts(url))
        asyncio.run(move_money(url, cash, wallet, transfers=40))
        yield url, cash, wallet


@pytest.fixture(scope="module")
def embedded_books(server_url: str) -> Iterator[tuple[str, str, str]]:
    """Books that no test changes."""
    with books(server_url, "finhub_backup") as books_:
        yield books_


@pytest.fixture(scope="module")
def embedded_backup(
    embedded_books: tuple[str, str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, tuple[int, str]]]:
    """A backup of the embedded books (by the server's own pg_dump) and what it holds."""
    file = tmp_path_factory.mktemp("backups") / "embedded.dump"
    dump(embedded_books[0], file)
    return file, snapshot(embedded_books[0])


def test_round_trip_on_the_test_server(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with books(server_url, "finhub_backup_round_trip") as (url, cash, wallet):
        run_round_trip(url, cash, wallet, tmp_path, monkeypatch)


def test_restore_into_an_empty_database(
    server_url: str, embedded_backup: Backup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh install (nothing migrated yet) takes a backup as it is."""
    file, expected = embedded_backup
    with scratch_database(server_url, "finhub_backup_empty", migrate=False) as url:
        cli = Cli(url, tmp_path, monkeypatch)
        code, output = cli("restore", str(file), "--yes")
        assert code == 0, output
        assert snapshot(url) == expected
        # 40 transfers, two holds, a partial posting and a reversal
        assert read_one(url, "SELECT count(*) FROM ledger_transactions") == 44
        code, output = cli("ledger", "verify")
        assert code == 0, output


def test_restore_without_yes_changes_nothing(
    embedded_books: tuple[str, str, str],
    embedded_backup: Backup,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli = Cli(embedded_books[0], tmp_path, monkeypatch)
    before = snapshot(cli.url)
    code, output = cli("restore", str(embedded_backup[0]))
    assert code == 2
    assert "--yes" in output
    assert snapshot(cli.url) == before


def test_a_missing_backup_file_is_refused(
    embedded_books: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = Cli(embedded_books[0], tmp_path, monkeypatch)
    code, output = cli("restore", str(tmp_path / "nope.dump"), "--yes")
    assert code != 0
    assert "does not exist" in output


def test_a_failed_backup_leaves_the_previous_file(server_url: str, tmp_path: Path) -> None:
    file = tmp_path / "finhub.dump"
    file.write_bytes(b"yesterday's backup")
    missing = with_database(server_url, "finhub_no_such_database")
    with pytest.raises(BackupError):
        dump(missing, file)
    assert file.read_bytes() == b"yesterday's backup"
    assert list(tmp_path.iterdir()) == [file]


def test_tools_match_the_embedded_server(embedded_books: tuple[str, str, str]) -> None:
    major = server_major(embedded_books[0])
    assert toolset_for(major).major == major


def test_pg_bin_dir_overrides_the_choice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    chosen = bundled_toolsets()[0]
    monkeypatch.setenv("FINHUB_PG_BIN_DIR", str(chosen.bin_dir))
    monkeypatch.setenv("LD_LIBRARY_PATH", str(chosen.bin_dir.parent / "lib"))
    assert toolset_for(99).bin_dir == chosen.bin_dir
    monkeypatch.setenv("FINHUB_PG_BIN_DIR", str(tmp_path))
    with pytest.raises(BackupError, match="FINHUB_PG_BIN_DIR"):
        toolset_for(15)


# --- on the local PostgreSQL 15 --------------------------------------------------------------


@pytest.fixture(scope="module")
def pg15() -> str:
    try:
        with psycopg.connect(LOCAL_PG15, connect_timeout=3) as conn:
            version = conn.info.server_version
    except psycopg.OperationalError:
        pytest.skip(f"no PostgreSQL server answers at {LOCAL_PG15}")
    if version // 10000 != 15:
        pytest.skip(f"the server at {LOCAL_PG15} is {version}, not 15")
    return LOCAL_PG15


@pytest.fixture
def pg15_books(pg15: str) -> Iterator[tuple[str, str, str]]:
    with books(pg15, "finhub_backup15") as books_:
        yield books_


def test_round_trip_on_postgresql_15(
    pg15_books: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if Path("/usr/lib/postgresql/15/bin/pg_dump").exists():
        assert toolset_for(15).bin_dir == Path("/usr/lib/postgresql/15/bin")
    run_round_trip(*pg15_books, tmp_path, monkeypatch)


def test_postgresql_15_without_matching_tools(
    pg15_books: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the wheel's newer tools: the restore goes through SQL, minus unknown settings."""
    monkeypatch.setattr(backup_module, "_system_toolset", lambda major: None)
    assert toolset_for(15).major > 15
    scripts = spy_on_script_restores(monkeypatch)
    run_round_trip(*pg15_books, tmp_path, monkeypatch)
    assert len(scripts) == 2  # the good restore and the truncated one


def test_embedded_backup_moves_to_postgresql_15(
    pg15: str, embedded_backup: Backup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moving from the embedded server to an older external one: an archive the server's own
    tools can't read is still restored, row for row."""
    file, source = embedded_backup
    scripts = spy_on_script_restores(monkeypatch)
    with scratch_database(pg15, "finhub_backup15_move", migrate=False) as url:
        cli = Cli(url, tmp_path, monkeypatch)
        code, output = cli("restore", str(file), "--yes")
        assert code == 0, output
        assert scripts == [file]
        assert snapshot(url) == source
        code, output = cli("ledger", "verify")
        assert code == 0, output


def test_the_password_stays_off_the_command_line() -> None:
    dbname, env = backup_module._connection(
        "postgresql://finhub:s3cret@db.internal:5433/books?sslmode=require", {"KEEP": "1"}
    )
    assert "s3cret" not in dbname
    assert "host=db.internal" in dbname
    assert "port=5433" in dbname
    assert "sslmode=require" in dbname
    assert env == {"KEEP": "1", "PGPASSWORD": "s3cret"}
