"""Payments between people posted as a group: each payment judged on its own inside one
database transaction, and the P2P group commit that gathers concurrent payments into one."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from finhub.audit.service import AuditContext
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.idempotency import IdempotencyClaim, release
from finhub.kit.idempotency import claim as claim_key
from finhub.ledger.errors import InsufficientFunds
from finhub.ledger.service import LedgerService
from finhub.payments.errors import LimitExceeded
from finhub.payments.models import Payment
from finhub.payments.transfers import repository
from finhub.payments.transfers.batcher import TransferGroupCommit
from finhub.payments.transfers.errors import RecipientWalletClosed
from finhub.payments.transfers.group import Party, TransferOrder, transfer_group
from tests.payments.scheduled.support import open_wallet
from tests.payments.transfers.conftest import balance, scalar

AUDIT = AuditContext.system("group-commit-test")


async def party(conn: Connection, ledger: LedgerService, *, funds: int = 0) -> Party:
    wallet = await open_wallet(conn, ledger, funds=funds)
    found = await repository.owner_of_wallet(conn, wallet.id)
    assert found is not None
    return Party(found.wallet, found.person)


async def pairs(db: Database, ledger: LedgerService, n: int) -> tuple[list[Party], list[Party]]:
    """`n` funded payers and `n` empty payees."""
    async with db.transaction() as conn:
        payers = [await party(conn, ledger, funds=1_000) for _ in range(n)]
        payees = [await party(conn, ledger) for _ in range(n)]
    return payers, payees


def order(payer: Party, payee: Party, amount: int, **kw: Any) -> TransferOrder:
    return TransferOrder(payer, payee, "p2p", amount, "EUR", kw.pop("note", None), {}, AUDIT, **kw)


async def test_each_payment_of_a_group_stands_alone(
    conn: Connection, ledger: LedgerService
) -> None:
    rich = await party(conn, ledger, funds=100_000)
    poor = await party(conn, ledger)  # holds EUR 0
    other = await party(conn, ledger, funds=50)
    closed = await party(conn, ledger)
    closed = Party(replace(closed.wallet, status="closed"), closed.person)
    payee = await party(conn, ledger)
    results = await transfer_group(
        conn,
        ledger,
        [
            order(rich, payee, 1_500, note="lunch"),
            order(poor, rich, 10),  # nothing to send
            order(other, rich, 100_001),  # over the basic tier's per-payment limit
            order(other, closed, 20),  # the payee's wallet is closed
        ],
    )
    paid, broke, over, to_closed = results
    assert isinstance(paid, Payment)
    assert (paid.status, paid.amount, paid.note) == ("completed", 1_500, "lunch")
    assert isinstance(broke, InsufficientFunds)
    assert isinstance(over, LimitExceeded)
    assert over.extra["limit"] == "per_payment"
    assert isinstance(to_closed, RecipientWalletClosed)
    cursor = await conn.execute(
        "SELECT id FROM payments WHERE wallet_id = ANY(%s)",
        ([rich.wallet.id, poor.wallet.id, other.wallet.id],),
    )
    assert [row["id"] for row in await cursor.fetchall()] == [paid.id]
    lines = await conn.execute(
        "SELECT wallet_id, direction FROM wallet_activity WHERE payment_id = %s ORDER BY 2",
        (paid.id,),
    )
    assert [(r["wallet_id"], r["direction"]) for r in await lines.fetchall()] == [
        (payee.wallet.id, "in"),
        (rich.wallet.id, "out"),
    ]
    events = await conn.execute(
        "SELECT owner FROM outbox_events WHERE data->>'id' = %s ORDER BY owner", (paid.id,)
    )
    owners = [row["owner"] for row in await events.fetchall()]
    assert owners == sorted([f"user:{rich.person.user_id}", f"user:{payee.person.user_id}"])
    report = await ledger.verify(conn)
    assert report.ok


async def test_the_group_commit_gathers_concurrent_payments_into_one_transaction(
    db: Database, ledger: LedgerService
) -> None:
    async with db.transaction() as conn:
        people = [await party(conn, ledger, funds=10_000) for _ in range(12)]
    group_commit = TransferGroupCommit(db, ledger)
    # Everyone pays the next person twice at once: a wallet is in one payment per group, so
    # the second payment of each waits for a later group, and all 24 are paid.
    orders = [
        order(payer, people[(n + 1) % len(people)], 100 + n) for n, payer in enumerate(people)
    ] * 2
    orders = [replace(o, payment_id=f"pay_{uuid4().hex[:26]}") for o in orders]
    try:
        paid = await asyncio.gather(*(group_commit.submit(o, None) for o in orders))
    finally:
        await group_commit.stop()
    assert sorted(p.id for p in paid) == sorted(o.payment_id for o in orders)
    transactions = await scalar(
        db,
        "SELECT count(DISTINCT xmin::text) FROM payments WHERE id = ANY(%s)",
        [p.id for p in paid],
    )
    assert 2 <= transactions < len(orders)
    for n, person in enumerate(people):
        sent = 2 * (100 + n)
        received = 2 * (100 + (n - 1) % len(people))
        assert await balance(db, person.wallet) == 10_000 - sent + received
    async with db.connection() as conn:
        assert (await ledger.verify(conn)).ok


async def test_a_group_holds_at_most_max_group_payments(
    db: Database, ledger: LedgerService
) -> None:
    payers, payees = await pairs(db, ledger, 8)
    group_commit = TransferGroupCommit(db, ledger, max_group=3)
    orders = [
        replace(order(payer, payee, 10), payment_id=f"pay_{uuid4().hex[:26]}")
        for payer, payee in zip(payers, payees, strict=True)
    ]
    try:
        paid = await asyncio.gather(*(group_commit.submit(o, None) for o in orders))
    finally:
        await group_commit.stop()
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM payments WHERE id = ANY(%s) GROUP BY xmin::text",
            ([p.id for p in paid],),
        )
        group_sizes = [row["n"] for row in await cursor.fetchall()]
    assert sum(group_sizes) == len(orders)
    assert max(group_sizes) <= 3
    assert len(group_sizes) >= 3  # 8 payments can't fit in fewer groups of 3


async def test_the_group_commit_stores_the_response_for_the_idempotency_key(
    db: Database, ledger: LedgerService
) -> None:
    async with db.transaction() as conn:
        payer = await party(conn, ledger, funds=5_000)
        payee = await party(conn, ledger)
    claim = await claim_key(
        db, principal=f"user:{payer.person.user_id}", key="group-1", method="POST",
        path="/v1/payments/p2p", body=b"{}",
    )  # fmt: skip
    group_commit = TransferGroupCommit(db, ledger)
    try:
        payment = await group_commit.submit(order(payer, payee, 700), claim)
    finally:
        await group_commit.stop()
    stored = await scalar(
        db,
        "SELECT response_body FROM idempotency_keys WHERE principal = %s AND key = 'group-1'",
        f"user:{payer.person.user_id}",
    )
    assert f'"id":"{payment.id}"'.encode() in bytes(stored)
    assert claim.completed


async def claimed(db: Database, payer: Party, key: str) -> IdempotencyClaim:
    return await claim_key(
        db, principal=f"user:{payer.person.user_id}", key=key, method="POST",
        path="/v1/payments/p2p", body=key.encode(),
    )  # fmt: skip


async def test_a_group_that_fails_in_the_database_is_retried_one_payment_at_a_time(
    db: Database, ledger: LedgerService
) -> None:
    payers, payees = await pairs(db, ledger, 3)
    claims = [await claimed(db, payer, f"retry-{uuid4()}") for payer in payers]
    group_commit = TransferGroupCommit(db, ledger)
    try:
        # A NUL character is refused by PostgreSQL when the payment's note is written: the
        # whole group's transaction fails and each payment is tried again on its own.
        outcomes = await asyncio.gather(
            group_commit.submit(order(payers[0], payees[0], 10), claims[0]),
            group_commit.submit(order(payers[1], payees[1], 20, note="a\x00b"), claims[1]),
            group_commit.submit(order(payers[2], payees[2], 30), claims[2]),
            return_exceptions=True,
        )
    finally:
        await group_commit.stop()
    first, failed, third = outcomes
    assert isinstance(first, Payment)
    assert isinstance(third, Payment)
    assert isinstance(failed, psycopg.DataError)
    assert [await balance(db, payee.wallet) for payee in payees] == [10, 0, 30]
    assert await balance(db, payers[1].wallet) == 1_000
    # The failed payment's response was never stored, whatever the first attempt had done.
    assert [claim.completed for claim in claims] == [True, False, True]
    async with db.connection() as conn:
        assert (await ledger.verify(conn)).ok


async def test_a_payment_whose_request_went_away_is_not_made(
    db: Database, ledger: LedgerService
) -> None:
    """A request cancelled while its payment waits releases its key; the group commit then
    drops the payment, so a retry with the same key pays once, not twice."""
    async with db.transaction() as conn:
        payer = await party(conn, ledger, funds=1_000)
        payee = await party(conn, ledger)
    claim = await claimed(db, payer, f"gone-{uuid4()}")
    await release(db, claim)
    group_commit = TransferGroupCommit(db, ledger)
    try:
        with pytest.raises(asyncio.CancelledError):
            await group_commit.submit(order(payer, payee, 300), claim)
    finally:
        await group_commit.stop()
    assert await balance(db, payer.wallet) == 1_000
    assert await balance(db, payee.wallet) == 0


async def test_a_refused_payment_opens_no_balance_and_a_closed_wallet_gets_none(
    db: Database, ledger: LedgerService
) -> None:
    async with db.transaction() as conn:
        payer = await party(conn, ledger, funds=100)
        payee = await party(conn, ledger)
        closing = await party(conn, ledger)
        for someone in (payee, closing):
            await conn.execute(
                "DELETE FROM wallet_balances WHERE wallet_id = %s", (someone.wallet.id,)
            )
        # Closed after the payment found it open: the group reads the wallet again.
        await conn.execute(
            "UPDATE wallets SET status = 'closed', closed_at = now() WHERE id = %s",
            (closing.wallet.id,),
        )
    async with db.transaction() as conn:
        too_much, to_closed = await transfer_group(
            conn, ledger, [order(payer, payee, 500), order(payer, closing, 5)]
        )
    assert isinstance(too_much, InsufficientFunds)
    assert isinstance(to_closed, RecipientWalletClosed)
    opened = await scalar(
        db,
        "SELECT count(*) FROM wallet_balances WHERE wallet_id = ANY(%s)",
        [payee.wallet.id, closing.wallet.id],
    )
    assert opened == 0
    async with db.transaction() as conn:
        [paid] = await transfer_group(conn, ledger, [order(payer, payee, 60)])
    assert isinstance(paid, Payment)
    assert await balance(db, payee.wallet) == 60
    assert await balance(db, payer.wallet) == 40
