"""`finhub bench payments`: P2P payments per second over HTTP, next to the ledger's single
transfer over HTTP measured on the same server in the same run.

A P2P payment is a ledger transfer plus what makes it a payment: the payer's and payee's
wallets and people looked up, fee and limit checks, the payment record, an activity line for
each side, an outbox event for each owner and the audit record, all in one database
transaction. The question is what that costs next to `POST /v1/ledger/transfers` (a bare
two-entry transfer, also audited and idempotent); the aim is at least 0.6 times its rate.

Both loads run against the same `finhub serve` (for each worker count tried), with the same
concurrency, a fresh `Idempotency-Key` per request, and random pairs among many accounts, so
neither is measuring lock waits on one hot row. Progress goes to stderr; the header and the
table (Markdown) go to stdout. The P2P load is driven from a separate process
(`python -m finhub.bench.payments load`), like the other HTTP loads.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import psycopg
from psycopg.rows import dict_row

from finhub.bench.accounts import ASSET, TRANSFER_LEDGER, transfer_accounts
from finhub.bench.context import run_async, say
from finhub.bench.cpu import CpuMeter, Reading, postgres_pid, tree_cpu
from finhub.bench.http_load import Job, JobResult, drive
from finhub.bench.load import Latencies
from finhub.bench.report import Report, Row, machine_header, note_failures
from finhub.bench.server import RunningServer, finhub_server, measure
from finhub.config import Settings
from finhub.identity import sessions
from finhub.kit.clock import SystemClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.ledger.service import LedgerService
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account

# The benchmark's people are found again by address, so reruns reuse them and their wallets.
EMAIL_PATTERN = "payments-bench-{n}@bench.invalid"
PEOPLE = 1_000
LEDGER_ACCOUNTS = 10_000
CURRENCY = "EUR"
# The people are on the premium tier (a balance cap of 1 000 000 EUR, 100 000 EUR a day sent):
# each holds 100 000 EUR, topped up when below 10 000, far more than a run sends at 1 cent a
# payment, and far enough below the cap that what a person receives never reaches it.
TIER = "premium"
FUNDING = 10_000_000
TOP_UP_BELOW = 1_000_000
AIM = 0.6


@dataclass(slots=True)
class PaymentsBench:
    url: str
    settings: Settings
    seconds: float
    concurrency: int
    workers: tuple[int, ...]
    report: Report = field(default_factory=Report)
    postgres: Reading | None = None

    @property
    def warmup(self) -> float:
        return min(2.0, self.seconds / 4)

    def meter(self) -> CpuMeter:
        return CpuMeter({"PostgreSQL": self.postgres} if self.postgres is not None else {})


@dataclass(frozen=True, slots=True)
class Fixtures:
    ledger_accounts: list[str]
    wallet_ids: list[str]  # every benchmark person's wallet
    tokens: list[str]  # sessions of the first `concurrency` people, one per connection


def run_payments_benchmark(
    url: str,
    settings: Settings,
    seconds: float = 10.0,
    concurrency: int = 32,
    workers: tuple[int, ...] = (1, 2),
) -> Report:
    """Run both loads under each worker count and print the header and the table."""
    if seconds <= 0 or concurrency < 1 or concurrency > PEOPLE // 2:
        raise ValueError(f"seconds must be positive and concurrency 1 to {PEOPLE // 2}")
    if not workers or min(workers) < 1:
        raise ValueError("workers needs one or more worker counts of at least 1")
    bench = PaymentsBench(url, settings, seconds, concurrency, workers)
    header = run_async(lambda: _prepare(bench))
    say(header)
    fixtures = run_async(lambda: _ensure_fixtures(bench))
    _http_part(bench, fixtures)
    print(header + "\n\n" + bench.report.render(), flush=True)
    return bench.report


async def _prepare(bench: PaymentsBench) -> str:
    async with await psycopg.AsyncConnection.connect(bench.url, row_factory=dict_row) as conn:
        pid = await postgres_pid(conn)
        bench.postgres = tree_cpu(pid) if pid is not None else None
        return await machine_header(
            conn,
            title="payments",
            seconds=bench.seconds,
            concurrency=bench.concurrency,
            people=PEOPLE,
            workers=",".join(map(str, bench.workers)),
        )


# --- fixtures ---------------------------------------------------------------------------------


async def _ensure_fixtures(bench: PaymentsBench) -> Fixtures:
    db = Database(bench.url, min_size=1, max_size=2)
    await db.open()
    clock = SystemClock()
    ledger = LedgerService(clock)
    try:
        say(f"accounts: ensuring {LEDGER_ACCOUNTS:,} ledger accounts for the transfer load")
        accounts, _ = await transfer_accounts(db, ledger, LEDGER_ACCOUNTS)
        say(f"people: ensuring {PEOPLE:,} verified people with funded {CURRENCY} wallets")
        wallet_ids: list[str] = []
        for start in range(0, PEOPLE, 250):
            async with db.transaction() as conn:
                for n in range(start, min(start + 250, PEOPLE)):
                    wallet_ids.append(await _funded_person(conn, ledger, n))
        async with db.transaction() as conn:
            tokens = []
            for n in range(bench.concurrency):
                user_id = await _person_id(conn, n)
                session = await sessions.start_session(
                    conn, bench.settings, now=clock.now(), aal=2, user_id=user_id
                )
                tokens.append(session.token)
    finally:
        await db.close()
    return Fixtures(accounts, wallet_ids, tokens)


async def _funded_person(conn: Connection, ledger: LedgerService, n: int) -> str:
    """The person's wallet, its balance brought back to `FUNDING` when a run (or an older
    version of this benchmark) left it far from it."""
    user_id = await _person_id(conn, n)
    wallet = await wallets.ensure_wallet(conn, ledger.clock, user_id)
    account = await wallets.balance_account(conn, ledger, wallet, CURRENCY)
    held = {b.currency: b.balance for b in await wallets.balances(conn, wallet)}
    balance = held.get(CURRENCY, 0)
    if TOP_UP_BELOW <= balance <= 2 * FUNDING:
        return wallet.id
    bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, CURRENCY)
    source, target = (bank, account) if balance < FUNDING else (account, bank)
    spec = ledger.transfer_spec(
        from_account=source, to_account=target, amount=abs(FUNDING - balance), asset=CURRENCY
    )
    await ledger.post_one(conn, spec)
    return wallet.id


async def _person_id(conn: Connection, n: int) -> str:
    """A verified, active person on the benchmark's tier (created on the first run)."""
    email = EMAIL_PATTERN.format(n=n)
    cursor = await conn.execute(
        """
        INSERT INTO users (id, email, email_normalized, display_name, status,
                           email_verified_at, kyc_tier)
        VALUES (%s, %s, %s, %s, 'active', now(), %s)
        ON CONFLICT (email_normalized) DO UPDATE SET status = 'active', kyc_tier = %s
        RETURNING id
        """,
        (new_id("usr"), email, email, f"Bench Person {n}", TIER, TIER),
    )
    row = await cursor.fetchone()
    assert row is not None
    return str(row["id"])


