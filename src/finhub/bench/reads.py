"""Reads on a large ledger: balances and statement pages with a million transactions loaded.

The data set lives in a ledger of its own (`bench_reads`) and is kept between runs: the number
already loaded is read back from the accounts' entry counts, and only the difference is posted.
Loading goes through `LedgerService.post` in large batches, on two lanes over disjoint halves
of the accounts, so one lane's Python work overlaps the other's database work without the two
ever waiting on each other's row locks.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from finhub.bench.accounts import ASSET, READS_LEDGER, account_ref, ensure_accounts
from finhub.bench.context import Bench, say
from finhub.bench.http_api import job, latency
from finhub.bench.load import TransferMix
from finhub.bench.report import Row, note_failures
from finhub.bench.server import RunningServer, measure
from finhub.kit.db import Database
from finhub.ledger.repository import AccountFilter
from finhub.ledger.service import LedgerService

READ_ACCOUNTS = 1_000
LOAD_BATCH = 5_000
LANES = 2
# Latency is measured one request at a time: the time a read takes on a large ledger, not
# how long it queues behind others (throughput is what the write rows measure).
READ_CONCURRENCY = 1
READ_P99_MS = 5.0
RSS_LIMIT_MB = 250.0

Progress = Callable[[str], None]


async def ensure_read_data(
    db: Database, ledger: LedgerService, transactions: int, progress: Progress
) -> list[str]:
    """The read accounts, with at least `transactions` transfers among them."""
    refs = [account_ref(i) for i in range(READ_ACCOUNTS)]
    ids = list((await ensure_accounts(db, ledger, ledger_id=READS_LEDGER, refs=refs)).values())
    loaded = await loaded_transactions(db, ledger)
    missing = transactions - loaded
    if missing <= 0:
        progress(f"read data: {loaded:,} transactions already loaded, reusing them")
        return ids
    progress(f"read data: {loaded:,} transactions loaded, posting {missing:,} more")
    started = time.perf_counter()
    half = len(ids) // LANES
    lanes = [ids[i * half : (i + 1) * half] for i in range(LANES)]
    counter = _Counter(missing, progress, started)
    shares = [missing // LANES + (1 if i < missing % LANES else 0) for i in range(LANES)]
    await asyncio.gather(
        *(
            _load_lane(db, ledger, lane, share, seed, counter)
            for seed, (lane, share) in enumerate(zip(lanes, shares, strict=True))
        )
    )
    elapsed = time.perf_counter() - started
    progress(f"read data: posted {missing:,} in {elapsed:.0f} s ({missing / elapsed:,.0f}/s)")
    await _settle(db, progress)
    return ids


async def _settle(db: Database, progress: Progress) -> None:
    """Vacuum and analyze what was just loaded, as after any bulk load: the reads then measure
    the data set as it stays, not the minutes before autovacuum has passed over it (the
    visibility map still empty, every row's hint bits still to be set by the first reads)."""
    started = time.perf_counter()
    async with db.connection() as conn:
        await conn.execute("VACUUM (ANALYZE) ledger_entries, ledger_transactions, ledger_accounts")
    progress(f"read data: vacuumed and analyzed in {time.perf_counter() - started:.0f} s")


async def loaded_transactions(db: Database, ledger: LedgerService) -> int:
    """Transfers among the read accounts so far: each one wrote two entries."""
    async with db.transaction() as conn:
        accounts = await ledger.list_accounts(
            conn, AccountFilter(ledger_id=READS_LEDGER), limit=READ_ACCOUNTS + 1_000
        )
    return sum(account.state.entry_count for account in accounts) // 2


@dataclass(slots=True)
class _Counter:
    total: int
    progress: Progress
    started: float
    done: int = 0
    next_report: int = field(default=0)

    def add(self, count: int) -> None:
        self.done += count
        if self.done >= self.next_report:
            rate = self.done / max(time.perf_counter() - self.started, 1e-9)
            self.progress(f"  {self.done:,} / {self.total:,} ({rate:,.0f}/s)")
            self.next_report = self.done + max(self.total // 10, LOAD_BATCH)


async def _load_lane(
    db: Database,
    ledger: LedgerService,
    accounts: list[str],
    count: int,
    seed: int,
    counter: _Counter,
) -> None:
    mix = TransferMix(accounts)
    rng = random.Random(seed)
    while count > 0:
        size = min(LOAD_BATCH, count)
        specs = []
        for _ in range(size):
            source, target = mix.pair(rng)
            specs.append(
                ledger.transfer_spec(
                    from_account=source,
                    to_account=target,
                    amount=rng.randint(1, 10_000),
                    asset=ASSET,
                    ledger_id=READS_LEDGER,
                )
            )
        async with db.transaction() as conn:
            await ledger.post(conn, specs)
        count -= size
        counter.add(size)


def reads_part(bench: Bench, server: RunningServer) -> None:
    """Balance and first statement page of random accounts among the loaded data."""
    n = f"{bench.options.transactions:,}"
    for what, label in (("balance", "7a. HTTP GET balance"), ("entries", "7b. HTTP GET entries")):
        say(f"http: GET .../{what} with {n} transactions loaded, {READ_CONCURRENCY} client")
        paths = read_paths(bench.fixtures.read_accounts, what)
        load = job(bench, server, kind="get", connections=READ_CONCURRENCY, paths=paths)
        bench.checkpoint()
        meter = bench.meter({})
        result = measure(server, load, meter)
        row = Row(
            f"{label}, {n} txns loaded, c={READ_CONCURRENCY}",
            result.rate,
            "req/s",
            latency=latency(result),
            rate=False,
            target=f"p99 ≤ {READ_P99_MS:g} ms",
            met=result.p99_ms <= READ_P99_MS,
            note=meter.note(result.completed, "request"),
        )
        note_failures(row, result.failed, result.first_error)
        bench.report.add(row)


def rss_row(bench: Bench, peaks: list[float], workers: int, during: str) -> None:
    peak = max(peaks, default=0.0)
    bench.report.add(
        Row(
            f"7c. API worker RSS, peak during {during}",
            peak,
            "MB",
            rate=False,
            target=f"≤ {RSS_LIMIT_MB:g} MB",
            met=peak <= RSS_LIMIT_MB if peaks else None,
            note=f"--workers {workers}, per worker: " + ", ".join(f"{p:.0f} MB" for p in peaks),
        )
    )


def read_paths(accounts: list[str], what: str, sample: int = 500) -> list[str]:
    """`balance` or `entries` paths for a random sample of the read accounts."""
    chosen = random.Random(3).sample(accounts, min(sample, len(accounts)))
    return [f"/v1/ledger/accounts/{account}/{what}" for account in chosen]


@contextmanager
def peak_rss(server: RunningServer, interval: float = 0.2) -> Iterator[list[float]]:
    """Sample the API workers' RSS in the background; the list ends with the peak per worker."""
    peaks: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for index, size in enumerate(server.worker_rss_mb()):
                peaks[index] = max(peaks.get(index, 0.0), size)
            stop.wait(interval)

    thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    result: list[float] = []
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join(timeout=5)
        result.extend(peaks[index] for index in sorted(peaks))
