"""Failure throttling with exponential lockout, shared by every API process (in PostgreSQL).

Sign-in, second-factor, reset and PIN endpoints count failures per scope and key (an account, an
IP address). After `max_failures` within `window` the key is locked for `base_lockout`, doubling
with each further lockout up to `max_lockout`. Counters are written in autocommit, outside the
request's transaction, so a failed request can't roll its own failure back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from finhub.errors import TooManyAttempts
from finhub.kit.db.engine import Database

FORGET_LOCKOUTS_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    scope: str
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    base_lockout: timedelta = timedelta(minutes=1)
    max_lockout: timedelta = timedelta(hours=1)


CHECK_SQL = """
    SELECT max(locked_until) AS locked_until FROM auth_throttles
     WHERE scope = %s AND key = ANY(%s) AND locked_until > %s
"""

# Every SET expression sees the row's old values; `fresh` restarts a window that has passed.
FAIL_SQL = """
    INSERT INTO auth_throttles AS t (scope, key, failures, lockouts, window_start)
    VALUES (%(scope)s, %(key)s, 1, 0, %(now)s)
    ON CONFLICT (scope, key) DO UPDATE SET
        failures = CASE
            WHEN (CASE WHEN t.window_start < %(now)s - %(window)s THEN 1 ELSE t.failures + 1 END)
                 >= %(max)s THEN 0
            WHEN t.window_start < %(now)s - %(window)s THEN 1
            ELSE t.failures + 1 END,
        lockouts = CASE
            WHEN t.window_start < %(now)s - %(forget)s THEN 0
            WHEN (CASE WHEN t.window_start < %(now)s - %(window)s THEN 1 ELSE t.failures + 1 END)
                 >= %(max)s THEN t.lockouts + 1
            ELSE t.lockouts END,
        locked_until = CASE
            WHEN (CASE WHEN t.window_start < %(now)s - %(window)s THEN 1 ELSE t.failures + 1 END)
                 >= %(max)s
            THEN %(now)s + least(%(base)s * power(2, t.lockouts), %(cap)s)
            ELSE t.locked_until END,
        window_start = CASE
            WHEN t.window_start < %(now)s - %(window)s THEN %(now)s ELSE t.window_start END
    RETURNING locked_until
"""


class Throttle:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def check(self, rule: ThrottleRule, keys: list[str], now: datetime) -> None:
        """Raise 429 `too_many_attempts` while any of `keys` is locked."""
        async with self.db.connection() as conn:
            cursor = await conn.execute(CHECK_SQL, (rule.scope, keys, now))
            row = await cursor.fetchone()
        locked_until = row["locked_until"] if row else None
        if locked_until is not None:
            raise TooManyAttempts(max(1, math.ceil((locked_until - now).total_seconds())))

    async def fail(self, rule: ThrottleRule, keys: list[str], now: datetime) -> bool:
        """Count one failure against every key; locking happens at `max_failures`. True when
        this failure started a lockout (callers check first, so none was running)."""
        locked = False
        async with self.db.connection() as conn:
            for key in keys:
                cursor = await conn.execute(
                    FAIL_SQL,
                    {
                        "scope": rule.scope,
                        "key": key,
                        "now": now,
                        "window": rule.window,
                        "max": rule.max_failures,
                        "forget": FORGET_LOCKOUTS_AFTER,
                        "base": rule.base_lockout,
                        "cap": rule.max_lockout,
                    },
                )
                row = await cursor.fetchone()
                locked = locked or bool(row and row["locked_until"] and row["locked_until"] > now)
        return locked

    async def succeed(self, rule: ThrottleRule, key: str) -> None:
        """A success clears the account's counter (not the IP's: one good password must not
        unlock an address that is guessing at many accounts)."""
        async with self.db.connection() as conn:
            await conn.execute(
                "DELETE FROM auth_throttles WHERE scope = %s AND key = %s", (rule.scope, key)
            )
