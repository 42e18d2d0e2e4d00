"""A closed-loop load driver: N workers, each doing one operation after another for a while."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

Operation = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Latencies:
    """Percentiles of a set of latencies, in milliseconds."""

    count: int
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latencies:
        if not seconds:
            return cls(0, math.nan, math.nan)
        ordered = sorted(seconds)
        return cls(
            len(ordered), _percentile(ordered, 0.50) * 1000, _percentile(ordered, 0.99) * 1000
        )


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest sample with at least a share `q` of samples at or below it."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass(slots=True)
class LoadResult:
    completed: int = 0
    failed: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful operations only
    first_error: str | None = None
    process_cpu: float = 0.0  # CPU seconds this process used during the run
    machine_busy: float = 0.0  # share of all cores busy during the run, whoever used them

    @property
    def rate(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def latency(self) -> Latencies:
        return Latencies.of(self.latencies)


async def closed_loop(
    operations: Sequence[Operation],
    *,
    seconds: float,
    warmup: float = 0.0,
    on_start: Callable[[], None] | None = None,
) -> LoadResult:
    """Run every operation in its own loop; the first `warmup` seconds are not counted.

    Each worker stops starting new operations at the deadline and finishes the one under way,
    so the elapsed time runs until the last worker is done. `on_start` is called when the
    measured run begins (after the warm-up).
    """
    if warmup > 0:
        await _run(operations, seconds=warmup)
    if on_start is not None:
        on_start()
    return await _run(operations, seconds=seconds)


async def _run(operations: Sequence[Operation], *, seconds: float) -> LoadResult:
    result = LoadResult()
    machine, cpu = psutil.cpu_times(), time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_worker(op, deadline, result) for op in operations))
    result.elapsed = time.perf_counter() - started
    result.process_cpu = time.process_time() - cpu
    result.machine_busy = busy_share(machine, psutil.cpu_times())
    return result


def busy_share(before: Any, after: Any) -> float:
    """The share of all cores that was busy between two `psutil.cpu_times()` readings."""
    total = sum(after) - sum(before)
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0) - getattr(before, "iowait", 0))
    return (total - idle) / total if total > 0 else 0.0


async def _worker(operation: Operation, deadline: float, result: LoadResult) -> None:
    clock = time.perf_counter
    while (begun := clock()) < deadline:
        try:
            await operation()
        except Exception as error:
            result.failed += 1
            if result.first_error is None:
                result.first_error = f"{type(error).__name__}: {error}"
            # A failing operation is usually fast; don't spin on it.
            await asyncio.sleep(0.001)
            continue
        result.completed += 1
        result.latencies.append(clock() - begun)


@dataclass(frozen=True, slots=True)
class TransferMix:
    """Which two accounts each transfer moves money between.

    Uniform: two distinct accounts at random. With a hot account, a share `hot_share` of the
    transfers has the hot account on one side (debit or credit, at random).
    """

    accounts: Sequence[str]
    hot: str | None = None
    hot_share: float = 0.9

    def pair(self, rng: random.Random) -> tuple[str, str]:
        if self.hot is not None and rng.random() < self.hot_share:
            other = rng.choice(self.accounts)
            return (self.hot, other) if rng.random() < 0.5 else (other, self.hot)
        first, second = rng.sample(self.accounts, 2)
        return first, second
