"""`finhub bench ledger`: pgbench as the physical reference, then finhub's own ledger paths.

Every figure is printed with its ratio to the ledger-shaped pgbench run (two balance updates
in id order and one insert per transaction), measured on the same server in the same run.
Progress goes to stderr; the header and the table (Markdown) go to stdout.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from finhub.bench import pgbench, service
from finhub.bench.accounts import ASSET, TRANSFER_LEDGER, transfer_accounts
from finhub.bench.http_load import Job, JobResult
from finhub.bench.load import Latencies, LoadResult, TransferMix
from finhub.bench.reads import ensure_read_data, peak_rss, read_paths
from finhub.bench.report import Report, Row, machine_header
from finhub.bench.server import Measured, RunningServer, finhub_server, measure
from finhub.config import Settings
from finhub.kit.clock import SystemClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService

PARTS = ("pgbench", "service", "hot", "http", "batch", "reads")
TRANSFER_ACCOUNTS = 10_000
BATCH_SIZE = 1_000
BATCH_CONCURRENCY = 4
READ_CONCURRENCY = 1
RSS_LIMIT_MB = 250.0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float
    concurrency: int
    parts: frozenset[str]
    transactions: int
    http_workers: tuple[int, ...]
    ledger_batch_max: int

    @property
    def warmup(self) -> float:
        return min(2.0, self.seconds / 4)


@dataclass(slots=True)
class Fixtures:
    """What the in-process parts leave for the HTTP parts: account ids and a figure."""

    accounts: list[str] = field(default_factory=list)
    hot: str = ""
    read_accounts: list[str] = field(default_factory=list)
    uniform_rate: float | None = None


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run on uvloop when available, as uvicorn does, so in-process figures compare fairly."""

    async def main() -> T:
        return await factory()

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(main())
    return uvloop.run(main())


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
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    options = Options(
        seconds, concurrency, only, transactions, http_workers, settings.ledger_batch_max
    )
    header = run_async(lambda: _header(url, options))
    say(header)
    report = Report()
    if "pgbench" in only:
        _pgbench_part(url, options, report)
    fixtures = run_async(lambda: _in_process_parts(url, options, report))
    _http_parts(url, options, report, fixtures)
    print(header + "\n\n" + report.render(), flush=True)
    return report


async def _header(url: str, options: Options) -> str:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        return await machine_header(
            conn,
            seconds=options.seconds,
            concurrency=options.concurrency,
            parts=",".join(p for p in PARTS if p in options.parts),
            transactions=f"{options.transactions:,}",
        )


# --- pgbench ----------------------------------------------------------------------------------


def _pgbench_part(url: str, options: Options, report: Report) -> None:
    scale = max(1, options.concurrency)  # at least one branch row per client, as pgbench advises
    with pgbench.scratch_database(url) as conninfo:
        bench = pgbench.Pgbench(conninfo)
        say(f"pgbench: initialising scale {scale} in {pgbench.SCRATCH_DATABASE}")
        bench.initialise(scale)
        runs = [
            ("tpcb-like", None, False),
            ("ledger-shaped", pgbench.LEDGER_SCRIPT, False),
            ("ledger-shaped, prepared", pgbench.LEDGER_SCRIPT, True),
        ]
        results = {}
        for name, script, prepared in runs:
            say(f"pgbench: {name}, {options.concurrency} clients, {options.seconds:g} s")
            results[name] = bench.run(
                clients=options.concurrency,
                seconds=options.seconds,
                prepared=prepared,
                script=script,
            )
    report.reference = results["ledger-shaped"].tps
    c = options.concurrency
    for name, label, note in (
        ("tpcb-like", f"1. pgbench tpcb-like, c={c}", ""),
        ("ledger-shaped", f"2. pgbench ledger-shaped, c={c} (**reference**)", ""),
        (
            "ledger-shaped, prepared",
            f"2b. pgbench ledger-shaped, prepared protocol, c={c}",
            "context only: pgbench with server-side prepared statements",
        ),
    ):
        result = results[name]
        note = note or f"average latency {result.latency_avg_ms:.2f} ms"
        report.add(Row(label, result.tps, "tps", note=note))


# --- in-process parts: service level, and the data the HTTP parts need ------------------------


