"""The HTTP parts: single transfers and the batch API against a real `finhub serve`."""

from __future__ import annotations

import uuid
from typing import Any

from finhub.bench.accounts import ASSET, TRANSFER_LEDGER
from finhub.bench.context import Bench, say
from finhub.bench.cpu import CpuMeter
from finhub.bench.http_load import Job, JobResult
from finhub.bench.load import Latencies
from finhub.bench.report import Row, note_failures
from finhub.bench.server import RunningServer, finhub_server, measure

BATCH_SIZE = 1_000
BATCH_CONCURRENCY = 2  # one per core; more only adds lock waits (see docs/performance.md)


def job(bench: Bench, server: RunningServer, **fields: Any) -> Job:
    return Job(
        port=server.port,
        token=server.token,
        seconds=bench.options.seconds,
        warmup=bench.options.warmup,
        ledger=TRANSFER_LEDGER,
        asset=ASSET,
        run_id=uuid.uuid4().hex[:12],
        **fields,
    )


def latency(result: JobResult) -> Latencies:
    return Latencies(result.completed, result.p50_ms, result.p99_ms)


def transfers_part(bench: Bench) -> int:
    """POST /v1/ledger/transfers under each worker count; the best is reported and returned."""
    c = bench.options.concurrency
    tried: dict[int, tuple[JobResult, CpuMeter]] = {}
    for workers in bench.options.http_workers:
        say(f"http: finhub serve --workers {workers}, POST /v1/ledger/transfers, c={c}")
        with finhub_server(bench.url, workers=workers) as server:
            bench.checkpoint()
            meter = bench.meter({})
            load = job(
                bench, server, kind="transfers", connections=c, accounts=bench.fixtures.accounts
            )
            tried[workers] = (measure(server, load, meter), meter)
        result = tried[workers][0]
        say(f"  {result.rate:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms")
    best = max(tried, key=lambda w: tried[w][0].rate)
    result, meter = tried[best]
    row = Row(
        f"4. HTTP POST /transfers, c={c}, --workers {best}",
        result.rate,
        "req/s",
        latency=latency(result),
        target="≥ 0.50× ref, p99 ≤ 50 ms",
    )
    bench.report.judge(row, 0.5, target="≥ 0.50× ref, p99 ≤ 50 ms")
    if result.p99_ms > 50:
        row.met = False
    others = "; ".join(
        f"--workers {w}: {r.rate:,.0f} req/s, p99 {r.p99_ms:.1f} ms"
        for w, (r, _) in tried.items()
        if w != best
    )
    row.note = meter.note(result.completed, "request")
    row.note += f"; also tried {others}" if others else ""
    note_failures(row, result.failed, result.first_error)
    bench.report.add(row)
    return best


def batch_part(bench: Bench, server: RunningServer) -> None:
    """POST /v1/ledger/transactions/batch, BATCH_SIZE independent transfers per request."""
    say(
        f"http: POST /v1/ledger/transactions/batch, {BATCH_SIZE:,} per request, "
        f"{BATCH_CONCURRENCY} concurrent"
    )
    load = job(
        bench,
        server,
        kind="batch",
        connections=BATCH_CONCURRENCY,
        accounts=bench.fixtures.accounts,
        batch_size=BATCH_SIZE,
    )
    bench.checkpoint()
    meter = bench.meter({})
    result = measure(server, load, meter)
    label = (
        f"5. HTTP batch API, {BATCH_SIZE:,}/request, {BATCH_CONCURRENCY} concurrent, "
        f"--workers {server.workers}"
    )
    row = Row(label, result.rate * BATCH_SIZE, "transfers/s", latency=latency(result))
    bench.report.judge(row, 3.0)
    row.note = f"{result.rate:.1f} requests/s, latency per request; " + meter.note(
        result.completed * BATCH_SIZE, "transfer"
    )
    note_failures(row, result.failed, result.first_error)
    bench.report.add(row)
