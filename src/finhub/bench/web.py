"""`finhub bench web`: how long the web app takes to render a person's dashboard and activity
pages when their wallet holds many transactions.

A benchmark person gets `transactions` payments (10,000 by default) spread over the past year:
salaries and card top-ups, payments to and from another person, paid requests, exchanges and
withdrawals, each booked through `create_payment` (the ledger transaction, the payment, its
activity lines, the outbox event and the audit record), 250 to a database transaction. Reruns
find the person again by address and only add what is missing.

Then a real `finhub serve` answers the pages signed in as that person, one request at a time
over a keep-alive connection, so each figure is the time one page takes rather than time spent
queueing. The server-side figures come from the server's own request log (`duration_ms`, from
the first byte of the request to the last byte of the page, every API call the page makes in
process included); the client-side p50 adds the loopback round trip. The aim is p95 ≤ 100 ms
for the dashboard and the activity feed. Progress goes to stderr; the header and the table
(Markdown) go to stdout.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from finhub.audit.service import AuditContext
from finhub.bench.context import run_async, say
from finhub.bench.http_load import HttpConnection
from finhub.bench.report import machine_header
from finhub.bench.server import RunningServer, finhub_server
from finhub.config import Settings
from finhub.identity import sessions
from finhub.kit.clock import SystemClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.ledger.models import Direction, EntrySpec
from finhub.ledger.service import LedgerService
from finhub.payments.core import Posting, create_payment
from finhub.payments.models import ActivityLine, NewPayment, PaymentKind
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import Wallet

PERSON_EMAIL = "web-bench@bench.invalid"
PEER_EMAIL = "web-bench-peer@bench.invalid"
HOME = "EUR"
OTHER = "USD"
PER_TRANSACTION = 250
HISTORY = timedelta(days=365)
AIM_P95_MS = 100.0
WARMUP_REQUESTS = 20
AUDIT = AuditContext.system("web benchmark")
NOTES = ("Groceries", "Coffee", "Dinner", "Taxi", "Rent share", "Cinema", "Books", "Gym")


@dataclass(frozen=True, slots=True)
class PageResult:
    label: str
    path: str
    requests: int
    failed: int
    server_ms: list[float]
    client_ms: list[float]
    first_error: str | None = None
    judged: bool = True  # whether the p95 aim applies to this row


@dataclass(slots=True)
class WebFixtures:
    token: str
    wallet_id: str
    payments: int
    lines: int
    paths: dict[str, str] = field(default_factory=dict)


def run_web_benchmark(
    url: str,
    settings: Settings,
    *,
    transactions: int = 10_000,
    requests: int = 500,
    workers: int = 1,
    warmup: int = WARMUP_REQUESTS,
) -> list[PageResult]:
    """Prepare the person, measure each page and print the header and the table."""
    if transactions < 10 or requests < 1 or workers < 1:
        raise ValueError("transactions ≥ 10, requests ≥ 1 and workers ≥ 1")
    header = run_async(lambda: _header(url, transactions, requests, workers))
    say(header)
    fixtures = run_async(lambda: ensure_person(url, settings, transactions))
    with finhub_server(url, workers=workers) as server:
        results = run_async(lambda: measure_pages(server, fixtures, requests, warmup))
    print(header + "\n\n" + render_table(results, fixtures), flush=True)
    return results


async def _header(url: str, transactions: int, requests: int, workers: int) -> str:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        return await machine_header(
            conn,
            title="web",
            transactions=f"{transactions:,}",
            requests=f"{requests:,} per page",
            concurrency=1,
            workers=workers,
        )


# --- the benchmark person -----------------------------------------------------------------------


class SpreadClock:
    """Time that walks from `start` to now in equal steps, one per payment, so the person's
    history spreads over the past year the way a real one would."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self.moment = start
        self.step = step

    def now(self) -> datetime:
        return self.moment

    def tick(self) -> None:
        self.moment = min(self.moment + self.step, datetime.now(UTC))


async def ensure_person(url: str, settings: Settings, transactions: int) -> WebFixtures:
    db = Database(url, min_size=1, max_size=2)
    await db.open()
    try:
        async with db.transaction() as conn:
            clock = SystemClock()
            me = await wallets.ensure_wallet(conn, clock, await _person(conn, PERSON_EMAIL, "Ada"))
            peer = await wallets.ensure_wallet(conn, clock, await _person(conn, PEER_EMAIL, "Bo"))
            have = await _payment_count(conn, me)
        missing = transactions - have
        if missing > 0:
            say(f"person: adding {missing:,} payments to the benchmark person ({have:,} there)")
            await _add_payments(db, me, peer, missing, first=have)
        async with db.transaction() as conn:
            token = (
                await sessions.start_session(
                    conn, settings, now=datetime.now(UTC), aal=2, user_id=me.user_id
                )
            ).token
            fixtures = WebFixtures(token, me.id, await _payment_count(conn, me), 0)
            fixtures.lines = await _line_count(conn, me)
            fixtures.paths = await _pages(conn, me)
    finally:
        await db.close()
    return fixtures


