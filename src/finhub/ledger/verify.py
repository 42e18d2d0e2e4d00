"""`finhub ledger verify`: prints the report and says whether the books are sound."""

from __future__ import annotations

import typer

from finhub.kit.clock import SystemClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService


async def run_verify(url: str) -> bool:
    db = Database(url, min_size=1, max_size=1)
    await db.open()
    try:
        async with db.transaction() as conn:
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            report = await LedgerService(SystemClock()).verify(conn)
    finally:
        await db.close()
    typer.echo(
        f"checked {report.transactions_checked} transactions and {report.accounts_checked} accounts"
    )
    for label, rows in (
        ("unbalanced transactions", report.unbalanced),
        ("accounts whose totals differ from their entries", report.mismatched),
        ("entries with wrong running totals", report.bad_snapshots),
    ):
        if rows:
            typer.secho(f"{len(rows)}+ {label}:", fg=typer.colors.RED, err=True)
            for row in rows[:20]:
                typer.echo(f"  {dict(row)}", err=True)
    typer.secho("ledger OK" if report.ok else "ledger BROKEN", fg=None if report.ok else "red")
    return report.ok
