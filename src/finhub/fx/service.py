"""Exchange rates and conversions."""

from __future__ import annotations

from finhub.kit.db.engine import Connection


async def convert(
    conn: Connection, amount: int, from_currency: str, to_currency: str
) -> int | None:
    """`amount` (minor units of `from_currency`) at the latest mid rate, in minor units of
    `to_currency`, rounded half-even; None when no rate is known. For display totals only:
    money moves through quotes."""
    if from_currency == to_currency:
        return amount
    return None
