"""`finhub bench auth`: what identity costs, next to pgbench on the same server.

Two questions, answered with real components on the real database:

1. Sign-in throughput. A sign-in is bounded by argon2id on purpose (it is what makes a stolen
   password table expensive to guess), so the report gives the argon2 time per password and the
   ceiling it implies (cores / verify time) next to the sign-ins per second measured through
   `POST /v1/auth/sign-in` of a real `finhub serve` with N concurrent clients.
2. What authentication adds to a request. `authenticate` (the dependency every endpoint runs)
   is timed in-process, one call at a time, for a session token and for an API key, next to a
   no-authentication baseline (a pooled connection and `SELECT 1`, the least a request's own
   work costs) and pgbench's one-row primary-key SELECT; the target is ≤ 1 ms p50. Through HTTP,
   one request at a time, the same cheap GET is timed with a session and with an API key, next
   to `/readyz` (one database round trip, no authentication).

Progress goes to stderr; the header and the table (Markdown) go to stdout. The sign-in load is
driven from a separate process (`python -m finhub.bench.auth load`), like the ledger's HTTP
parts, so the client and the server don't share an event loop.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import Any

import psycopg
from psycopg.rows import dict_row
from starlette.requests import Request

from finhub.audit.service import AuditContext
from finhub.bench.context import run_async, say
from finhub.bench.cpu import CpuMeter, postgres_pid, process_cpu, tree_cpu
from finhub.bench.http_load import Job, JobResult, drive
from finhub.bench.load import Latencies, LoadResult, Operation, closed_loop
from finhub.bench.pgbench import BACKEND_EXIT, Pgbench, children_cpu, scratch_database
from finhub.bench.report import Report, Row, machine_header, note_failures
from finhub.bench.server import RunningServer, finhub_server, run_load
from finhub.config import Settings
from finhub.identity import passwords, sessions
from finhub.identity.api_keys.models import NewKey
from finhub.identity.api_keys.service import create_key
from finhub.identity.principal import Principal, authenticate
from finhub.kit.clock import SystemClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id

# The benchmark's people are found again by address, so reruns reuse them.
EMAIL_PATTERN = "auth-bench-{n}@bench.invalid"
PASSWORD = "correct horse battery staple, benchmark edition"  # noqa: S105 (a fixture's)
ARGON2_SAMPLES = 20
AUTH_TARGET_P50_MS = 1.0
# A GET that accepts both a session and an API key and does one small query of its own.
AUTHENTICATED_PATH = "/v1/me/security-events?limit=1"
BASELINE_PATH = "/readyz"
API_KEY_SCOPES = ["audit:read"]
# pgbench's one-row lookup: the cheapest thing a request can ask of the database.
POINT_SELECT_SCRIPT = """\
\\set aid random(1, 100000)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
"""


@dataclass(frozen=True, slots=True)
class Credentials:
    user_ids: list[str]
    emails: list[str]
    session_token: str  # a session of the first person
    api_key: str  # a test-mode key of the first person, scoped `audit:read`


@dataclass(slots=True)
class AuthBench:
    url: str
    settings: Settings
    seconds: float
    concurrency: int
    report: Report = field(default_factory=Report)
    postgres: Callable[[], float] | None = None

    @property
    def warmup(self) -> float:
        return min(2.0, self.seconds / 4)

    def meter(self, parties: dict[str, Callable[[], float]]) -> CpuMeter:
        local = {"PostgreSQL": self.postgres} if self.postgres is not None else {}
        return CpuMeter({**local, **parties})


def run_auth_benchmark(
    url: str, settings: Settings, seconds: float = 10.0, concurrency: int = 8
) -> Report:
    """Run every part and print the header and the table; the report is returned too."""
    if seconds <= 0 or concurrency < 1:
        raise ValueError("seconds must be positive and concurrency at least 1")
    bench = AuthBench(url, settings, seconds, concurrency)
    header = run_async(lambda: _prepare(bench))
    say(header)
    credentials = run_async(lambda: _ensure_credentials(bench))
    _pgbench_part(bench)
    verify_ms = _argon2_part(bench)
    run_async(lambda: _in_process_part(bench, credentials))
    _http_part(bench, credentials, verify_ms)
    print(header + "\n\n" + bench.report.render(), flush=True)
    return bench.report


async def _prepare(bench: AuthBench) -> str:
    async with await psycopg.AsyncConnection.connect(bench.url, row_factory=dict_row) as conn:
        pid = await postgres_pid(conn)
        bench.postgres = tree_cpu(pid) if pid is not None else None
        return await machine_header(
            conn, title="auth", seconds=bench.seconds, concurrency=bench.concurrency
        )


# --- fixtures ---------------------------------------------------------------------------------


async def _ensure_credentials(bench: AuthBench) -> Credentials:
    """One person per sign-in client (created once, password reset to the benchmark's on each
    run), a session and an API key for the first."""
    say(f"people: ensuring {bench.concurrency} benchmark people")
    password_hash = await passwords.hash_password(passwords.normalise(PASSWORD))
    emails = [EMAIL_PATTERN.format(n=n) for n in range(bench.concurrency)]
    db = Database(bench.url, min_size=1, max_size=2)
    await db.open()
    try:
        async with db.transaction() as conn:
            user_ids = [await _upsert_person(conn, email, password_hash) for email in emails]
            now = SystemClock().now()
            session = await sessions.start_session(
                conn, bench.settings, now=now, aal=2, user_id=user_ids[0]
            )
            person = Principal(kind="user", id=user_ids[0], user_id=user_ids[0])
            issued = await create_key(
                conn,
                AuditContext.system("auth benchmark"),
                person,
                NewKey(name="auth benchmark", mode="test", scopes=API_KEY_SCOPES),
                now=now,
            )
    finally:
        await db.close()
    return Credentials(user_ids, emails, session.token, issued.secret)


async def _upsert_person(conn: Connection, email: str, password_hash: str) -> str:
    """A verified, active person with the benchmark's password and no second factor (so a
    sign-in completes in one step)."""
    cursor = await conn.execute(
        """
        INSERT INTO users (id, email, email_normalized, display_name, password_hash, status,
                           email_verified_at)
        VALUES (%s, %s, %s, 'Auth Benchmark', %s, 'active', now())
        ON CONFLICT (email_normalized) DO UPDATE
           SET password_hash = EXCLUDED.password_hash, status = 'active'
        RETURNING id
        """,
        (new_id("usr"), email, email, password_hash),
    )
    row = await cursor.fetchone()
    assert row is not None
    return str(row["id"])


# --- pgbench ----------------------------------------------------------------------------------


def _pgbench_part(bench: AuthBench) -> None:
    """The references: a one-row primary-key SELECT, alone (latency) and with N clients."""
    with scratch_database(bench.url) as conninfo:
        runner = Pgbench(conninfo)
        say("pgbench: initialising scale 1")
        runner.initialise(1)
        for clients in (1, bench.concurrency):
            label = f"R{1 if clients == 1 else 2}. pgbench primary-key SELECT, c={clients}"
            say(f"pgbench: {label}, {bench.seconds:g} s")
            meter = bench.meter({"pgbench": children_cpu})
            meter.start()
            result = runner.run(
                clients=clients, seconds=bench.seconds, prepared=True, script=POINT_SELECT_SCRIPT
            )
            time.sleep(BACKEND_EXIT)
            meter.stop()
            note = f"prepared protocol, average latency {result.latency_avg_ms:.3f} ms; "
            note += meter.note(round(result.tps * bench.seconds), "SELECT")
            row = bench.report.add(Row(label, result.tps, "tps", note=note))
            if clients == bench.concurrency:
                row.label += " (**reference**)"
                bench.report.reference = result.tps


# --- argon2 -----------------------------------------------------------------------------------


def _argon2_part(bench: AuthBench) -> float:
    """Hash and verify time per password on one core; returns the verify p50 in ms."""
    say(f"argon2id: {ARGON2_SAMPLES} hashes and verifications")
    hasher = passwords.HASHER
    hash_times, verify_times = [], []
    encoded = hasher.hash(PASSWORD)
    for _ in range(ARGON2_SAMPLES):
        started = time.perf_counter()
        encoded = hasher.hash(PASSWORD)
        hash_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        hasher.verify(encoded, PASSWORD)
        verify_times.append(time.perf_counter() - started)
    parameters = (
        f"m={passwords.ARGON2_MEMORY_KIB // 1024} MiB, t={passwords.ARGON2_TIME_COST}, "
        f"p={passwords.ARGON2_PARALLELISM}"
    )
    for label, times in (("hash", hash_times), ("verify", verify_times)):
        ms = statistics.median(times) * 1000
        bench.report.add(
            Row(
                f"A. argon2id {label} ({parameters}), one core",
                ms,
                "ms per password",
                latency=Latencies.of(times),
                rate=False,
            )
        )
    return statistics.median(verify_times) * 1000


# --- authentication in-process ----------------------------------------------------------------


def _request(container: Any, token: str) -> Request:
    """A request as the app sees it, carrying only what `authenticate` reads."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50_000),
        "app": SimpleNamespace(state=SimpleNamespace(container=container)),
    }
    return Request(scope)


