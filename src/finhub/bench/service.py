"""Service-level single transfers: no HTTP, just the ledger service and the database.

`batched` goes through `TransferBatcher`, the group commit that `POST /v1/ledger/transfers`
uses; `unbatched` posts each transfer in a database transaction of its own, the naive path,
to show what the group commit buys.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from finhub.bench.accounts import ASSET, TRANSFER_LEDGER
from finhub.bench.context import Bench, say
from finhub.bench.cpu import CpuMeter, process_cpu
from finhub.bench.load import LoadResult, Operation, TransferMix, closed_loop
from finhub.bench.report import Row, note_failures
from finhub.kit.db import Database
from finhub.ledger.batcher import TransferBatcher
from finhub.ledger.models import TransactionSpec
from finhub.ledger.service import LedgerService


def _spec(ledger: LedgerService, mix: TransferMix, rng: random.Random) -> TransactionSpec:
    source, target = mix.pair(rng)
    return ledger.transfer_spec(
        from_account=source,
        to_account=target,
        amount=1,
        asset=ASSET,
        ledger_id=TRANSFER_LEDGER,
    )


async def batched(
    db: Database,
    ledger: LedgerService,
    mix: TransferMix,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    max_batch: int,
    on_start: Callable[[], None] | None = None,
) -> LoadResult:
    """`concurrency` tasks, each submitting one transfer at a time to a shared batcher."""
    batcher = TransferBatcher(db, ledger, max_batch=max_batch)
    batcher.start()
    rng = random.Random(1)

    async def transfer() -> None:
        await batcher.submit(_spec(ledger, mix, rng))

    try:
        operations: list[Operation] = [transfer] * concurrency
        return await closed_loop(operations, seconds=seconds, warmup=warmup, on_start=on_start)
    finally:
        await batcher.stop()


async def unbatched(
    db: Database,
    ledger: LedgerService,
    mix: TransferMix,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    on_start: Callable[[], None] | None = None,
) -> LoadResult:
    """`concurrency` tasks, each posting one transfer per database transaction."""
    rng = random.Random(2)

    async def transfer() -> None:
        spec = _spec(ledger, mix, rng)
        async with db.transaction() as conn:
            await ledger.post(conn, [spec])

    operations: list[Operation] = [transfer] * concurrency
    return await closed_loop(operations, seconds=seconds, warmup=warmup, on_start=on_start)


async def service_part(bench: Bench, db: Database, ledger: LedgerService) -> None:
    """Uniform single transfers through the batcher (the figure the hot account is held to),
    the unbatched path for context, and the hot account."""
    c, s = bench.options.concurrency, bench.options.seconds
    accounts = bench.fixtures.accounts
    say(f"service: batched single transfers, {c} tasks, {s:g} s")
    uniform, meter = await _batched_run(bench, db, ledger, TransferMix(accounts))
    _row(bench, f"3. service transfers via batcher, c={c}", uniform, meter, minimum=0.7)
    if bench.runs("service"):
        say(f"service: one transfer per DB transaction, {c} connections, {s:g} s")
        await asyncio.to_thread(bench.checkpoint)
        meter = bench.meter({"benchmark process": process_cpu})
        raw = await unbatched(
            db,
            ledger,
            TransferMix(accounts),
            concurrency=c,
            seconds=s,
            warmup=bench.options.warmup,
            on_start=meter.start,
        )
        _row(bench, f"3b. service transfers, no batching, c={c}", raw, meter)
    if bench.runs("hot"):
        say(f"service: 90% through one hot account, {c} tasks, {s:g} s")
        mix = TransferMix(accounts, bench.fixtures.hot, hot_share=0.9)
        hot, meter = await _batched_run(bench, db, ledger, mix)
        row = _row(bench, f"6. hot account (90%) via batcher, c={c}", hot, meter)
        share = hot.rate / uniform.rate if uniform.rate else 0.0
        row.target = f"≥ 0.70× uniform (3): {share:.2f}×"
        row.met = share >= 0.7 and not hot.failed


async def _batched_run(
    bench: Bench, db: Database, ledger: LedgerService, mix: TransferMix
) -> tuple[LoadResult, CpuMeter]:
    """The batcher as the app configures it, with the CPU meter running over the measured run."""
    await asyncio.to_thread(bench.checkpoint)
    meter = bench.meter({"benchmark process": process_cpu})
    result = await batched(
        db,
        ledger,
        mix,
        concurrency=bench.options.concurrency,
        seconds=bench.options.seconds,
        warmup=bench.options.warmup,
        max_batch=bench.options.ledger_batch_max,
        on_start=meter.start,
    )
    return result, meter


def _row(
    bench: Bench, label: str, result: LoadResult, meter: CpuMeter, minimum: float | None = None
) -> Row:
    meter.stop()
    row = Row(label, result.rate, "transfers/s", latency=result.latency)
    row.note = meter.note(result.completed, "transfer")
    if minimum is not None:
        bench.report.judge(row, minimum)
    note_failures(row, result.failed, result.first_error)
    return bench.report.add(row)
