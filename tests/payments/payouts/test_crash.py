"""A payout run interrupted anywhere loses or doubles nothing: the claim, the file and the
marks commit together, so every withdrawal ends up either still waiting or in exactly one
stored batch."""

from __future__ import annotations

import psycopg
import pytest
from httpx import AsyncClient
from psycopg.rows import dict_row

from finhub.audit.service import AuditContext
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.payments.payouts import batches
from finhub.payments.payouts.batches import SANDBOX_ORIGINATOR
from tests.payments.payouts.conftest import PersonFactory
from tests.payments.payouts.support import add_payee, payouts_of, run_batches, withdraw
from tests.payments.payouts.test_withdrawals import assert_ledger_clean

AUDIT = AuditContext.system("test")
BROKEN_ORIGINATOR = batches.Originator(name="finhub", iban="NOT AN IBAN", bic="COBADEFFXXX")


class Crash(Exception):
    """Stands for the process dying between two steps of a run."""


async def waiting_withdrawals(people: PersonFactory, count: int) -> list[str]:
    person = await people(EUR=100_000)
    payee = await add_payee(person)
    return [(await withdraw(person, payee["id"], 1_000 + n))["id"] for n in range(count)]


async def batch_count(db: Database) -> int:
    async with db.connection() as conn:
        cursor = await conn.execute("SELECT count(*) AS n FROM payout_batches")
        row = await cursor.fetchone()
    assert row is not None
    return int(row["n"])


async def assert_each_in_one_batch(db: Database, staff: AsyncClient, ids: list[str]) -> None:
    placed = await payouts_of(db, ids)
    batch_ids = {batch_id for _, batch_id in placed.values()}
    assert all(status == "batched" for status, _ in placed.values())
    members: list[str] = []
    for batch_id in batch_ids:
        detail = (await staff.get(f"/v1/staff/payout-batches/{batch_id}")).json()
        members += [p["payment_id"] for p in detail["payments"] if p["payment_id"] in ids]
    assert sorted(members) == sorted(ids)  # every one, none twice


async def interrupted_run(db: Database, ledger: LedgerService, crash_after: str) -> None:
    """A payout run that dies after `crash_after`: the claim, a file that fails the schema
    (here: a debtor IBAN the XSD refuses) or the stored batch with its withdrawals marked."""
    async with db.transaction() as conn:
        claimed = await batches.claim_withdrawals(conn, currency="EUR")
        if crash_after == "claim":
            raise Crash
        originator = BROKEN_ORIGINATOR if crash_after == "invalid_file" else SANDBOX_ORIGINATOR
        for currency, payouts in batches.by_currency(claimed).items():
            # renders, validates and stores the file, then marks the withdrawals
            await batches.export_batch(
                conn, ledger, AUDIT, "stf_test", currency, payouts, originator=originator
            )
        raise Crash  # everything written, the commit never happens


@pytest.mark.parametrize("crash_after", ["claim", "invalid_file", "batch_stored"])
async def test_a_crash_inside_a_run_leaves_every_withdrawal_waiting(
    crash_after: str,
    people: PersonFactory,
    app_client: AsyncClient,
    db: Database,
    clock: OffsetClock,
) -> None:
    ids = await waiting_withdrawals(people, 3)
    batches_before = await batch_count(db)
    expected = batches.PayoutFileInvalid if crash_after == "invalid_file" else Crash
    with pytest.raises(expected):
        await interrupted_run(db, LedgerService(clock), crash_after)

    assert await payouts_of(db, ids) == dict.fromkeys(ids, ("pending", None))
    assert await batch_count(db) == batches_before

    # The next run picks them all up, once.
    await run_batches(app_client, "EUR")
    await assert_each_in_one_batch(db, app_client, ids)
    await run_batches(app_client, "EUR")
    await assert_each_in_one_batch(db, app_client, ids)
    await assert_ledger_clean(db, clock)


async def test_a_killed_connection_mid_run_loses_nothing(
    people: PersonFactory, app_client: AsyncClient, db: Database, database_url: str
) -> None:
    """The server side of a crash: the run's connection dies with its transaction open."""
    ids = await waiting_withdrawals(people, 2)
    batches_before = await batch_count(db)
    ledger = LedgerService(OffsetClock())
    victim = await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row)
    try:
        async with victim.transaction():
            claimed = await batches.claim_withdrawals(victim, currency="EUR")
            for currency, payouts in batches.by_currency(claimed).items():
                await batches.export_batch(victim, ledger, AUDIT, "stf_test", currency, payouts)
            async with db.connection() as killer:
                await killer.execute("SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,))
            with pytest.raises(psycopg.OperationalError):
                await victim.execute("SELECT 1")
    except psycopg.OperationalError:
        pass  # leaving the transaction block on a dead connection fails too
    finally:
        await victim.close()

    assert await payouts_of(db, ids) == dict.fromkeys(ids, ("pending", None))
    assert await batch_count(db) == batches_before
    await run_batches(app_client, "EUR")
    await assert_each_in_one_batch(db, app_client, ids)