async def _in_process_part(bench: AuthBench, credentials: Credentials) -> None:
    db = Database(bench.url, min_size=2, max_size=bench.concurrency + 2)
    await db.open()
    container = SimpleNamespace(db=db, clock=SystemClock(), settings=bench.settings)

    async def baseline() -> None:
        async with db.connection() as conn:
            await conn.execute("SELECT 1")

    def authenticates(token: str, kind: str) -> Operation:
        async def call() -> None:
            principal = await authenticate(_request(container, token))
            if principal.kind != kind:
                raise RuntimeError(f"authenticated as {principal.kind}, not {kind}")

        return call

    cases: list[tuple[str, Operation]] = [
        ("no authentication: pooled connection + SELECT 1", baseline),
        ("`authenticate`, session token", authenticates(credentials.session_token, "user")),
        ("`authenticate`, API key", authenticates(credentials.api_key, "api_key")),
    ]
    try:
        for clients in (1, bench.concurrency):
            for name, operation in cases:
                await _measure_in_process(bench, name, operation, clients)
    finally:
        await db.close()


async def _measure_in_process(
    bench: AuthBench, name: str, operation: Operation, clients: int
) -> None:
    say(f"in-process: {name}, c={clients}, {bench.seconds:g} s")
    meter = bench.meter({"this process": process_cpu})
    result: LoadResult = await closed_loop(
        [operation] * clients, seconds=bench.seconds, warmup=bench.warmup, on_start=meter.start
    )
    meter.stop()
    latency = result.latency
    label = f"B. in-process {name}, c={clients}"
    row = Row(label, result.rate, "calls/s", latency=latency, rate=clients > 1)
    if clients == 1 and name.startswith("`authenticate`"):
        row.target = f"p50 ≤ {AUTH_TARGET_P50_MS:g} ms"
        row.met = latency.p50_ms <= AUTH_TARGET_P50_MS
    row.note = meter.note(result.completed, "call")
    note_failures(row, result.failed, result.first_error)
    bench.report.add(row)


