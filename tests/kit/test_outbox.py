"""The outbox hands events to a consumer in commit-safe order and never skips a late commit."""

from __future__ import annotations

import asyncio

from finhub.kit import outbox
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.ids import new_id


async def drain(db: Database, consumer: str, owner: str) -> list[str]:
    async with db.transaction() as conn:
        events = await outbox.claim_batch(conn, consumer)
        if events:
            await outbox.advance(conn, consumer, events[-1])
    return [e.data["n"] for e in events if e.owner == owner]


async def drain_until_some(db: Database, consumer: str, owner: str) -> list[str]:
    """The fence is cluster-wide: a transaction open elsewhere on the server (another test
    run) delays events a moment, so wait for them."""
    for _ in range(100):
        found = await drain(db, consumer, owner)
        if found:
            return found
        await asyncio.sleep(0.05)
    return []


async def test_an_event_committed_late_is_not_skipped(db: Database, clock: OffsetClock) -> None:
    owner, consumer = f"user:{new_id('usr')}", new_id("tok")
    await drain(db, consumer, owner)  # start the cursor after everything already there
    async with db.connection() as slow, slow.transaction():
        await slow.execute("SELECT 1")
        await outbox.emit(slow, type="t", owner=owner, data={"n": "first"}, now=clock.now())
        async with db.transaction() as fast:
            await outbox.emit(fast, type="t", owner=owner, data={"n": "second"}, now=clock.now())
        # "second" is committed, but an older transaction is still open: nothing is handed out
        # that could later turn out to have skipped it.
        assert await drain(db, consumer, owner) == []
    assert await drain_until_some(db, consumer, owner) == ["first", "second"]
    assert await drain(db, consumer, owner) == []


async def test_a_rolled_back_event_never_appears(db: Database, clock: OffsetClock) -> None:
    owner, consumer = f"user:{new_id('usr')}", new_id("tok")
    await drain(db, consumer, owner)
    async with db.connection() as conn:
        transaction = conn.transaction(force_rollback=True)
        async with transaction:
            await outbox.emit(conn, type="t", owner=owner, data={"n": "gone"}, now=clock.now())
    async with db.transaction() as conn:
        await outbox.emit(conn, type="t", owner=owner, data={"n": "kept"}, now=clock.now())
    assert await drain_until_some(db, consumer, owner) == ["kept"]