# --- through HTTP -----------------------------------------------------------------------------


def _http_part(bench: PaymentsBench, fixtures: Fixtures) -> None:
    """For each worker count: the ledger transfer load, then the P2P load, on one server."""
    c = bench.concurrency
    measured: dict[int, tuple[JobResult, JobResult]] = {}
    cpu_notes: dict[int, tuple[str, str]] = {}
    for workers in bench.workers:
        say(f"http: finhub serve --workers {workers}")
        with finhub_server(bench.url, workers=workers) as server:
            say(f"  POST /v1/ledger/transfers, c={c}, {bench.seconds:g} s")
            transfer_meter = bench.meter()
            transfers = _transfer_load(bench, server, fixtures, transfer_meter)
            say(f"  {transfers.rate:,.0f} req/s, p50 {transfers.p50_ms:.1f} ms")
            say(f"  POST /v1/payments/p2p, c={c}, {bench.seconds:g} s")
            payment_meter = bench.meter()
            payments = _p2p_load(bench, server, fixtures, payment_meter)
            say(f"  {payments.rate:,.0f} payments/s, p50 {payments.p50_ms:.1f} ms")
        measured[workers] = (transfers, payments)
        cpu_notes[workers] = (
            transfer_meter.note(transfers.completed, "transfer"),
            payment_meter.note(payments.completed, "payment"),
        )
    best = max(measured, key=lambda w: measured[w][1].rate)
    transfers, payments = measured[best]
    bench.report.reference = transfers.rate
    reference = Row(
        f"R. HTTP POST /v1/ledger/transfers, c={c}, --workers {best} (**reference**)",
        transfers.rate,
        "req/s",
        latency=_latency(transfers),
    )
    reference.note = cpu_notes[best][0]
    note_failures(reference, transfers.failed, transfers.first_error)
    row = Row(
        f"P. HTTP POST /v1/payments/p2p, c={c}, --workers {best}",
        payments.rate,
        "payments/s",
        latency=_latency(payments),
    )
    bench.report.judge(row, AIM)
    others = "; ".join(
        f"--workers {w}: {p.rate:,.0f} payments/s vs {t.rate:,.0f} transfers/s"
        for w, (t, p) in measured.items()
        if w != best
    )
    row.note = cpu_notes[best][1] + (f"; also tried {others}" if others else "")
    note_failures(row, payments.failed, payments.first_error)
    bench.report.add(reference)
    bench.report.add(row)