# --- through HTTP -----------------------------------------------------------------------------


def _http_part(bench: AuthBench, credentials: Credentials, verify_ms: float) -> None:
    say("http: starting finhub serve --workers 1")
    with finhub_server(bench.url, workers=1) as server:
        _sign_in_row(bench, server, credentials, verify_ms)
        gets = [
            ("`GET /readyz`, no authentication", credentials.session_token, BASELINE_PATH),
            ("`GET /v1/me/security-events`, session", credentials.session_token, None),
            ("`GET /v1/me/security-events`, API key", credentials.api_key, None),
        ]
        for name, token, path in gets:
            _get_row(bench, server, name, token, path or AUTHENTICATED_PATH)


def _sign_in_row(
    bench: AuthBench, server: RunningServer, credentials: Credentials, verify_ms: float
) -> None:
    c = bench.concurrency
    say(f"http: POST /v1/auth/sign-in, c={c}, {bench.seconds:g} s")
    job = SignInJob(
        port=server.port,
        emails=credentials.emails,
        password=PASSWORD,
        seconds=bench.seconds,
        warmup=bench.warmup,
        run_id=uuid.uuid4().hex[:12],
    )
    meter = bench.meter({"server": tree_cpu(server.process.pid)})
    if job.warmup > 0:
        _run_sign_in_load(SignInJob(**{**asdict(job), "seconds": job.warmup, "warmup": 0}))
    meter.start()
    result = _run_sign_in_load(job)
    meter.stop()
    meter.used["load generator"] = result.client_cpu_seconds
    ceiling = (os.cpu_count() or 1) * 1000 / verify_ms
    row = Row(
        f"C. HTTP `POST /v1/auth/sign-in`, c={c}, --workers 1",
        result.rate,
        "sign-ins/s",
        latency=Latencies(result.completed, result.p50_ms, result.p99_ms),
        rate=False,
    )
    row.note = (
        f"argon2 ceiling {ceiling:,.0f}/s ({os.cpu_count()} cores / {verify_ms:.0f} ms), "
        f"measured {result.rate / ceiling:.0%} of it; " + meter.note(result.completed, "sign-in")
    )
    note_failures(row, result.failed, result.first_error)
    bench.report.add(row)