async def _person(conn: Connection, email: str, name: str) -> str:
    """A verified, active person on the premium tier (created on the first run)."""
    cursor = await conn.execute(
        """
        INSERT INTO users (id, email, email_normalized, display_name, status,
                           email_verified_at, kyc_tier, home_currency)
        VALUES (%s, %s, %s, %s, 'active', now(), 'premium', %s)
        ON CONFLICT (email_normalized) DO UPDATE SET status = 'active'
        RETURNING id
        """,
        (new_id("usr"), email, email, f"{name} Bench", HOME),
    )
    row = await cursor.fetchone()
    assert row is not None
    return str(row["id"])


async def _payment_count(conn: Connection, wallet: Wallet) -> int:
    cursor = await conn.execute(
        "SELECT count(DISTINCT payment_id) AS n FROM wallet_activity WHERE wallet_id = %s",
        (wallet.id,),
    )
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def _line_count(conn: Connection, wallet: Wallet) -> int:
    cursor = await conn.execute(
        "SELECT count(*) AS n FROM wallet_activity WHERE wallet_id = %s", (wallet.id,)
    )
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def _pages(conn: Connection, wallet: Wallet) -> dict[str, str]:
    """The pages measured: the two the aim is about, then a search, filters, the next page
    of the feed and one movement's page."""
    cursor = await conn.execute(
        """
        SELECT id FROM wallet_activity WHERE wallet_id = %s
         ORDER BY created_at DESC, id DESC OFFSET 100 LIMIT 1
        """,
        (wallet.id,),
    )
    row = await cursor.fetchone()
    older = str(row["id"]) if row else ""
    pages = {
        "dashboard": "/dashboard",
        "activity feed": "/activity",
        "search (rare word)": "/activity?q=rent+share+1",
        "filters (type, currency)": "/activity?kind=fx_conversion&currency=EUR",
    }
    if older:
        pages["next page (cursor)"] = f"/activity?after={older}"
        pages["one movement"] = f"/activity/{older}"
    return pages


async def _add_payments(db: Database, me: Wallet, peer: Wallet, count: int, *, first: int) -> None:
    start = datetime.now(UTC) - HISTORY
    clock = SpreadClock(start + HISTORY * first / (first + count), HISTORY / (first + count))
    ledger = LedgerService(clock)
    rng = random.Random(first)
    started = time.perf_counter()
    async with db.transaction() as conn:
        if first == 0:
            await _fund(conn, ledger, peer, 5_000_000_00)
    for batch in range(0, count, PER_TRANSACTION):
        async with db.transaction() as conn:
            for n in range(first + batch, first + min(batch + PER_TRANSACTION, count)):
                await _one_payment(conn, ledger, me, peer, n, rng)
                clock.tick()
        done = min(batch + PER_TRANSACTION, count)
        rate = done / (time.perf_counter() - started)
        say(f"  {done:,}/{count:,} payments ({rate:,.0f}/s)")


async def _fund(conn: Connection, ledger: LedgerService, wallet: Wallet, amount: int) -> None:
    account = await wallets.balance_account(conn, ledger, wallet, HOME)
    bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, HOME)
    await ledger.post_one(
        conn, ledger.transfer_spec(from_account=bank, to_account=account, amount=amount, asset=HOME)
    )


PaymentMaker = Callable[
    [Connection, LedgerService, Wallet, Wallet, int, random.Random], Awaitable[None]
]


async def _one_payment(
    conn: Connection,
    ledger: LedgerService,
    me: Wallet,
    peer: Wallet,
    n: int,
    rng: random.Random,
) -> None:
    """The n-th payment of the person's year: a salary first and every 25th, otherwise a mix
    weighted like a current account's."""
    if n % 25 == 0:
        await _top_up(conn, ledger, me, rng.randint(3_000_00, 4_500_00), HOME, "bank_topup")
        return
    maker: PaymentMaker = rng.choices(
        [_pay_peer, _paid_by_peer, _paid_request, _exchange, _withdraw, _card_top_up],
        weights=[45, 20, 8, 10, 7, 5],
    )[0]
    await maker(conn, ledger, me, peer, n, rng)


async def _book(
    conn: Connection,
    ledger: LedgerService,
    new: NewPayment,
    entries: list[EntrySpec],
    lines: list[ActivityLine],
) -> None:
    await create_payment(
        conn, ledger, AUDIT, new, posting=Posting(entries), status="completed", activity=lines
    )


