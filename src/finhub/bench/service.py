"""Service-level single transfers: no HTTP, just the ledger service and the database.

`batched` goes through `TransferBatcher`, the group commit that `POST /v1/ledger/transfers`
uses; `unbatched` posts each transfer in a database transaction of its own, the naive path,
to show what the group commit buys.
"""

from __future__ import annotations

import random

from finhub.bench.accounts import ASSET, TRANSFER_LEDGER
from finhub.bench.load import LoadResult, Operation, TransferMix, closed_loop
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
) -> LoadResult:
    """`concurrency` tasks, each submitting one transfer at a time to a shared batcher."""
    batcher = TransferBatcher(db, ledger, max_batch=max_batch)
    batcher.start()
    rng = random.Random(1)

    async def transfer() -> None:
        await batcher.submit(_spec(ledger, mix, rng))

    try:
        return await closed_loop([transfer] * concurrency, seconds=seconds, warmup=warmup)
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
) -> LoadResult:
    """`concurrency` tasks, each posting one transfer per database transaction."""
    rng = random.Random(2)

    async def transfer() -> None:
        spec = _spec(ledger, mix, rng)
        async with db.transaction() as conn:
            await ledger.post(conn, [spec])

    operations: list[Operation] = [transfer] * concurrency
    return await closed_loop(operations, seconds=seconds, warmup=warmup)