def _get_row(bench: AuthBench, server: RunningServer, name: str, token: str, path: str) -> None:
    say(f"http: {name}, c=1, {bench.seconds:g} s")
    job = Job(
        port=server.port,
        token=token,
        kind="get",
        connections=1,  # latency, not queueing: one request at a time
        seconds=bench.seconds,
        warmup=bench.warmup,
        paths=[path],
    )
    meter = bench.meter({"server": tree_cpu(server.process.pid)})
    run_load(Job(**{**asdict(job), "seconds": job.warmup, "warmup": 0}))
    meter.start()
    result = run_load(job)
    meter.stop()
    meter.used["load generator"] = result.client_cpu_seconds
    row = Row(
        f"D. HTTP {name}, c=1",
        result.rate,
        "req/s",
        latency=Latencies(result.completed, result.p50_ms, result.p99_ms),
        rate=False,
    )
    row.note = meter.note(result.completed, "request")
    note_failures(row, result.failed, result.first_error)
    bench.report.add(row)


# --- the sign-in load generator (its own process) ---------------------------------------------


@dataclass(slots=True)
class SignInJob:
    port: int
    emails: list[str]  # one per connection: each client signs one person in, again and again
    password: str
    seconds: float
    warmup: float
    run_id: str
    host: str = "127.0.0.1"


def _run_sign_in_load(job: SignInJob) -> JobResult:
    completed = subprocess.run(
        [sys.executable, "-m", "finhub.bench.auth", "load"],
        input=json.dumps(asdict(job)).encode(),
        capture_output=True,
        timeout=job.seconds + job.warmup + 120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"sign-in load failed:\n{completed.stderr.decode()[-3000:]}")
    return JobResult(**json.loads(completed.stdout))


def sign_in_request(job: SignInJob, seed: int) -> bytes:
    """One person's sign-in, from a device the server has seen before (after the first), so
    the figure is a returning person's sign-in rather than a new-device alert each time."""
    body = json.dumps({"email": job.emails[seed], "password": job.password}).encode()
    device = f"fhd_authbench{job.run_id}{seed:04d}"
    return (
        f"POST /v1/auth/sign-in HTTP/1.1\r\nHost: {job.host}\r\n"
        f"Content-Type: application/json\r\nCookie: fh_device={device}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def run_sign_in_job(job: SignInJob) -> JobResult:
    def repeat(request: bytes) -> Callable[[], bytes]:
        return lambda: request

    makers = [repeat(sign_in_request(job, seed)) for seed in range(len(job.emails))]
    return await drive(job.host, job.port, makers, 200, job.seconds, job.warmup)


def main(argv: list[str] | None = None) -> None:
    """`python -m finhub.bench.auth load` (the load generator, job on stdin) or
    `python -m finhub.bench.auth run [--seconds S] [--concurrency N]`."""
    parser = argparse.ArgumentParser(prog="python -m finhub.bench.auth")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("load", help="sign-in load generator: a job (JSON) on stdin")
    run = commands.add_parser("run", help="the whole benchmark")
    run.add_argument("--seconds", type=float, default=10.0)
    run.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    if args.command == "load":
        job = SignInJob(**json.load(sys.stdin))
        json.dump(asdict(run_async(lambda: run_sign_in_job(job))), sys.stdout)
        return
    from finhub.cli import cli_settings, database

    settings = cli_settings()
    with database(settings) as url:
        run_auth_benchmark(url, settings, seconds=args.seconds, concurrency=args.concurrency)


if __name__ == "__main__":
    main()
