"""A small HTTP/1.1 load generator, run as its own process: `python -m finhub.bench.http_load`.

It reads a job (JSON) on stdin and prints its result (JSON) on stdout. The server, PostgreSQL
and this client share the machine's cores, so the client is kept cheap: raw asyncio streams on
keep-alive connections, requests pre-rendered as bytes with only the varying parts filled in,
and no HTTP library on the hot path.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import Any

from finhub.bench.load import LoadResult, Operation, TransferMix, closed_loop

RequestMaker = Callable[[], bytes]
_LARGE = 1 << 16  # writes above this wait for the socket buffer (flow control)


@dataclass(slots=True)
class Job:
    port: int
    token: str
    kind: str  # "transfers", "batch" or "get"
    connections: int
    seconds: float
    warmup: float
    host: str = "127.0.0.1"
    ledger: str = "main"
    asset: str = "USD"
    accounts: list[str] = field(default_factory=list)
    hot: str | None = None
    batch_size: int = 1_000
    paths: list[str] = field(default_factory=list)
    run_id: str = "run"
    idempotency_keys: bool = True  # every POST carries a fresh Idempotency-Key


@dataclass(slots=True)
class JobResult:
    completed: int
    failed: int
    elapsed: float
    rate: float
    p50_ms: float
    p99_ms: float
    client_cpu_seconds: float
    machine_busy: float
    first_error: str | None


class HttpConnection:
    """One keep-alive connection; a request is written whole and its response read whole."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, data: bytes) -> tuple[int, bytes]:
        self.writer.write(data)
        if len(data) > _LARGE:
            await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        body = await self.reader.readexactly(_content_length(head))
        return status, body

    async def close(self) -> None:
        self.writer.close()
        with suppress(OSError):
            await self.writer.wait_closed()


def _content_length(head: bytes) -> int:
    lowered = head.lower()
    start = lowered.find(b"\r\ncontent-length:")
    if start < 0:
        raise RuntimeError("response without Content-Length (chunked responses not supported)")
    start += len(b"\r\ncontent-length:")
    return int(lowered[start : lowered.index(b"\r\n", start)])


def _post_prefix(job: Job, path: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {job.host}\r\nAuthorization: Bearer {job.token}\r\n"
        "Content-Type: application/json\r\n"
    ).encode()


def _key_header(job: Job, key: str) -> bytes:
    return f"Idempotency-Key: {key}\r\n".encode() if job.idempotency_keys else b""


def transfer_requests(job: Job, seed: int) -> RequestMaker:
    """Each request a fresh transfer with its own Idempotency-Key."""
    prefix = _post_prefix(job, "/v1/ledger/transfers")
    mix = TransferMix(job.accounts, job.hot)
    rng = random.Random(seed)
    counter = itertools.count()
    template = (
        f'{{"ledger":"{job.ledger}","from_account":"%s","to_account":"%s",'
        f'"amount":1,"asset":"{job.asset}"}}'
    )

    def make() -> bytes:
        body = (template % mix.pair(rng)).encode()
        key = _key_header(job, f"{job.run_id}-{seed}-{next(counter)}")
        return b"%s%sContent-Length: %d\r\n\r\n%s" % (prefix, key, len(body), body)

    return make


def batch_requests(job: Job, seed: int) -> RequestMaker:
    """Each request `batch_size` transfers, posted independently, with its own key."""
    prefix = _post_prefix(job, "/v1/ledger/transactions/batch")
    mix = TransferMix(job.accounts)
    rng = random.Random(seed)
    # A few bodies rendered up front and reused: each post creates new transactions anyway.
    bodies = [_batch_body(job, mix, rng) for _ in range(4)]
    counter = itertools.count()

    def make() -> bytes:
        n = next(counter)
        body = bodies[n % len(bodies)]
        key = _key_header(job, f"{job.run_id}-batch-{seed}-{n}")
        return b"%s%sContent-Length: %d\r\n\r\n%s" % (prefix, key, len(body), body)

    return make


def _batch_body(job: Job, mix: TransferMix, rng: random.Random) -> bytes:
    transactions = []
    for _ in range(job.batch_size):
        source, target = mix.pair(rng)
        transactions.append(
            {
                "ledger": job.ledger,
                "entries": [
                    {"account": source, "direction": "debit", "amount": 1},
                    {"account": target, "direction": "credit", "amount": 1},
                ],
            }
        )
    return json.dumps({"mode": "independent", "transactions": transactions}).encode()


def get_requests(job: Job, seed: int) -> RequestMaker:
    """GETs of the given paths, in random order."""
    rng = random.Random(seed)
    headers = f"Host: {job.host}\r\nAuthorization: Bearer {job.token}\r\n\r\n"
    rendered = [f"GET {path} HTTP/1.1\r\n{headers}".encode() for path in job.paths]

    def make() -> bytes:
        return rng.choice(rendered)

    return make


MAKERS: dict[str, tuple[Callable[[Job, int], RequestMaker], int]] = {
    "transfers": (transfer_requests, 201),
    "batch": (batch_requests, 201),
    "get": (get_requests, 200),
}


def _operation(connection: HttpConnection, make: RequestMaker, expected: int) -> Operation:
    async def send() -> None:
        status, body = await connection.request(make())
        if status != expected:
            raise RuntimeError(f"HTTP {status}: {body[:300]!r}")

    return send


async def run_job(job: Job) -> JobResult:
    factory, expected = MAKERS[job.kind]
    makers = [factory(job, seed) for seed in range(job.connections)]
    return await drive(job.host, job.port, makers, expected, job.seconds, job.warmup)


async def drive(
    host: str,
    port: int,
    makers: list[RequestMaker],
    expected: int,
    seconds: float,
    warmup: float,
) -> JobResult:
    """A closed loop of keep-alive connections, one per request maker, each sending its next
    request as soon as the last is answered; any other status than `expected` counts as a
    failure. Shared by every HTTP load of the benchmarks."""
    connections = [await HttpConnection.open(host, port) for _ in makers]
    operations = [
        _operation(connection, make, expected)
        for connection, make in zip(connections, makers, strict=True)
    ]
    try:
        result: LoadResult = await closed_loop(operations, seconds=seconds, warmup=warmup)
    finally:
        for connection in connections:
            await connection.close()
    latency = result.latency
    return JobResult(
        completed=result.completed,
        failed=result.failed,
        elapsed=result.elapsed,
        rate=result.rate,
        p50_ms=latency.p50_ms,
        p99_ms=latency.p99_ms,
        client_cpu_seconds=result.process_cpu,
        machine_busy=result.machine_busy,
        first_error=result.first_error,
    )


def _event_loop_runner() -> Callable[[Any], Any]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard] on Linux/macOS
        return asyncio.run
    return uvloop.run


def main() -> None:
    job = Job(**json.load(sys.stdin))
    result = _event_loop_runner()(run_job(job))
    json.dump(asdict(result), sys.stdout)


if __name__ == "__main__":
    main()