async def _in_process_parts(url: str, options: Options, report: Report) -> Fixtures:
    parts = options.parts
    fixtures = Fixtures()
    db = Database(url, min_size=2, max_size=options.concurrency + 4)
    await db.open()
    ledger = LedgerService(SystemClock())
    try:
        if parts & {"service", "hot", "http", "batch"}:
            say(f"accounts: ensuring {TRANSFER_ACCOUNTS:,} benchmark accounts")
            fixtures.accounts, fixtures.hot = await transfer_accounts(db, ledger, TRANSFER_ACCOUNTS)
        if parts & {"service", "hot"}:
            await _service_part(db, ledger, options, report, fixtures)
        if "reads" in parts:
            fixtures.read_accounts = await ensure_read_data(db, ledger, options.transactions, say)
    finally:
        await db.close()
    return fixtures


async def _service_part(
    db: Database, ledger: LedgerService, options: Options, report: Report, fixtures: Fixtures
) -> None:
    c, s, w = options.concurrency, options.seconds, options.warmup
    uniform = TransferMix(fixtures.accounts)
    say(f"service: batched single transfers, {c} tasks, {s:g} s")
    batched = await service.batched(
        db, ledger, uniform, concurrency=c, seconds=s, warmup=w, max_batch=options.ledger_batch_max
    )
    fixtures.uniform_rate = batched.rate
    _service_row(report, f"3. service transfers via batcher, c={c}", batched, minimum=0.7)
    if "service" in options.parts:
        say(f"service: one transfer per DB transaction, {c} connections, {s:g} s")
        raw = await service.unbatched(db, ledger, uniform, concurrency=c, seconds=s, warmup=w)
        _service_row(report, f"3b. service transfers, no batching, c={c}", raw, minimum=None)
    if "hot" in options.parts:
        say(f"service: 90% through one hot account, {c} tasks, {s:g} s")
        hot_mix = TransferMix(fixtures.accounts, fixtures.hot, hot_share=0.9)
        hot = await service.batched(
            db,
            ledger,
            hot_mix,
            concurrency=c,
            seconds=s,
            warmup=w,
            max_batch=options.ledger_batch_max,
        )
        row = _service_row(report, f"6. hot account (90%) via batcher, c={c}", hot, minimum=None)
        share = hot.rate / batched.rate if batched.rate else 0.0
        row.target = f"≥ 0.70× uniform (3): {share:.2f}×"
        row.met = share >= 0.7


def _service_row(report: Report, label: str, result: LoadResult, *, minimum: float | None) -> Row:
    row = report.add(Row(label, result.rate, "transfers/s", latency=result.latency))
    _judge_ratio(report, row, minimum)
    per_transfer = result.process_cpu / max(result.completed, 1) * 1000
    row.note = (
        f"machine CPU {result.machine_busy:.0%} busy; the benchmark process (clients and "
        f"ledger service) used {per_transfer:.2f} ms CPU per transfer"
    )
    _note_failures(row, result.failed, result.first_error)
    return row


def _judge_ratio(report: Report, row: Row, minimum: float | None) -> None:
    if minimum is None:
        return
    row.target = f"≥ {minimum:.2f}× ref"
    ratio = report.ratio(row.value)
    row.met = None if ratio is None else ratio >= minimum


def _note_failures(row: Row, failed: int, first_error: str | None) -> None:
    if failed:
        row.note += f"; {failed:,} failed, first: {first_error}"
        row.met = False


# --- HTTP parts -------------------------------------------------------------------------------


def _http_parts(url: str, options: Options, report: Report, fixtures: Fixtures) -> None:
    parts = options.parts
    workers = max(options.http_workers)
    if "http" in parts:
        workers = _http_transfers(url, options, report, fixtures)
    if not parts & {"batch", "reads"}:
        return
    say(f"http: starting finhub serve --workers {workers}")
    with finhub_server(url, workers=workers) as server, peak_rss(server) as peaks:
        if "batch" in parts:
            _http_batch(server, options, report, fixtures)
        if "reads" in parts:
            _http_reads(server, options, report, fixtures)
    report.add(
        Row(
            f"7c. API worker RSS, peak over {' and '.join(sorted(parts & {'batch', 'reads'}))}",
            max(peaks, default=0.0),
            "MB",
            rate=False,
            target=f"≤ {RSS_LIMIT_MB:.0f} MB",
            met=max(peaks) <= RSS_LIMIT_MB if peaks else None,
            note=f"--workers {workers}, per worker: " + ", ".join(f"{p:.0f} MB" for p in peaks),
        )
    )


