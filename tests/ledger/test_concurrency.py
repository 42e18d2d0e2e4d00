"""The ledger under real concurrency.

Thousands of random transfers over many real connections, through the group commit and over
HTTP, with a hot account and accounts too poor for some of them: money is conserved, no
no-overdraft account ever dips below zero (not even in one statement snapshot), every call
either succeeds or fails with a ledger rule, and `verify` passes. Then the races a client can
start on purpose: one Idempotency-Key sent many times at once, and one hold posted and voided
(or one transaction reversed) by many requests at once.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from httpx import AsyncClient, Response

from finhub.errors import FinhubError
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.ledger.batcher import TransferBatcher
from finhub.ledger.errors import LedgerRuleError
from finhub.ledger.models import AccountType, Direction, EntrySpec, Transaction, TransactionSpec
from finhub.ledger.service import LedgerService
from tests.support.ledger_checks import (
    assert_ledger_sound,
    assert_statements_within_limits,
    expected_balances,
    first,
    posted_balances,
    written_transactions,
)

pytestmark = pytest.mark.slow

CONNECTIONS = 40  # real connections held at once by the service-level load
LOAD_TIMEOUT = 180.0  # seconds; the loads take a few seconds on two cores
WALLETS_PER_ASSET = 12
HOT_START = 100_000
# Mostly poor wallets, so a fair share of transfers must fail for funds.
WALLET_STARTS = (0, 40, 150, 600, 2_500)
MAX_TRANSFER = 400


# --- a closed system of accounts -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Move:
    """Debit one wallet and credit one or two others (a split payment), in one asset."""

    debit: str
    credits: dict[str, int]


@dataclass(slots=True)
class System:
    """Per asset, a funding account that paid every wallet's opening balance and nothing else
    touches: the wallets' balances must always add up to what it paid out."""

    funding: dict[str, str] = field(default_factory=dict)
    hot: dict[str, str] = field(default_factory=dict)
    wallets: dict[str, list[str]] = field(default_factory=dict)
    initial: dict[str, int] = field(default_factory=dict)

    @property
    def assets(self) -> list[str]:
        return list(self.funding)

    def holders(self, asset: str) -> list[str]:
        return [self.hot[asset], *self.wallets[asset]]

    @property
    def limited(self) -> list[str]:
        return [account for asset in self.assets for account in self.holders(asset)]

    @property
    def accounts(self) -> list[str]:
        return [*self.funding.values(), *self.limited]

    def funded(self, asset: str) -> int:
        return -self.initial[self.funding[asset]]


def opening_balances(rng: random.Random, count: int) -> list[int]:
    return [HOT_START] + [rng.choice(WALLET_STARTS) for _ in range(count)]


async def open_system(
    db: Database, ledger: LedgerService, rng: random.Random, assets: Sequence[str]
) -> System:
    """Accounts and their opening balances, committed (the load runs in other transactions)."""
    system = System()
    async with db.transaction() as conn:
        for asset in assets:
            funding = await ledger.create_account(conn, asset=asset, type=AccountType.EQUITY)
            holders = [
                await ledger.create_account(
                    conn,
                    asset=asset,
                    type=AccountType.LIABILITY,
                    debits_must_not_exceed_credits=True,
                )
                for _ in range(WALLETS_PER_ASSET + 1)
            ]
            ids = [h.state.id for h in holders]
            starts = opening_balances(rng, WALLETS_PER_ASSET)
            system.funding[asset], system.hot[asset], system.wallets[asset] = (
                funding.state.id,
                ids[0],
                ids[1:],
            )
            system.initial.update(zip(ids, starts, strict=True))
            system.initial[funding.state.id] = -sum(starts)
            specs = [
                ledger.transfer_spec(
                    from_account=funding.state.id, to_account=account, amount=start, asset=asset
                )
                for account, start in zip(ids, starts, strict=True)
                if start
            ]
            await ledger.post(conn, specs)
    return system


def random_moves(
    rng: random.Random, system: System, count: int, *, hot_share: float, split_share: float
) -> list[Move]:
    """Random transfers; `hot_share` of them to or from the asset's hot account."""
    moves: list[Move] = []
    for _ in range(count):
        asset = rng.choice(system.assets)
        hot, wallets = system.hot[asset], system.wallets[asset]
        amount = rng.randint(1, MAX_TRANSFER)
        if rng.random() < hot_share:
            other = rng.choice(wallets)
            outgoing = rng.random() < 0.5
            moves.append(Move(hot, {other: amount}) if outgoing else Move(other, {hot: amount}))
        elif rng.random() < split_share:
            payer, first_payee, second_payee = rng.sample(wallets, 3)
            split = {first_payee: amount, second_payee: rng.randint(1, MAX_TRANSFER)}
            moves.append(Move(payer, split))
        else:
            payer, payee = rng.sample(wallets, 2)
            moves.append(Move(payer, {payee: amount}))
    return moves


