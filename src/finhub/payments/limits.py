"""Limits per KYC tier: per payment, daily, monthly and balance caps."""

from __future__ import annotations

from datetime import datetime

from finhub.kit.db.engine import Connection


async def check_limits(
    conn: Connection,
    *,
    user_id: str,
    operation: str,
    currency: str,
    amount: int,
    now: datetime,
) -> None:
    """Raise `LimitExceeded` (422 `limit_exceeded`, with `limit`, `remaining` and `currency`)
    when `amount` would break one of the person's limits for `operation`; `operation` "receive"
    checks the balance cap of a wallet about to be credited."""
