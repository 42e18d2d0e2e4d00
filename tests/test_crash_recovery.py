"""A server killed in the middle of a load loses nothing it acknowledged and doubles nothing.

A real `finhub serve` takes concurrent transfers, each with its own Idempotency-Key, and is
SIGKILLed mid-load. Restarted on the same database: every transaction it answered 201 for is
there, `finhub ledger verify` passes, and retrying the requests that never got an answer, with
their keys, makes each one happen exactly once (a replay if it had committed, new work if not).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from finhub.kit.idempotency import STALE_AFTER
from finhub.ledger.verify import run_verify
from tests.support.server import FinhubServer, create_database, drop_database

pytestmark = pytest.mark.slow

CLIENTS = 24  # concurrent HTTP clients
WALLETS = 8  # the first one is hot: it receives 30 % of the transfers
HOT_SHARE = 0.3
KILL_AFTER_ACKS = 400  # acknowledged transfers before the kill
LOAD_TIMEOUT = 60.0  # the kill happens after this long even if fewer were acknowledged
ASSET = "EUR"


@dataclass(slots=True)
class Attempt:
    """One transfer request and what became of it."""

    key: str
    target: str
    amount: int
    status: int | None = None  # None: no answer (the server died under it)
    transaction: str | None = None
    replayed: bool = False

    def body(self, funding: str) -> dict[str, Any]:
        return {
            "from_account": funding,
            "to_account": self.target,
            "amount": self.amount,
            "asset": ASSET,
            "metadata": {"attempt": self.key},
        }

    def answer(self, response: httpx.Response) -> None:
        self.status = response.status_code
        if response.status_code == 201:
            self.transaction = response.json()["id"]
            self.replayed = response.headers.get("Idempotent-Replayed") == "true"


@dataclass(slots=True)
class Books:
    funding: str
    wallets: list[str]


async def open_books(client: httpx.AsyncClient) -> Books:
    async def account(body: dict[str, Any]) -> str:
        response = await client.post("/v1/ledger/accounts", json={"asset": ASSET, **body})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    funding = await account({"type": "equity"})
    wallets = [
        await account({"type": "liability", "debits_must_not_exceed_credits": True})
        for _ in range(WALLETS)
    ]
    return Books(funding, wallets)


async def send(client: httpx.AsyncClient, books: Books, attempt: Attempt) -> None:
    response = await client.post(
        "/v1/ledger/transfers",
        json=attempt.body(books.funding),
        headers={"Idempotency-Key": attempt.key},
    )
    attempt.answer(response)


async def load_until_killed(
    client: httpx.AsyncClient, server: FinhubServer, books: Books
) -> list[Attempt]:
    """Concurrent keyed transfers until KILL_AFTER_ACKS are acknowledged, then SIGKILL."""
    rng = random.Random(4242)
    attempts: list[Attempt] = []
    killed = asyncio.Event()

    def kill_once() -> None:
        if not killed.is_set():
            killed.set()
            server.kill()

    async def one_client() -> None:
        while not killed.is_set():
            hot = rng.random() < HOT_SHARE
            target = books.wallets[0] if hot else rng.choice(books.wallets[1:])
            attempt = Attempt(f"crash-{uuid.uuid4()}", target, rng.randint(1, 10_000))
            attempts.append(attempt)
            try:
                await send(client, books, attempt)
            except httpx.TransportError:
                continue  # no answer: the server died with this request in flight
            assert attempt.status == 201, f"{attempt.status} before the kill"
            if sum(a.status == 201 for a in attempts) >= KILL_AFTER_ACKS:
                kill_once()

    async def watchdog() -> None:
        await asyncio.sleep(LOAD_TIMEOUT)
        kill_once()

    guard = asyncio.create_task(watchdog())
    try:
        await asyncio.wait_for(asyncio.gather(*(one_client() for _ in range(CLIENTS))), 120)
    finally:
        guard.cancel()
    return attempts


async def assert_acknowledged_present(
    client: httpx.AsyncClient, books: Books, acknowledged: list[Attempt]
) -> None:
    gate = asyncio.Semaphore(16)

    async def check(attempt: Attempt) -> None:
        async with gate:
            response = await client.get(f"/v1/ledger/transactions/{attempt.transaction}")
        assert response.status_code == 200, f"acknowledged {attempt.transaction} is gone"
        legs = {(e["account"], e["direction"], e["amount"]) for e in response.json()["entries"]}
        assert legs == {
            (books.funding, "debit", attempt.amount),
            (attempt.target, "credit", attempt.amount),
        }

    await asyncio.gather(*(check(a) for a in acknowledged))


def age_abandoned_claims(database_url: str, keys: list[str]) -> int:
    """Move the killed server's unfinished claims `STALE_AFTER` into the past, as if a client
    had waited that long before retrying (the takeover rule runs on the database's clock)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        cursor = conn.execute(
            "UPDATE idempotency_keys SET locked_at = locked_at - %s"
            " WHERE key = ANY(%s) AND state = 'started'",
            (STALE_AFTER + timedelta(seconds=1), keys),
        )
        return cursor.rowcount