def _latency(result: JobResult) -> Latencies:
    return Latencies(result.completed, result.p50_ms, result.p99_ms)


def _transfer_load(
    bench: PaymentsBench, server: RunningServer, fixtures: Fixtures, meter: CpuMeter
) -> JobResult:
    job = Job(
        port=server.port,
        token=server.token,
        kind="transfers",
        connections=bench.concurrency,
        seconds=bench.seconds,
        warmup=bench.warmup,
        ledger=TRANSFER_LEDGER,
        asset=ASSET,
        accounts=fixtures.ledger_accounts,
        run_id=uuid.uuid4().hex[:12],
    )
    return measure(server, job, meter)


def _p2p_load(
    bench: PaymentsBench, server: RunningServer, fixtures: Fixtures, meter: CpuMeter
) -> JobResult:
    job = P2PJob(
        port=server.port,
        tokens=fixtures.tokens,
        payers=fixtures.wallet_ids[: bench.concurrency],
        wallet_ids=fixtures.wallet_ids,
        seconds=bench.seconds,
        warmup=0,
        run_id=uuid.uuid4().hex[:12],
    )
    if bench.warmup > 0:
        _run_p2p_load(replace(job, seconds=bench.warmup, run_id=job.run_id + "-warmup"))
    meter.parties["server"] = tree_cpu(server.process.pid)
    meter.start()
    result = _run_p2p_load(job)
    meter.stop()
    meter.used["load generator"] = result.client_cpu_seconds
    meter.machine_busy = result.machine_busy
    return result


# --- the P2P load generator (its own process) -------------------------------------------------


@dataclass(slots=True)
class P2PJob:
    port: int
    tokens: list[str]  # one person's session per connection
    payers: list[str]  # the wallet of each connection's person (never paid by itself)
    wallet_ids: list[str]  # whom to pay: a random other benchmark person each time
    seconds: float
    warmup: float
    run_id: str
    host: str = "127.0.0.1"


def _run_p2p_load(job: P2PJob) -> JobResult:
    completed = subprocess.run(
        [sys.executable, "-m", "finhub.bench.payments", "load"],
        input=json.dumps(asdict(job)).encode(),
        capture_output=True,
        timeout=job.seconds + job.warmup + 120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"P2P load failed:\n{completed.stderr.decode()[-3000:]}")
    return JobResult(**json.loads(completed.stdout))


def p2p_requests(job: P2PJob, seed: int) -> Callable[[], bytes]:
    """Each request a 1-cent payment to a random other person, with a fresh key."""
    prefix = (
        f"POST /v1/payments/p2p HTTP/1.1\r\nHost: {job.host}\r\n"
        f"Authorization: Bearer {job.tokens[seed]}\r\nContent-Type: application/json\r\n"
    ).encode()
    payees = [w for w in job.wallet_ids if w != job.payers[seed]]
    template = f'{{"to":{{"wallet_id":"%s"}},"amount":1,"currency":"{CURRENCY}"}}'
    rng = random.Random(seed)
    counter = itertools.count()

    def make() -> bytes:
        body = (template % rng.choice(payees)).encode()
        key = f"Idempotency-Key: {job.run_id}-{seed}-{next(counter)}\r\n".encode()
        return b"%s%sContent-Length: %d\r\n\r\n%s" % (prefix, key, len(body), body)

    return make


async def run_p2p_job(job: P2PJob) -> JobResult:
    makers = [p2p_requests(job, seed) for seed in range(len(job.tokens))]
    return await drive(job.host, job.port, makers, 201, job.seconds, job.warmup)


def main(argv: list[str] | None = None) -> None:
    """`python -m finhub.bench.payments load` (the P2P load generator, job on stdin) or
    `python -m finhub.bench.payments run [--seconds S] [--concurrency N] [--workers 1,2]`."""
    parser = argparse.ArgumentParser(prog="python -m finhub.bench.payments")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("load", help="P2P load generator: a job (JSON) on stdin")
    run = commands.add_parser("run", help="the whole benchmark")
    run.add_argument("--seconds", type=float, default=10.0)
    run.add_argument("--concurrency", type=int, default=32)
    run.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args(argv)
    if args.command == "load":
        job = P2PJob(**json.load(sys.stdin))
        json.dump(asdict(run_async(lambda: run_p2p_job(job))), sys.stdout)
        return
    from finhub.cli import cli_settings, database

    settings = cli_settings()
    workers = tuple(int(w) for w in args.workers.split(","))
    with database(settings) as url:
        run_payments_benchmark(
            url, settings, seconds=args.seconds, concurrency=args.concurrency, workers=workers
        )


if __name__ == "__main__":
    main()
