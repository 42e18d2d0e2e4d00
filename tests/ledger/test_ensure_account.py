"""`ensure_account`: a module's chart of accounts, opened once whoever asks first."""

from __future__ import annotations

import asyncio

from finhub.kit.db import Database
from finhub.kit.ids import new_id
from finhub.ledger.models import AccountType
from finhub.ledger.service import LedgerService


async def test_concurrent_callers_get_the_same_single_account(
    db: Database, ledger: LedgerService
) -> None:
    ref = f"system:test:{new_id('tok')}"

    async def ensure() -> str:
        async with db.transaction() as conn:
            account = await ledger.ensure_account(
                conn, external_ref=ref, asset="EUR", type=AccountType.REVENUE
            )
            return account.state.id

    ids = await asyncio.gather(*(ensure() for _ in range(12)))
    assert len(set(ids)) == 1
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM ledger_accounts WHERE external_ref = %s", (ref,)
        )
        assert await cursor.fetchone() == {"n": 1}
