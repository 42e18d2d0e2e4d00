"""Fees per operation and currency (fixed + percentage, min/max)."""

from __future__ import annotations

from finhub.kit.db.engine import Connection


async def fee_for(conn: Connection, operation: str, currency: str, amount: int) -> int:
    """The fee in minor units of `currency` for `operation` (p2p, card_topup, bank_topup,
    withdrawal, fx_conversion, request_payment) of `amount`; 0 when no schedule applies."""
    return 0
