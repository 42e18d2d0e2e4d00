"""`finhub bench ledger`: pgbench as the physical reference, then finhub's own ledger paths.

Every figure is printed with its ratio to the ledger-shaped pgbench run (two balance updates
in id order and one insert per transaction), measured on the same server in the same run.
Progress goes to stderr; the header and the table (Markdown) go to stdout.

The parts, in order: pgbench (`pgbench.py`), service-level transfers and the hot account
(`service.py`), loading the read data (`reads.py`), then against a real `finhub serve`: HTTP
transfers and the batch API (`http_api.py`) and reads (`reads.py`).
"""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from finhub.bench.accounts import transfer_accounts
from finhub.bench.context import PARTS, Bench, Options, run_async, say
from finhub.bench.cpu import postgres_pid, tree_cpu
from finhub.bench.http_api import batch_part, transfers_part
from finhub.bench.pgbench import pgbench_part
from finhub.bench.reads import ensure_read_data, peak_rss, reads_part, rss_row
from finhub.bench.report import Report, machine_header
from finhub.bench.server import finhub_server
from finhub.bench.service import service_part
from finhub.config import Settings
from finhub.kit.clock import SystemClock
from finhub.kit.db import Database
from finhub.kit.heap import settle_after_startup
from finhub.ledger.service import LedgerService

TRANSFER_ACCOUNTS = 10_000


def run_ledger_benchmark(
    url: str,
    *,
    settings: Settings,
    seconds: float,
    concurrency: int,
    only: frozenset[str] = frozenset(PARTS),
    transactions: int = 1_000_000,
    http_workers: tuple[int, ...] = (1, 2),
) -> Report:
    unknown = only - set(PARTS)
    if unknown or not only:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    if not http_workers or min(http_workers) < 1:
        raise ValueError("http_workers needs one or more worker counts of at least 1")
    options = Options(
        seconds, concurrency, only, transactions, http_workers, settings.ledger_batch_max
    )
    bench = Bench(url, options)
    header = run_async(lambda: _prepare(bench))
    say(header)
    with pgbench_part(bench):
        run_async(lambda: _in_process_parts(bench))
        _http_parts(bench)
    print(header + "\n\n" + bench.report.render(), flush=True)
    return bench.report


async def _prepare(bench: Bench) -> str:
    """Find the local PostgreSQL's processes (for CPU figures) and describe the machine."""
    options = bench.options
    async with await psycopg.AsyncConnection.connect(bench.url, row_factory=dict_row) as conn:
        pid = await postgres_pid(conn)
        bench.postgres = tree_cpu(pid) if pid is not None else None
        return await machine_header(
            conn,
            seconds=options.seconds,
            concurrency=options.concurrency,
            parts=",".join(p for p in PARTS if p in options.parts),
            transactions=f"{options.transactions:,}",
        )


async def _in_process_parts(bench: Bench) -> None:
    """The service-level parts, and the accounts and data the HTTP parts need."""
    db = Database(bench.url, min_size=2, max_size=bench.options.concurrency + 4)
    await db.open()
    ledger = LedgerService(SystemClock())
    try:
        if bench.options.parts & {"service", "hot", "http", "batch"}:
            say(f"accounts: ensuring {TRANSFER_ACCOUNTS:,} benchmark accounts")
            accounts, hot = await transfer_accounts(db, ledger, TRANSFER_ACCOUNTS)
            bench.fixtures.accounts, bench.fixtures.hot = accounts, hot
        if bench.options.parts & {"service", "hot"}:
            # The group commit measured here runs in an API worker in production, whose heap is
            # settled once it has started; measure it under the same collector settings.
            settle_after_startup()
            await service_part(bench, db, ledger)
        if bench.runs("reads"):
            transactions = bench.options.transactions
            bench.fixtures.read_accounts = await ensure_read_data(db, ledger, transactions, say)
    finally:
        await db.close()


def _http_parts(bench: Bench) -> None:
    workers = max(bench.options.http_workers)
    if bench.runs("http"):
        workers = transfers_part(bench)
    during = [part for part in ("batch", "reads") if bench.runs(part)]
    if not during:
        return
    say(f"http: starting finhub serve --workers {workers}")
    with finhub_server(bench.url, workers=workers) as server, peak_rss(server) as peaks:
        if bench.runs("batch"):
            batch_part(bench, server)
        if bench.runs("reads"):
            reads_part(bench, server)
    rss_row(bench, peaks, workers, " and ".join(during))
