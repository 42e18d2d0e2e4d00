"""What every part of the benchmark shares: its options, the report and the CPU meters."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg

from finhub.bench.cpu import CpuMeter, Reading
from finhub.bench.report import Report

PARTS = ("pgbench", "service", "hot", "http", "batch", "reads")


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float
    concurrency: int
    parts: frozenset[str]
    transactions: int
    http_workers: tuple[int, ...]
    ledger_batch_max: int

    @property
    def warmup(self) -> float:
        return min(2.0, self.seconds / 4)


@dataclass(slots=True)
class Fixtures:
    """What the in-process parts leave for the HTTP parts."""

    accounts: list[str] = field(default_factory=list)
    hot: str = ""
    read_accounts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Bench:
    url: str
    options: Options
    report: Report = field(default_factory=Report)
    postgres: Reading | None = None  # the local server's CPU, when it runs on this machine
    fixtures: Fixtures = field(default_factory=Fixtures)
    checkpoints: bool | None = None  # whether CHECKPOINT is allowed; None until tried

    def runs(self, part: str) -> bool:
        return part in self.options.parts

    def checkpoint(self) -> None:
        """Start each measurement from a fresh checkpoint, as pgbench's documentation advises.

        Otherwise a checkpoint (and its burst of full-page writes) lands in whichever run
        happens to be going, and that run's figure drops. Needs superuser or pg_checkpoint;
        without it the runs simply go on.
        """
        if self.checkpoints is False:
            return
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("CHECKPOINT")
            self.checkpoints = True
        except psycopg.errors.InsufficientPrivilege:
            say("note: no privilege to CHECKPOINT; runs are not aligned to checkpoints")
            self.checkpoints = False

    def meter(self, parties: dict[str, Reading]) -> CpuMeter:
        local = {"PostgreSQL": self.postgres} if self.postgres is not None else {}
        return CpuMeter({**local, **parties})


def say(message: str) -> None:
    """Progress, on stderr, so stdout carries only the header and the table."""
    print(message, file=sys.stderr, flush=True)


T = TypeVar("T")


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run on uvloop when available, as uvicorn does, so in-process figures compare fairly."""

    async def main() -> T:
        return await factory()

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(main())
    return uvloop.run(main())