async def _top_up(
    conn: Connection,
    ledger: LedgerService,
    me: Wallet,
    amount: int,
    currency: str,
    kind: PaymentKind,
) -> None:
    account = await wallets.balance_account(conn, ledger, me, currency)
    bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, currency)
    label = "ACME Ltd" if kind == "bank_topup" else "Visa •••• 4242"
    note = "Salary" if kind == "bank_topup" else None
    await _book(
        conn,
        ledger,
        NewPayment(kind=kind, wallet_id=me.id, amount=amount, currency=currency, note=note),
        [EntrySpec(bank, Direction.DEBIT, amount), EntrySpec(account, Direction.CREDIT, amount)],
        [ActivityLine(me.id, "in", amount, currency, counterparty=label, note=note)],
    )


async def _card_top_up(
    conn: Connection, ledger: LedgerService, me: Wallet, peer: Wallet, n: int, rng: random.Random
) -> None:
    await _top_up(conn, ledger, me, rng.randint(50_00, 200_00), OTHER, "card_topup")


async def _p2p(
    conn: Connection,
    ledger: LedgerService,
    payer: Wallet,
    payee: Wallet,
    amount: int,
    *,
    kind: PaymentKind,
    note: str,
    names: tuple[str, str],
) -> None:
    fee = 25 if kind == "p2p" and amount > 50_00 else 0
    source = await wallets.balance_account(conn, ledger, payer, HOME)
    target = await wallets.balance_account(conn, ledger, payee, HOME)
    entries = [
        EntrySpec(source, Direction.DEBIT, amount + fee),
        EntrySpec(target, Direction.CREDIT, amount),
    ]
    if fee:
        revenue = await system_account(conn, ledger, SystemAccount.FEE_REVENUE, HOME)
        entries.append(EntrySpec(revenue, Direction.CREDIT, fee))
    await _book(
        conn,
        ledger,
        NewPayment(kind=kind, wallet_id=payer.id, amount=amount, currency=HOME, fee=fee,
                   counterparty_wallet_id=payee.id, note=note),
        entries,
        [
            ActivityLine(payer.id, "out", amount, HOME, fee=fee, counterparty=names[1], note=note),
            ActivityLine(payee.id, "in", amount, HOME, counterparty=names[0], note=note),
        ],
    )  # fmt: skip


async def _pay_peer(
    conn: Connection, ledger: LedgerService, me: Wallet, peer: Wallet, n: int, rng: random.Random
) -> None:
    note = f"{rng.choice(NOTES)} {n}"
    amount = rng.randint(3_00, 80_00)
    await _p2p(conn, ledger, me, peer, amount, kind="p2p", note=note, names=("Ada", "Bo"))


async def _paid_by_peer(
    conn: Connection, ledger: LedgerService, me: Wallet, peer: Wallet, n: int, rng: random.Random
) -> None:
    note = f"{rng.choice(NOTES)} {n}"
    amount = rng.randint(3_00, 60_00)
    await _p2p(conn, ledger, peer, me, amount, kind="p2p", note=note, names=("Bo", "Ada"))


async def _paid_request(
    conn: Connection, ledger: LedgerService, me: Wallet, peer: Wallet, n: int, rng: random.Random
) -> None:
    note = f"Request {n}"
    amount = rng.randint(5_00, 40_00)
    await _p2p(
        conn, ledger, me, peer, amount, kind="request_payment", note=note, names=("Ada", "Bo")
    )


async def _exchange(
    conn: Connection, ledger: LedgerService, me: Wallet, peer: Wallet, n: int, rng: random.Random
) -> None:
    sell = rng.randint(20_00, 150_00)
    buy, fee = sell * 108 // 100, sell // 200
    source = await wallets.balance_account(conn, ledger, me, HOME)
    target = await wallets.balance_account(conn, ledger, me, OTHER)
    sold = await system_account(conn, ledger, SystemAccount.FX_POSITION, HOME)
    bought = await system_account(conn, ledger, SystemAccount.FX_POSITION, OTHER)
    revenue = await system_account(conn, ledger, SystemAccount.FEE_REVENUE, HOME)
    note = f"{HOME} to {OTHER} at 1.08"
    await _book(
        conn,
        ledger,
        NewPayment(kind="fx_conversion", wallet_id=me.id, amount=sell, currency=HOME, fee=fee,
                   note=note),
        [
            EntrySpec(source, Direction.DEBIT, sell + fee),
            EntrySpec(sold, Direction.CREDIT, sell),
            EntrySpec(revenue, Direction.CREDIT, fee),
            EntrySpec(bought, Direction.DEBIT, buy),
            EntrySpec(target, Direction.CREDIT, buy),
        ],
        [
            ActivityLine(me.id, "out", sell, HOME, fee=fee, note=note),
            ActivityLine(me.id, "in", buy, OTHER, note=note),
        ],
    )  # fmt: skip


