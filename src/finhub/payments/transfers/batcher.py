"""Group commit for payments between people.

Concurrent `POST /v1/payments/p2p` requests each submit one `TransferOrder`; a runner task
gathers whatever is waiting into one database transaction, posts it with `transfer_group`
(each payment judged on its own: a refusal answers that payment only) and commits once, with
the idempotent responses stored and the audit records written in that same commit. The work
of a group is set-based, so a payment's share of the statements, the ledger's row locks, the
audit chain's turn and the commit shrinks as the group grows; under light load a group is one
payment and latency stays that of one transaction.

A wallet is in at most one payment of a group: a second payment of the same wallet waits for
the next group. Each payment's limits and funds are then judged exactly as they would be
alone, against everything committed before it.

When a group's transaction fails for a database reason (a deadlock with another flow, a lost
connection), its payments are retried one at a time, each first looked up by its payment id
in case the failed COMMIT had in fact committed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from psycopg import Error as DatabaseError

from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.idempotency import IdempotencyClaim, complete_many, still_held
from finhub.kit.jsonutil import dumps
from finhub.kit.logging import get_logger
from finhub.ledger.service import LedgerService
from finhub.payments import repository
from finhub.payments.core import payment_payload
from finhub.payments.models import Payment
from finhub.payments.transfers.group import TransferOrder, transfer_group

log = get_logger(__name__)
CREATED = 201


@dataclass(slots=True)
class _Item:
    order: TransferOrder
    future: asyncio.Future[Payment]
    claim: IdempotencyClaim | None


class TransferGroupCommit:
    def __init__(self, db: Database, ledger: LedgerService, *, max_group: int = 200) -> None:
        self.db = db
        self.ledger = ledger
        self.max_group = max_group
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="p2p-group-commit")

    async def stop(self) -> None:
        """Finish what is queued, then stop the runner."""
        await self._queue.join()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None

    async def submit(self, order: TransferOrder, claim: IdempotencyClaim | None) -> Payment:
        """Pay `order` with the next group commit; raises its refusal (a 4xx) if any. With a
        claim, the 201 response is stored for the idempotency key in the same commit."""
        self.start()
        future: asyncio.Future[Payment] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(order, future, claim))
        # shield: a caller that goes away must not cancel a commit already under way.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        deferred: list[_Item] = []
        while True:
            waiting = deferred or [await self._queue.get()]
            # Let callers woken by the previous commit submit their next payment first, so
            # groups don't fragment into ones and twos under steady load.
            for _ in range(3):
                await asyncio.sleep(0)
            while not self._queue.empty():
                waiting.append(self._queue.get_nowait())
            group, deferred = _disjoint(waiting, self.max_group)
            try:
                await self._commit(group)
            except DatabaseError:
                log.warning(
                    "payment group failed; retrying its payments one by one", size=len(group)
                )
                for item in group:
                    await self._commit_alone(item)
            except Exception as error:  # pragma: no cover - a bug; fail the callers, keep running
                log.exception("payment group crashed")
                for item in group:
                    _fail(item, error)
            finally:
                for _ in group:
                    self._queue.task_done()

    async def _commit(self, group: list[_Item]) -> None:
        completions: list[tuple[IdempotencyClaim, int, bytes]] = []
        try:
            async with self.db.pipelined_transaction() as conn:
                wanted = await _still_wanted(conn, group)
                results = await transfer_group(conn, self.ledger, [item.order for item in wanted])
                completions = [
                    (item.claim, CREATED, dumps(payment_payload(result)))
                    for item, result in zip(wanted, results, strict=True)
                    if item.claim is not None and isinstance(result, Payment)
                ]
                await complete_many(conn, completions)
        except BaseException:
            for claim, _, _ in completions:
                claim.completed = False  # nothing was stored after all: the commit failed
            raise
        for item, result in zip(wanted, results, strict=True):
            if isinstance(result, Payment):
                if not item.future.done():
                    item.future.set_result(result)
            else:
                _fail(item, result)

    async def _commit_alone(self, item: _Item) -> None:
        try:
            if await self._already_committed(item):
                return
            await self._commit([item])
        except Exception as error:
            _fail(item, error)

    async def _already_committed(self, item: _Item) -> bool:
        """A group whose COMMIT failed on the wire may have committed all the same; then the
        payment (and its stored response, written in the same commit) exists."""
        async with self.db.connection() as conn:
            existing = await repository.find(conn, item.order.payment_id)
        if existing is None:
            return False
        if not item.future.done():
            item.future.set_result(existing)
        return True


async def _still_wanted(conn: Connection, group: list[_Item]) -> list[_Item]:
    """The payments whose request still holds its idempotency key (locked until commit); one
    whose request went away and released its key is dropped, so that a retry with that key
    can't pay a second time."""
    keep = await still_held(conn, [item.claim for item in group])
    for item, wanted in zip(group, keep, strict=True):
        if not wanted:
            item.future.cancel()
    return [item for item, wanted in zip(group, keep, strict=True) if wanted]


def _disjoint(waiting: list[_Item], limit: int) -> tuple[list[_Item], list[_Item]]:
    """The next group (at most `limit` payments, no wallet in two of them, in arrival order)
    and the payments left for a later one."""
    group: list[_Item] = []
    later: list[_Item] = []
    taken: set[str] = set()
    for item in waiting:
        wallet_ids = {item.order.payer.wallet.id, item.order.payee.wallet.id}
        if len(group) < limit and taken.isdisjoint(wallet_ids):
            group.append(item)
            taken |= wallet_ids
        else:
            later.append(item)
    return group, later


def _fail(item: _Item, error: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(error)