def _job(server: RunningServer, options: Options, **fields: Any) -> Job:
    return Job(
        port=server.port,
        token=server.token,
        seconds=options.seconds,
        warmup=options.warmup,
        ledger=TRANSFER_LEDGER,
        asset=ASSET,
        run_id=uuid.uuid4().hex[:12],
        **fields,
    )


def _http_transfers(url: str, options: Options, report: Report, fixtures: Fixtures) -> int:
    """Run the transfers endpoint under each worker count; report the best. Returns it."""
    c = options.concurrency
    tried: dict[int, Measured] = {}
    for workers in options.http_workers:
        say(f"http: finhub serve --workers {workers}, POST /v1/ledger/transfers, c={c}")
        with finhub_server(url, workers=workers) as server:
            job = _job(server, options, kind="transfers", connections=c, accounts=fixtures.accounts)
            tried[workers] = measure(server, job)
        say(f"  {tried[workers].result.rate:,.0f} req/s, p99 {tried[workers].result.p99_ms:.1f} ms")
    best = max(tried, key=lambda w: tried[w].result.rate)
    measured = tried[best]
    result = measured.result
    label = f"4. HTTP POST /transfers, c={c}, --workers {best}"
    row = report.add(Row(label, result.rate, "req/s", latency=_latency(result)))
    ratio = report.ratio(result.rate)
    row.target = "≥ 0.50× ref, p99 ≤ 50 ms"
    row.met = None if ratio is None else ratio >= 0.5 and result.p99_ms <= 50
    others = "; ".join(
        f"--workers {w}: {m.result.rate:,.0f} req/s, p99 {m.result.p99_ms:.1f} ms"
        for w, m in tried.items()
        if w != best
    )
    row.note = measured.cpu_note() + (f"; other worker counts: {others}" if others else "")
    _note_failures(row, result.failed, result.first_error)
    return best


def _http_batch(
    server: RunningServer, options: Options, report: Report, fixtures: Fixtures
) -> None:
    say(
        f"http: POST /v1/ledger/transactions/batch, {BATCH_SIZE:,} per request, "
        f"{BATCH_CONCURRENCY} concurrent"
    )
    job = _job(
        server,
        options,
        kind="batch",
        connections=BATCH_CONCURRENCY,
        accounts=fixtures.accounts,
        batch_size=BATCH_SIZE,
    )
    measured = measure(server, job)
    result = measured.result
    label = (
        f"5. HTTP batch API, {BATCH_SIZE:,}/request, {BATCH_CONCURRENCY} concurrent, "
        f"--workers {server.workers}"
    )
    row = report.add(Row(label, result.rate * BATCH_SIZE, "transfers/s", latency=_latency(result)))
    _judge_ratio(report, row, 3.0)
    row.note = f"{result.rate:.1f} requests/s, latencies per request; " + measured.cpu_note(
        "transfer", per=BATCH_SIZE
    )
    _note_failures(row, result.failed, result.first_error)


def _http_reads(
    server: RunningServer, options: Options, report: Report, fixtures: Fixtures
) -> None:
    n = f"{options.transactions:,}"
    for what, label in (("balance", "7a. HTTP GET balance"), ("entries", "7b. HTTP GET entries")):
        say(f"http: GET .../{what} with {n} transactions loaded, {READ_CONCURRENCY} client(s)")
        paths = read_paths(fixtures.read_accounts, what)
        job = _job(server, options, kind="get", connections=READ_CONCURRENCY, paths=paths)
        measured = measure(server, job)
        result = measured.result
        row = report.add(
            Row(
                f"{label}, {n} txns loaded, c={READ_CONCURRENCY}",
                result.rate,
                "req/s",
                latency=_latency(result),
                rate=False,
                target="p99 ≤ 5 ms",
                met=result.p99_ms <= 5.0,
                note=measured.cpu_note(),
            )
        )
        _note_failures(row, result.failed, result.first_error)


def _latency(result: JobResult) -> Latencies:
    return Latencies(result.completed, result.p50_ms, result.p99_ms)
