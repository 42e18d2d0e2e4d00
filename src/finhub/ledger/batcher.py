"""Group commit for single transfers.

Concurrent callers each submit one transaction; a runner task gathers whatever is waiting into
one database transaction, posts it as an independent batch (each spec succeeds or fails on
its own) and commits once. Updates to a hot account are netted to one row update per batch, so
a popular account never serialises the whole system behind its row lock, and the commit (the
fsync) is shared by the whole group. Under light load a batch is a single transfer, so latency
stays that of one transaction.

An `Idempotency-Key` is claimed in the group's transaction too (`claim_with_work`), so a request
costs no commit of its own before its transfer, and a key's response is stored with its
transfer or its refusal.

One runner is the default on purpose: while its batch is in the database the next one fills
up, so batches grow with load. Several runners split the waiting callers into small batches
that contend for the same rows (measured: one runner moves ~1.5x the transfers of two, at
half the CPU per transfer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from psycopg import Error as DatabaseError

from finhub.audit.service import AuditEntry, record_many
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.idempotency import (
    DeferredKey,
    IdempotencyClaim,
    claim_with_work,
    complete_many,
    kept_for_replay,
    release_many,
)
from finhub.kit.jsonutil import dumps
from finhub.kit.logging import get_logger
from finhub.ledger.models import Transaction, TransactionSpec
from finhub.ledger.service import LedgerService, PostOutcome

log = get_logger(__name__)

# Renders the response stored for an idempotency key once the transaction exists.
Renderer = Callable[[Transaction], tuple[int, bytes]]
# The audit record of a posted transaction, written in the commit that posts it.
TransactionAudit = Callable[[Transaction], AuditEntry]


@dataclass(slots=True)
class _Item:
    spec: TransactionSpec
    future: asyncio.Future[Transaction]
    key: DeferredKey | None = None
    render: Renderer | None = None
    audit: TransactionAudit | None = None


class TransferBatcher:
    def __init__(
        self, db: Database, ledger: LedgerService, *, max_batch: int = 500, runners: int = 1
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.max_batch = max_batch
        self.runner_count = runners
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._runners: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self._runners:
            self._runners = [
                asyncio.create_task(self._run(), name=f"ledger-batcher-{n}")
                for n in range(self.runner_count)
            ]

    async def stop(self) -> None:
        """Finish what is queued, then stop the runners."""
        await self._queue.join()
        for task in self._runners:
            task.cancel()
        await asyncio.gather(*self._runners, return_exceptions=True)
        self._runners = []

    async def submit(
        self,
        spec: TransactionSpec,
        *,
        key: DeferredKey | None = None,
        render: Renderer | None = None,
        audit: TransactionAudit | None = None,
    ) -> Transaction:
        """Post one transaction with the next group commit; raises its rule error if any.

        With a key, the key is claimed in that commit and the response (`render`, or the rule
        error as problem+json) is stored under it; a key already used raises what its request
        answers instead (`IdempotentReplay`, 422 or 409) and posts nothing. The audit record is
        written in the same commit as the transaction.
        """
        if key is not None and render is None:
            raise ValueError("a transfer with an idempotency key needs a renderer")
        self.start()
        future: asyncio.Future[Transaction] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(spec, future, key, render, audit))
        # shield: a caller that goes away must not cancel a commit already under way.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # Let callers woken by the previous commit enqueue their next transfer first, so
            # batches don't fragment into ones and twos under steady load.
            for _ in range(3):
                await asyncio.sleep(0)
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._post(batch)
            except DatabaseError:
                log.warning("ledger batch failed; retrying its items one by one", size=len(batch))
                for item in batch:
                    await self._post_alone(item)
            except Exception as error:  # pragma: no cover - a bug; fail the callers, keep running
                log.exception("ledger batch crashed")
                for item in batch:
                    _fail(item, error)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _post(self, batch: list[_Item]) -> None:
        completions: list[tuple[IdempotencyClaim, int, bytes]] = []
        try:
            async with self.db.pipelined_transaction() as conn:
                batch, claims = await _claim_keys(conn, batch)
                specs = [item.spec for item in batch]
                outcomes = await self.ledger.post(conn, specs, atomic=False)
                released: list[IdempotencyClaim] = []
                for item, claim, outcome in zip(batch, claims, outcomes, strict=True):
                    if claim is None:
                        continue  # no key: the endpoint renders its answer after the commit
                    answer = _answer(item, outcome)
                    if answer is None:
                        released.append(claim)
                    else:
                        completions.append((claim, *answer))
                await complete_many(conn, completions)
                await release_many(conn, released)
                # Last, because an audit record holds the audit chain's head until commit.
                await record_many(
                    conn,
                    [
                        item.audit(outcome.transaction)
                        for item, outcome in zip(batch, outcomes, strict=True)
                        if outcome.transaction is not None and item.audit is not None
                    ],
                )
        except BaseException:
            for claim, _, _ in completions:
                claim.completed = False  # nothing was stored after all: the commit failed
            raise
        for item, outcome in zip(batch, outcomes, strict=True):
            if outcome.error is not None:
                _fail(item, outcome.error)
            elif not item.future.done():
                assert outcome.transaction is not None
                item.future.set_result(outcome.transaction)

    async def _post_alone(self, item: _Item) -> None:
        try:
            if await self._already_committed(item):
                return
            await self._post([item])
        except Exception as error:
            _fail(item, error)

    async def _already_committed(self, item: _Item) -> bool:
        """A batch whose COMMIT failed on the wire may have committed all the same; then its
        transaction (and any idempotent response, written in the same commit) exists."""
        async with self.db.transaction() as conn:
            existing = await self.ledger.find_transaction(conn, item.spec.id)
        if existing is None:
            return False
        if not item.future.done():
            item.future.set_result(existing)
        return True


async def _claim_keys(
    conn: Connection, batch: list[_Item]
) -> tuple[list[_Item], list[IdempotencyClaim | None]]:
    """Claim the batch's idempotency keys in its transaction. The items whose key is taken
    get their answer (a replay, 422 or 409) and leave the batch; the rest come back with
    their claim (None without a key)."""
    keyed = [(item, item.key) for item in batch if item.key is not None]
    claimed = await claim_with_work(conn, [key for _, key in keyed])
    answers = {id(item): answer for (item, _), answer in zip(keyed, claimed, strict=True)}
    kept: list[_Item] = []
    claims: list[IdempotencyClaim | None] = []
    for item in batch:
        answer = answers.get(id(item))
        if answer is None or isinstance(answer, IdempotencyClaim):
            kept.append(item)
            claims.append(answer)
        else:
            _fail(item, answer)
    return kept, claims


def _answer(item: _Item, outcome: PostOutcome) -> tuple[int, bytes] | None:
    """What the key of `item` keeps for replays: the rendered response, the rule error as
    problem+json, or None when the error is of the moment and the key is given up."""
    assert item.key is not None  # `submit` requires a renderer with every key
    assert item.render is not None
    if outcome.transaction is not None:
        return item.render(outcome.transaction)
    assert outcome.error is not None
    if not kept_for_replay(outcome.error):
        return None
    return outcome.error.status, dumps(outcome.error.to_problem(item.key.path))


def _fail(item: _Item, error: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(error)