async def _withdraw(
    conn: Connection, ledger: LedgerService, me: Wallet, peer: Wallet, n: int, rng: random.Random
) -> None:
    amount = rng.randint(100_00, 600_00)
    account = await wallets.balance_account(conn, ledger, me, HOME)
    payout = await system_account(conn, ledger, SystemAccount.PAYOUT_CLEARING, HOME)
    await _book(
        conn,
        ledger,
        NewPayment(kind="withdrawal", wallet_id=me.id, amount=amount, currency=HOME),
        [EntrySpec(account, Direction.DEBIT, amount), EntrySpec(payout, Direction.CREDIT, amount)],
        [ActivityLine(me.id, "out", amount, HOME, counterparty="My bank")],
    )


# --- measuring ----------------------------------------------------------------------------------


async def measure_pages(
    server: RunningServer, fixtures: WebFixtures, requests: int, warmup: int
) -> list[PageResult]:
    results = []
    for page in fixtures.paths.items():
        say(f"http: GET {page[1]}, {requests:,} requests one at a time")
        result = await measure_page(server, fixtures.token, page, requests, warmup)
        p50, p95 = _pct(result.server_ms, 50), _pct(result.server_ms, 95)
        say(f"  server p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        results.append(result)
    return results


async def measure_page(
    server: RunningServer, token: str, page: tuple[str, str], requests: int, warmup: int
) -> PageResult:
    """`requests` GETs of `path` one after the other on one keep-alive connection, after
    `warmup` unmeasured ones; the server's own timing of each is read from its log."""
    label, path = page
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Cookie: fh_session={token}\r\nAccept-Language: en\r\n\r\n"
    ).encode()
    connection = await HttpConnection.open("127.0.0.1", server.port)
    failed, first_error, client_ms = 0, None, []
    try:
        for _ in range(warmup):
            await connection.request(request)
        log_start = _log_size(server.log_path)
        for _ in range(requests):
            started = time.perf_counter()
            status, body = await connection.request(request)
            client_ms.append((time.perf_counter() - started) * 1000)
            if status != 200:
                failed += 1
                first_error = first_error or f"HTTP {status}: {body[:200]!r}"
    finally:
        await connection.close()
    server_ms = _logged_durations(server.log_path, log_start, path.split("?")[0])
    judged = label in ("dashboard", "activity feed")
    return PageResult(label, path, requests, failed, server_ms, client_ms, first_error, judged)


def _log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _logged_durations(log: Path, start: int, path: str) -> list[float]:
    """`duration_ms` of the server's request lines for `path` written after `start` (the
    in-process API calls a page makes log lines of their own, under their own paths)."""
    durations = []
    with log.open("rb") as handle:
        handle.seek(start)
        for raw in handle:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(line, dict) or line.get("event") != "request":
                continue
            if line.get("path") == path:
                durations.append(float(line["duration_ms"]))
    return durations


def _pct(values: list[float], percent: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def render_table(results: list[PageResult], fixtures: WebFixtures) -> str:
    lines = [
        f"Person: {fixtures.payments:,} payments, {fixtures.lines:,} activity lines. "
        "Server: finhub serve's own request log; client: round trip over 127.0.0.1, c=1.",
        "",
        "| Page | Requests | Server p50 ms | Server p95 ms | Server p99 ms | Client p50 ms "
        "| Target | Met |",
        "|---|---:|---:|---:|---:|---:|---|:---:|",
    ]
    for result in results:
        p95 = _pct(result.server_ms, 95)
        met, target = "", ""
        if result.judged:
            met = "yes" if p95 <= AIM_P95_MS and not result.failed else "**no**"
            target = f"p95 ≤ {AIM_P95_MS:.0f} ms"
        lines.append(
            f"| {result.label} `{_short(result.path)}` | {result.requests:,} "
            f"| {_pct(result.server_ms, 50):.1f} | {p95:.1f} | {_pct(result.server_ms, 99):.1f} "
            f"| {_pct(result.client_ms, 50):.1f} | {target} | {met} |"
        )
    failures = [r for r in results if r.failed]
    if failures:
        lines += ["", "Failures:"]
        lines += [f"- {r.label}: {r.failed:,} failed, first: {r.first_error}" for r in failures]
    return "\n".join(lines)


def _short(path: str) -> str:
    """Ids in paths are shortened: the table names the page, not the person's data."""
    head, _, _ = path.rpartition("act_")
    return f"{head}act_…" if head else path
