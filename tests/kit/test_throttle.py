"""Failure throttling with exponential lockout, shared through PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from finhub.errors import TooManyAttempts
from finhub.kit.db import Database
from finhub.kit.ids import new_id
from finhub.kit.throttle import Throttle, ThrottleRule

RULE = ThrottleRule(
    scope="test",
    max_failures=3,
    window=timedelta(minutes=10),
    base_lockout=timedelta(minutes=1),
    max_lockout=timedelta(minutes=5),
)
T0 = datetime(2030, 1, 1, tzinfo=UTC)


async def fail_times(throttle: Throttle, key: str, times: int, at: datetime) -> None:
    for _ in range(times):
        await throttle.fail(RULE, [key], at)


async def locked_for(throttle: Throttle, key: str, at: datetime) -> int | None:
    try:
        await throttle.check(RULE, [key], at)
    except TooManyAttempts as error:
        return error.retry_after
    return None


async def test_a_key_locks_at_the_limit_and_unlocks_after_the_lockout(db: Database) -> None:
    throttle, key = Throttle(db), new_id("tok")
    await fail_times(throttle, key, 2, T0)
    assert await locked_for(throttle, key, T0) is None
    await throttle.fail(RULE, [key], T0)
    assert await locked_for(throttle, key, T0) == 60
    assert await locked_for(throttle, key, T0 + timedelta(seconds=59)) == 1
    assert await locked_for(throttle, key, T0 + timedelta(seconds=61)) is None


async def test_each_further_lockout_doubles_up_to_the_cap(db: Database) -> None:
    throttle, key = Throttle(db), new_id("tok")
    at = T0
    lockouts = []
    for _ in range(5):
        await fail_times(throttle, key, 3, at)
        lockout = await locked_for(throttle, key, at)
        assert lockout is not None
        lockouts.append(lockout)
        at += timedelta(seconds=lockout + 1)
    assert lockouts == [60, 120, 240, 300, 300]


async def test_failures_outside_the_window_start_a_new_count(db: Database) -> None:
    throttle, key = Throttle(db), new_id("tok")
    await fail_times(throttle, key, 2, T0)
    await throttle.fail(RULE, [key], T0 + timedelta(minutes=11))
    assert await locked_for(throttle, key, T0 + timedelta(minutes=11)) is None


async def test_success_clears_the_count_and_keys_are_independent(db: Database) -> None:
    throttle, key, other = Throttle(db), new_id("tok"), new_id("tok")
    await fail_times(throttle, key, 2, T0)
    await throttle.succeed(RULE, key)
    await fail_times(throttle, key, 2, T0)
    assert await locked_for(throttle, key, T0) is None
    await fail_times(throttle, other, 3, T0)
    assert await locked_for(throttle, other, T0) == 60
    assert await locked_for(throttle, key, T0) is None
    with pytest.raises(TooManyAttempts):
        await throttle.check(RULE, [key, other], T0)
