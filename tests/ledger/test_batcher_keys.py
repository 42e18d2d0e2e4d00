"""Idempotency keys claimed by the group commit, in the same database transaction as the work.

`POST /v1/ledger/transfers` hands its key to the group commit instead of claiming it in a
commit of its own first. These tests drive the group commit directly, with the cases a client
can cause: a retry after the answer, a retry whose first request went away, the same key twice
in one group or in two groups at once, a refusal, an error of the moment, and a key still
held by another request.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest

from finhub.errors import Conflict, Unprocessable
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.idempotency import DeferredKey, IdempotentReplay, claim
from finhub.ledger.batcher import TransferBatcher
from finhub.ledger.errors import InsufficientFunds
from finhub.ledger.models import Transaction, TransactionSpec
from finhub.ledger.service import LedgerService, PostOutcome
from tests.ledger.factories import make_bank, make_wallet

PATH = "/v1/ledger/transfers"
PRINCIPAL = "staff:stf_keys"


@pytest.fixture
async def batcher(db: Database, ledger: LedgerService) -> AsyncIterator[TransferBatcher]:
    group_commit = TransferBatcher(db, ledger)
    yield group_commit
    await group_commit.stop()


@pytest.fixture
async def accounts(db: Database, ledger: LedgerService) -> tuple[str, str]:
    async with db.transaction() as conn:
        return await make_bank(ledger, conn), await make_wallet(ledger, conn)


def key_for(body: bytes, key: str | None = None) -> DeferredKey:
    return DeferredKey.of(
        principal=PRINCIPAL, key=key or f"k-{uuid.uuid4()}", method="POST", path=PATH, body=body
    )


def render(transaction: Transaction) -> tuple[int, bytes]:
    return 201, json.dumps({"id": transaction.id}).encode()


def spec(ledger: LedgerService, source: str, target: str, amount: int) -> TransactionSpec:
    return ledger.transfer_spec(from_account=source, to_account=target, amount=amount, asset="USD")


async def credits_of(db: Database, ledger: LedgerService, account: str) -> int:
    async with db.transaction() as conn:
        return (await ledger.get_account(conn, account)).state.credits_posted


async def stored(db: Database, key: DeferredKey) -> tuple[str, int | None, bytes | None] | None:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT state, response_status, response_body FROM idempotency_keys"
            " WHERE principal = %s AND key = %s",
            (key.principal, key.key),
        )
        row = await cursor.fetchone()
    if row is None:
        return None
    body = bytes(row["response_body"]) if row["response_body"] is not None else None
    return row["state"], row["response_status"], body


async def test_the_response_is_stored_in_the_commit_and_a_retry_replays_it(
    db: Database, ledger: LedgerService, batcher: TransferBatcher, accounts: tuple[str, str]
) -> None:
    bank, wallet = accounts
    key = key_for(b"pay 5")
    posted = await batcher.submit(spec(ledger, bank, wallet, 5), key=key, render=render)

    assert await stored(db, key) == ("completed", 201, render(posted)[1])
    with pytest.raises(IdempotentReplay) as replay:
        await batcher.submit(spec(ledger, bank, wallet, 5), key=key, render=render)
    assert (replay.value.response.status, replay.value.response.body) == render(posted)
    assert await credits_of(db, ledger, wallet) == 5


async def test_a_transfer_whose_request_went_away_still_posts_once(
    db: Database, ledger: LedgerService, batcher: TransferBatcher, accounts: tuple[str, str]
) -> None:
    """A caller cancelled while its transfer waits does not cancel it: the transfer posts and
    its response is kept, so the client's retry replays it instead of paying twice."""
    bank, wallet = accounts
    key = key_for(b"pay 7")
    first = spec(ledger, bank, wallet, 7)
    request = asyncio.create_task(batcher.submit(first, key=key, render=render))
    await asyncio.sleep(0)  # queued
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    await batcher.stop()  # the queued group is finished first

    with pytest.raises(IdempotentReplay) as replay:
        await batcher.submit(spec(ledger, bank, wallet, 7), key=key, render=render)
    assert json.loads(replay.value.response.body) == {"id": first.id}
    assert await credits_of(db, ledger, wallet) == 7


@pytest.mark.parametrize(
    ("second_body", "error", "code"),
    [(b"pay 3", Conflict, "idempotency_key_in_use"), (b"pay 4", Unprocessable,
                                                      "idempotency_key_reused")],
)  # fmt: skip
async def test_one_key_twice_in_one_group_posts_once(
    db: Database,
    ledger: LedgerService,
    batcher: TransferBatcher,
    accounts: tuple[str, str],
    second_body: bytes,
    error: type[Exception],
    code: str,
) -> None:
    bank, wallet = accounts
    first_key = key_for(b"pay 3")
    again = key_for(second_body, first_key.key)
    answers = await asyncio.gather(
        batcher.submit(spec(ledger, bank, wallet, 3), key=first_key, render=render),
        batcher.submit(spec(ledger, bank, wallet, 3), key=again, render=render),
        return_exceptions=True,
    )

    assert isinstance(answers[0], Transaction)
    assert isinstance(answers[1], error)
    assert getattr(answers[1], "code", None) == code
    assert await credits_of(db, ledger, wallet) == 3


