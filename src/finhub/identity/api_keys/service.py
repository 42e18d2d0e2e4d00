"""API keys: issue, list, roll, revoke and authenticate."""

from __future__ import annotations

from datetime import datetime

from finhub.identity.principal import Principal
from finhub.kit.db.engine import Connection


async def authenticate_api_key(
    conn: Connection, token: str, *, ip: str | None, now: datetime
) -> Principal | None:
    """The principal of a live key presented from an allowed address, else None."""
    return None