async def retry_unanswered(
    client: httpx.AsyncClient, books: Books, server: FinhubServer, unanswered: list[Attempt]
) -> int:
    """Send each unanswered request again with its key; returns how many were still claimed by
    the dead process (409 until the claim goes stale)."""
    await asyncio.gather(*(send(client, books, a) for a in unanswered))
    busy = [a for a in unanswered if a.status == 409]
    assert {a.status for a in unanswered} <= {201, 409}
    if busy:
        age_abandoned_claims(server.database_url, [a.key for a in busy])
        await asyncio.gather(*(send(client, books, a) for a in busy))
    assert all(a.status == 201 for a in unanswered), [a.status for a in unanswered]
    return len(busy)


async def all_transactions_of(client: httpx.AsyncClient, account: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"account": account, "limit": 100}
    for _ in range(1_000):  # bounded paging
        page = (await client.get("/v1/ledger/transactions", params=params)).json()
        found.extend(page["data"])
        if not page["has_more"]:
            return found
        params["starting_after"] = page["next_starting_after"]
    raise AssertionError("transaction listing never ended")


async def assert_each_attempt_happened_once(
    client: httpx.AsyncClient, books: Books, attempts: list[Attempt]
) -> None:
    written = await all_transactions_of(client, books.funding)
    by_key = {t["metadata"]["attempt"]: t["id"] for t in written}
    assert len(by_key) == len(written), "a request was executed twice"
    assert by_key == {a.key: a.transaction for a in attempts}
    balances = {}
    for account in [books.funding, *books.wallets]:
        response = await client.get(f"/v1/ledger/accounts/{account}/balance")
        balances[account] = response.json()["balances"]["posted"]
    total = sum(a.amount for a in attempts)
    assert sum(balances[w] for w in books.wallets) == total == -balances[books.funding]
    for wallet in books.wallets:
        assert balances[wallet] == sum(a.amount for a in attempts if a.target == wallet)


def verify_ledger(server: FinhubServer) -> None:
    result = server.finhub("ledger", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ledger OK" in result.stdout


async def test_a_killed_server_keeps_what_it_acknowledged(server_url: str, tmp_path: Path) -> None:
    name = f"finhub_crash_{os.getpid()}"
    server = FinhubServer(create_database(server_url, name), tmp_path)
    try:
        server.start()
        async with server.client() as probe:
            await server.wait_ready(probe)
        assert "No staff account exists yet" in server.log_tail()
        token = await server.staff_token()
        async with server.client(token) as client:
            books = await open_books(client)
            started = time.perf_counter()
            attempts = await load_until_killed(client, server, books)
            seconds = time.perf_counter() - started
        acknowledged = [a for a in attempts if a.status == 201]
        unanswered = [a for a in attempts if a.status is None]
        assert len(acknowledged) >= 100, "the load barely started before the kill"
        assert unanswered, "the kill should leave requests without an answer"

        server.start()  # same database and data directory; the session survives the restart
        async with server.client(token) as client:
            await server.wait_ready(client)
            await assert_acknowledged_present(client, books, acknowledged)
            await asyncio.to_thread(verify_ledger, server)
            stale = await retry_unanswered(client, books, server, unanswered)
            replayed = sum(a.replayed for a in unanswered)
            await assert_each_attempt_happened_once(client, books, attempts)
            # Acknowledged requests replay their first answer too.
            sample = acknowledged[:20]
            expected = [a.transaction for a in sample]
            await asyncio.gather(*(send(client, books, a) for a in sample))
            assert [a.transaction for a in sample] == expected
            assert all(a.replayed for a in sample)
        assert await run_verify(server.database_url), "books unsound after the retries"
        print(  # shown with `pytest -s`
            f"\ncrash: {len(acknowledged)} acknowledged in {seconds:.2f}s"
            f" ({len(acknowledged) / seconds:.0f}/s), {len(unanswered)} unanswered at the kill:"
            f" {replayed} had committed (replayed), {stale} claims abandoned mid-work"
        )
    finally:
        server.kill()
        drop_database(server_url, name)
