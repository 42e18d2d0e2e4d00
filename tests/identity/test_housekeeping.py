"""The hourly identity purge forgets spent tokens, stale throttles and long-ended sessions only."""

from __future__ import annotations

from datetime import timedelta

from finhub.config import Settings
from finhub.identity import sessions, tokens
from finhub.identity.tasks import purge
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.runtime import Runtime, install_runtime
from tests.factories import create_user

SETTINGS = Settings(session_idle_minutes=30, session_max_hours=12)


async def exists(db: Database, table: str, column: str, value: object) -> bool:
    async with db.connection() as conn:
        cursor = await conn.execute(
            f"SELECT count(*) AS n FROM {table} WHERE {column} = %s",  # noqa: S608 (constants)
            (value,),
        )
        row = await cursor.fetchone()
    return bool(row and row["n"])


async def test_purge_keeps_what_is_still_usable(db: Database) -> None:
    clock = OffsetClock()
    now = clock.now()
    async with db.transaction() as conn:
        user_id = await create_user(conn)
        live_token = await tokens.issue(
            conn, purpose="p", subject_id=user_id, ttl=timedelta(days=3), now=now
        )
        dead_token = await tokens.issue(
            conn, purpose="p", subject_id=user_id, ttl=timedelta(hours=1), now=now
        )
        old = await sessions.start_session(conn, SETTINGS, now=now, aal=1, user_id=user_id)
    clock.advance(timedelta(days=2))
    async with db.transaction() as conn:
        fresh = await sessions.start_session(
            conn, SETTINGS, now=clock.now(), aal=1, user_id=user_id
        )

    install_runtime(Runtime(db=db, clock=clock, ledger=LedgerService(clock)))
    try:
        await purge(timestamp=0)
        assert await exists(db, "sessions", "id", fresh.id)
        assert await exists(db, "sessions", "id", old.id)  # ended two days ago: kept 30
        assert await exists(db, "one_time_tokens", "subject_id", user_id)
        clock.advance(timedelta(days=31))
        await purge(timestamp=0)
    finally:
        install_runtime(None)
    assert not await exists(db, "sessions", "id", old.id)
    assert not await exists(db, "sessions", "id", fresh.id)
    async with db.transaction() as conn:
        for token in (live_token, dead_token):
            try:
                await tokens.consume(conn, purpose="p", token=token, now=now)
            except tokens.InvalidToken:
                continue
            raise AssertionError("a purged token still works")
    assert not await exists(db, "one_time_tokens", "subject_id", user_id)