async def test_one_key_in_two_groups_at_once_posts_once_and_the_other_replays(
    db: Database, ledger: LedgerService, accounts: tuple[str, str]
) -> None:
    """Two API workers' group commits with the same key: the second waits for the first's
    commit, then answers with its stored response."""
    bank, wallet = accounts
    key = key_for(b"pay 11")
    workers = [TransferBatcher(db, ledger), TransferBatcher(db, ledger)]
    try:
        answers = await asyncio.gather(
            *(
                worker.submit(spec(ledger, bank, wallet, 11), key=key, render=render)
                for worker in workers
            ),
            return_exceptions=True,
        )
    finally:
        for worker in workers:
            await worker.stop()

    posted = [a for a in answers if isinstance(a, Transaction)]
    replays = [a for a in answers if isinstance(a, IdempotentReplay)]
    assert len(posted) == len(replays) == 1, answers
    assert replays[0].response.body == render(posted[0])[1]
    assert await credits_of(db, ledger, wallet) == 11


async def test_a_refusal_is_kept_under_its_key(
    db: Database, ledger: LedgerService, batcher: TransferBatcher, accounts: tuple[str, str]
) -> None:
    bank, wallet = accounts
    key = key_for(b"take 9")
    with pytest.raises(InsufficientFunds):
        await batcher.submit(spec(ledger, wallet, bank, 9), key=key, render=render)
    await batcher.submit(spec(ledger, bank, wallet, 50), render=render)  # funds arrive later

    with pytest.raises(IdempotentReplay) as replay:
        await batcher.submit(spec(ledger, wallet, bank, 9), key=key, render=render)
    problem = json.loads(replay.value.response.body)
    assert (replay.value.response.status, problem["code"]) == (422, "insufficient_funds")
    assert problem["instance"] == PATH
    assert await credits_of(db, ledger, bank) == 0


async def test_a_key_held_by_a_request_in_progress_is_a_409(
    db: Database, ledger: LedgerService, batcher: TransferBatcher, accounts: tuple[str, str]
) -> None:
    bank, wallet = accounts
    key = key_for(b"pay 2")
    await claim(db, principal=key.principal, key=key.key, method="POST", path=PATH, body=b"pay 2")

    with pytest.raises(Conflict) as busy:
        await batcher.submit(spec(ledger, bank, wallet, 2), key=key, render=render)
    assert busy.value.code == "idempotency_key_in_use"
    assert await credits_of(db, ledger, wallet) == 0
    assert await stored(db, key) == ("started", None, None)


async def test_transfers_without_keys_share_the_group_with_keyed_ones(
    db: Database, ledger: LedgerService, batcher: TransferBatcher, accounts: tuple[str, str]
) -> None:
    bank, wallet = accounts
    keys = [key_for(b"pay %d" % amount) for amount in (1, 2)]
    answers = await asyncio.gather(
        batcher.submit(spec(ledger, bank, wallet, 1), key=keys[0], render=render),
        batcher.submit(spec(ledger, bank, wallet, 100)),
        batcher.submit(spec(ledger, bank, wallet, 2), key=keys[1], render=render),
    )

    assert [await stored(db, key) for key in keys] == [
        ("completed", 201, render(answers[0])[1]),
        ("completed", 201, render(answers[2])[1]),
    ]
    assert await credits_of(db, ledger, wallet) == 103


async def test_a_key_needs_a_renderer(
    ledger: LedgerService, batcher: TransferBatcher, accounts: tuple[str, str]
) -> None:
    bank, wallet = accounts
    with pytest.raises(ValueError, match="renderer"):
        await batcher.submit(spec(ledger, bank, wallet, 1), key=key_for(b"x"))


async def test_a_key_left_started_by_a_dead_process_is_taken_over(
    db: Database, ledger: LedgerService, batcher: TransferBatcher, accounts: tuple[str, str]
) -> None:
    bank, wallet = accounts
    key = key_for(b"pay 6")
    await claim(db, principal=key.principal, key=key.key, method="POST", path=PATH, body=b"pay 6")
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET locked_at = now() - interval '2 minutes'"
            " WHERE principal = %s AND key = %s",
            (key.principal, key.key),
        )

    posted = await batcher.submit(spec(ledger, bank, wallet, 6), key=key, render=render)

    assert await stored(db, key) == ("completed", 201, render(posted)[1])
    assert await credits_of(db, ledger, wallet) == 6


class _BusyLedger(LedgerService):
    """Refuses every transfer with an error of the moment, as a conflict in progress would."""

    async def post(
        self, conn: Connection, specs: Sequence[TransactionSpec], *, atomic: bool = True
    ) -> list[PostOutcome]:
        busy = Conflict("Try again in a moment", code="ledger_busy")
        return [PostOutcome(spec, error=busy) for spec in specs]


async def test_an_error_of_the_moment_gives_the_key_up(
    db: Database, ledger: LedgerService, accounts: tuple[str, str]
) -> None:
    bank, wallet = accounts
    key = key_for(b"pay 4")
    busy = TransferBatcher(db, _BusyLedger(ledger.clock))
    try:
        with pytest.raises(Conflict, match="moment"):
            await busy.submit(spec(ledger, bank, wallet, 4), key=key, render=render)
    finally:
        await busy.stop()
    assert await stored(db, key) is None  # not kept: the retry runs again

    batcher = TransferBatcher(db, ledger)
    try:
        posted = await batcher.submit(spec(ledger, bank, wallet, 4), key=key, render=render)
    finally:
        await batcher.stop()
    assert await stored(db, key) == ("completed", 201, render(posted)[1])
    assert await credits_of(db, ledger, wallet) == 4