def spec_of(ledger: LedgerService, move: Move, run: str) -> TransactionSpec:
    metadata = {"run": run}
    if len(move.credits) == 1:
        [(payee, amount)] = move.credits.items()
        return ledger.transfer_spec(
            from_account=move.debit, to_account=payee, amount=amount, asset=None, metadata=metadata
        )
    entries = [EntrySpec(move.debit, Direction.DEBIT, sum(move.credits.values()))]
    entries += [EntrySpec(a, Direction.CREDIT, amount) for a, amount in move.credits.items()]
    return ledger.transaction_spec(entries=entries, metadata=metadata)


# --- what a load did --------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    posted: dict[str, Move] = field(default_factory=dict)  # transaction id -> move
    rejected: Counter[str] = field(default_factory=Counter)  # rule code -> count
    unexpected: list[str] = field(default_factory=list)  # anything else a caller saw
    in_flight: int = 0
    peak: int = 0

    def enter(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1

    def record(self, outcome: str | LedgerRuleError | BaseException, move: Move) -> None:
        if isinstance(outcome, str):
            self.posted[outcome] = move
        elif isinstance(outcome, LedgerRuleError):
            self.rejected[outcome.code] += 1
        else:
            self.unexpected.append(repr(outcome))


async def run_clients(
    moves: list[Move], clients: int, send: Callable[[Move], Awaitable[None]]
) -> float:
    """Spread the moves over `clients` concurrent callers; returns the seconds it took."""

    async def client(share: list[Move]) -> None:
        for move in share:
            await send(move)

    started = time.perf_counter()
    shares = [moves[n::clients] for n in range(clients)]
    await asyncio.wait_for(asyncio.gather(*(client(s) for s in shares)), LOAD_TIMEOUT)
    return time.perf_counter() - started


async def assert_books_balance(
    db: Database, ledger: LedgerService, system: System, tally: Tally, run: str
) -> dict[str, int]:
    """The load's outcome is exactly the sum of its acknowledged transactions, nothing is
    lost or invented, and no limited account was ever negative. Returns id -> writing xid."""
    assert not tally.unexpected, first(tally.unexpected)
    assert set(tally.rejected) == {"insufficient_funds"}, tally.rejected
    written = await written_transactions(db, run)
    assert set(written) == set(tally.posted)
    async with db.transaction() as conn:
        actual = await posted_balances(ledger, conn, system.accounts)
        await assert_statements_within_limits(ledger, conn, system.limited)
    moves = [(m.debit, m.credits) for m in tally.posted.values()]
    assert actual == expected_balances(system.initial, moves)
    for asset in system.assets:
        held = sum(actual[a] for a in system.holders(asset))
        assert held == system.funded(asset) == -actual[system.funding[asset]]
    await assert_ledger_sound(db, ledger)
    return written


def report(label: str, tally: Tally, seconds: float, **figures: Any) -> None:
    done = len(tally.posted) + sum(tally.rejected.values())
    extra = " ".join(f"{k}={v}" for k, v in figures.items())
    print(  # shown with `pytest -s`: the figures worth watching as the code changes
        f"\n{label}: {done} calls in {seconds:.2f}s = {done / seconds:.0f}/s,"
        f" posted={len(tally.posted)} rejected={dict(tally.rejected)} peak={tally.peak} {extra}"
    )


# --- service level: many real connections ----------------------------------------------------


@pytest.fixture(scope="module")
async def wide_db(database_url: str) -> AsyncIterator[Database]:
    """A pool as wide as the load, so every client holds its own real connection."""
    database = Database(database_url, min_size=CONNECTIONS, max_size=CONNECTIONS)
    await database.open()
    yield database
    await database.close()


async def test_thousands_of_transfers_on_many_connections_conserve_money(
    wide_db: Database, ledger: LedgerService
) -> None:
    rng = random.Random(2026_11_23)
    run = f"conc-{uuid.uuid4()}"
    system = await open_system(wide_db, ledger, rng, ["USD", "EUR"])
    moves = random_moves(rng, system, 3_200, hot_share=0.3, split_share=0.1)
    tally = Tally()

    async def send(move: Move) -> None:
        spec = spec_of(ledger, move, run)
        outcome: str | BaseException = spec.id
        try:
            async with wide_db.transaction() as conn:
                tally.enter()
                try:
                    await ledger.post(conn, [spec])
                finally:
                    tally.leave()
        except Exception as error:  # a deadlock or serialization failure would land here
            outcome = error
        tally.record(outcome, move)

    seconds = await run_clients(moves, CONNECTIONS, send)
    report("service", tally, seconds)
    assert tally.peak >= 32, "the load never had 32 transactions open at once"
    assert len(tally.posted) > len(moves) // 3, "too few transfers succeeded to prove much"
    written = await assert_books_balance(wide_db, ledger, system, tally, run)
    assert len(set(written.values())) == len(written), "each call commits on its own"


# --- group commit ----------------------------------------------------------------------------


async def test_group_commit_nets_a_hot_account_correctly(
    wide_db: Database, ledger: LedgerService
) -> None:
    rng = random.Random(1_000_003)
    run = f"batch-{uuid.uuid4()}"
    system = await open_system(wide_db, ledger, rng, ["USD"])
    hot = system.hot["USD"]
    moves = random_moves(rng, system, 3_000, hot_share=0.5, split_share=0.1)
    async with wide_db.transaction() as conn:
        hot_before = (await ledger.get_account(conn, hot)).version
    batcher = TransferBatcher(wide_db, ledger, max_batch=500, runners=2)
    tally = Tally()

    async def send(move: Move) -> None:
        spec = spec_of(ledger, move, run)
        outcome: str | BaseException = spec.id
        tally.enter()
        try:
            transaction = await batcher.submit(spec)
            assert transaction.id == spec.id
        except Exception as error:
            outcome = error
        finally:
            tally.leave()
        tally.record(outcome, move)

    batcher.start()
    try:
        seconds = await run_clients(moves, 64, send)
    finally:
        await asyncio.wait_for(batcher.stop(), 30)
    written = await assert_books_balance(wide_db, ledger, system, tally, run)
    commits = len(set(written.values()))
    report("batcher", tally, seconds, commits=commits, mean_batch=f"{len(written) / commits:.1f}")
    assert len(written) >= 4 * commits, "concurrent submits should share commits"
    # One row update per commit that touched the hot account, however many transfers it had.
    hot_commits = {written[t] for t, m in tally.posted.items() if hot in (m.debit, *m.credits)}
    hot_transfers = sum(1 for m in tally.posted.values() if hot in (m.debit, *m.credits))
    async with wide_db.transaction() as conn:
        hot_updates = (await ledger.get_account(conn, hot)).version - hot_before
    assert hot_updates == len(hot_commits) < hot_transfers


# --- over HTTP --------------------------------------------------------------------------------


async def created(client: AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    payload: dict[str, Any] = response.json()
    return payload


async def http_account(client: AsyncClient, asset: str, *, limited: bool = True) -> str:
    body: dict[str, Any] = {"asset": asset, "type": "liability" if limited else "equity"}
    if limited:
        body["debits_must_not_exceed_credits"] = True
    return str((await created(client, "/v1/ledger/accounts", body))["id"])


async def http_fund(client: AsyncClient, source: str, target: str, amount: int, asset: str) -> str:
    body = {"from_account": source, "to_account": target, "amount": amount, "asset": asset}
    return str((await created(client, "/v1/ledger/transfers", body))["id"])


async def open_http_system(client: AsyncClient, rng: random.Random, asset: str) -> System:
    system = System()
    funding = await http_account(client, asset, limited=False)
    ids = [await http_account(client, asset) for _ in range(WALLETS_PER_ASSET + 1)]
    starts = opening_balances(rng, WALLETS_PER_ASSET)
    for account, start in zip(ids, starts, strict=True):
        if start:
            await http_fund(client, funding, account, start, asset)
    system.funding[asset], system.hot[asset], system.wallets[asset] = funding, ids[0], ids[1:]
    system.initial.update(zip(ids, starts, strict=True))
    system.initial[funding] = -sum(starts)
    return system


async def test_http_transfers_with_a_hot_account_conserve_money(
    app_client: AsyncClient, db: Database, ledger: LedgerService
) -> None:
    rng = random.Random(77)
    run = f"http-{uuid.uuid4()}"
    system = await open_http_system(app_client, rng, "GBP")
    moves = random_moves(rng, system, 1_200, hot_share=0.3, split_share=0.0)
    tally = Tally()

    async def send(move: Move) -> None:
        [(payee, amount)] = move.credits.items()
        body = {"from_account": move.debit, "to_account": payee, "amount": amount,
                "asset": "GBP", "metadata": {"run": run}}  # fmt: skip
        tally.enter()
        try:
            response = await app_client.post("/v1/ledger/transfers", json=body)
        finally:
            tally.leave()
        if response.status_code == 201:
            tally.posted[response.json()["id"]] = move
        elif response.status_code == 422:
            tally.rejected[response.json()["code"]] += 1
        else:
            tally.unexpected.append(f"{response.status_code} {response.text}")

    seconds = await run_clients(moves, 40, send)
    report("http", tally, seconds)
    assert tally.peak >= 32
    await assert_books_balance(db, ledger, system, tally, run)
    expected = expected_balances(
        system.initial, [(m.debit, m.credits) for m in tally.posted.values()]
    )
    for account in system.accounts:  # and the API reports the same balances
        balances = await balance_of(app_client, account)
        assert balances["posted"] == balances["available"] == expected[account]


async def balance_of(client: AsyncClient, account: str) -> dict[str, int]:
    response = await client.get(f"/v1/ledger/accounts/{account}/balance")
    assert response.status_code == 200, response.text
    balances: dict[str, int] = response.json()["balances"]
    return balances


# --- races a client can start on purpose -----------------------------------------------------

STORM = 40  # identical requests in flight at once


async def storm(
    client: AsyncClient, path: str, body: dict[str, Any] | None, key: str | None = None
) -> list[Response]:
    headers = {"Idempotency-Key": key} if key else {}
    requests = (client.post(path, json=body, headers=headers) for _ in range(STORM))
    return list(await asyncio.wait_for(asyncio.gather(*requests), LOAD_TIMEOUT))


def idempotent_bodies(source: str, target: str) -> dict[str, dict[str, Any]]:
    return {
        "/v1/ledger/transfers": {
            "from_account": source, "to_account": target, "amount": 1234, "asset": "CHF",
        },
        "/v1/ledger/transactions": {
            "entries": [
                {"account": source, "direction": "debit", "amount": 1234},
                {"account": target, "direction": "credit", "amount": 1234},
            ],
        },
    }  # fmt: skip


@pytest.mark.parametrize("path", ["/v1/ledger/transfers", "/v1/ledger/transactions"])
async def test_one_idempotency_key_sent_concurrently_creates_one_transaction(
    app_client: AsyncClient, path: str
) -> None:
    source = await http_account(app_client, "CHF", limited=False)
    target = await http_account(app_client, "CHF")
    body = idempotent_bodies(source, target)[path]
    key = f"storm-{uuid.uuid4()}"

    responses = await storm(app_client, path, body, key)

    answered = [r for r in responses if r.status_code == 201]
    busy = [r for r in responses if r.status_code == 409]
    assert len(answered) + len(busy) == STORM, [r.text for r in responses]
    assert {r.json()["code"] for r in busy} <= {"idempotency_key_in_use"}
    fresh = [r for r in answered if "Idempotent-Replayed" not in r.headers]
    assert len(fresh) == 1, "only the request that claimed the key does the work"
    assert {r.content for r in answered} == {fresh[0].content}, "replays repeat the answer"
    transaction = fresh[0].json()
    listing = await app_client.get("/v1/ledger/transactions", params={"account": target})
    assert [t["id"] for t in listing.json()["data"]] == [transaction["id"]]
    assert (await balance_of(app_client, target))["posted"] == 1234

    replays = await storm(app_client, path, body, key)  # once it is done, everyone replays

    assert {(r.status_code, r.headers.get("Idempotent-Replayed")) for r in replays} == {
        (201, "true")
    }
    assert {r.content for r in replays} == {fresh[0].content}
    assert (await balance_of(app_client, target))["posted"] == 1234


async def funded_wallet(client: AsyncClient, amount: int) -> tuple[str, str]:
    """A no-overdraft wallet holding `amount`, and a merchant to pay."""
    funding = await http_account(client, "JPY", limited=False)
    wallet = await http_account(client, "JPY")
    merchant = await http_account(client, "JPY")
    await http_fund(client, funding, wallet, amount, "JPY")
    return wallet, merchant


def the_one_winner(responses: list[Response], loser_code: str) -> dict[str, Any]:
    winners = [r for r in responses if r.status_code == 201]
    losers = [r for r in responses if r.status_code != 201]
    assert len(winners) == 1, [r.text for r in winners]
    assert {(r.status_code, r.json()["code"]) for r in losers} == {(409, loser_code)}
    winner: dict[str, Any] = winners[0].json()
    return winner


async def test_racing_posts_and_voids_resolve_a_hold_exactly_once(
    app_client: AsyncClient, db: Database, ledger: LedgerService
) -> None:
    wallet, merchant = await funded_wallet(app_client, 1_000)
    hold = await created(
        app_client,
        "/v1/ledger/transactions",
        {
            "pending": True,
            "entries": [
                {"account": wallet, "direction": "debit", "amount": 600},
                {"account": merchant, "direction": "credit", "amount": 600},
            ],
        },
    )
    base = f"/v1/ledger/transactions/{hold['id']}"
    # Posts and voids interleaved, all in flight together.
    requests = [
        app_client.post(f"{base}/post" if n % 2 else f"{base}/void", json={}) for n in range(STORM)
    ]
    responses = list(await asyncio.wait_for(asyncio.gather(*requests), LOAD_TIMEOUT))

    winner = the_one_winner(responses, "transaction_already_resolved")
    assert winner["pending_id"] == hold["id"]
    posted = winner["kind"] == "post_pending"
    resolved = (await app_client.get(base)).json()
    assert resolved["status"] == ("posted" if posted else "voided")
    assert resolved["resolved_by"] == winner["id"]
    paid = 600 if posted else 0
    wallet_balances = await balance_of(app_client, wallet)
    assert wallet_balances["posted"] == wallet_balances["available"] == 1_000 - paid
    assert wallet_balances["debits_pending"] == 0
    assert (await balance_of(app_client, merchant))["posted"] == paid
    await assert_ledger_sound(db, ledger)


async def test_racing_reversals_reverse_a_transaction_exactly_once(
    app_client: AsyncClient, db: Database, ledger: LedgerService
) -> None:
    wallet, merchant = await funded_wallet(app_client, 1_000)
    payment = await http_fund(app_client, wallet, merchant, 300, "JPY")

    responses = await storm(app_client, f"/v1/ledger/transactions/{payment}/reverse", {})

    winner = the_one_winner(responses, "transaction_already_reversed")
    assert winner["reverses_id"] == payment
    original = (await app_client.get(f"/v1/ledger/transactions/{payment}")).json()
    assert original["reversed_by"] == winner["id"]
    assert (await balance_of(app_client, wallet))["posted"] == 1_000
    assert (await balance_of(app_client, merchant))["posted"] == 0
    await assert_ledger_sound(db, ledger)


async def test_racing_resolutions_on_many_connections_have_one_winner(
    wide_db: Database, ledger: LedgerService
) -> None:
    """The same races at the service level, every contender on its own connection."""
    system = await open_system(wide_db, ledger, random.Random(5), ["USD"])
    payer, payee = system.hot["USD"], system.wallets["USD"][0]
    async with wide_db.transaction() as conn:
        hold = await ledger.post_one(
            conn,
            ledger.transfer_spec(
                from_account=payer, to_account=payee, amount=700, asset="USD", pending=True
            ),
        )
        payment = await ledger.post_one(conn, ledger.transfer_spec(
            from_account=payer, to_account=payee, amount=300, asset="USD"
        ))  # fmt: skip

    async def contend(resolve: Callable[[Connection], Awaitable[Transaction]]) -> str:
        """The new transaction's id, or the code of the rule that stopped it."""
        try:
            async with wide_db.transaction() as conn:
                return (await resolve(conn)).id
        except FinhubError as error:
            return error.code

    def post(conn: Connection) -> Awaitable[Transaction]:
        return ledger.post_pending(conn, hold.id)

    def void(conn: Connection) -> Awaitable[Transaction]:
        return ledger.void_pending(conn, hold.id)

    def reverse(conn: Connection) -> Awaitable[Transaction]:
        return ledger.reverse(conn, payment.id)

    resolutions = [contend(post if n % 2 else void) for n in range(CONNECTIONS)]
    resolved = the_one_id(await asyncio.gather(*resolutions), "transaction_already_resolved")
    reversals = [contend(reverse) for _ in range(CONNECTIONS)]
    reversed_by = the_one_id(await asyncio.gather(*reversals), "transaction_already_reversed")

    async with wide_db.transaction() as conn:
        assert (await ledger.get_transaction(conn, hold.id)).resolved_by == resolved
        assert (await ledger.get_transaction(conn, payment.id)).reversed_by == reversed_by
        for account in (payer, payee):
            state = (await ledger.get_account(conn, account)).state
            assert state.debits_pending == state.credits_pending == 0
    await assert_ledger_sound(wide_db, ledger)


def the_one_id(answers: Sequence[str], loser_code: str) -> str:
    """Exactly one contender made a transaction; all the others lost with `loser_code`."""
    winners = [a for a in answers if a.startswith("txn_")]
    assert len(winners) == 1, Counter(answers)
    assert Counter(answers)[loser_code] == len(answers) - 1, Counter(answers)
    return winners[0]
