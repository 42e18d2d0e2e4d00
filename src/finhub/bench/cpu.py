"""Where the CPU goes during a measured run: per party, per operation.

Throughput on a shared 2-core machine moves with whatever else runs on it; CPU time per
operation does not, much. So each row also says how many milliseconds of CPU one operation
cost in PostgreSQL, in the finhub server and in the client, which is what to optimise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import psutil

from finhub.bench.load import busy_share

Reading = Callable[[], float]


def tree_cpu(pid: int) -> Reading:
    """CPU seconds used by a process and all its descendants, the exited ones included.

    A child that exits is reaped by its parent and its time moves into the parent's
    `children_*` counters, so the sum keeps growing smoothly as connections come and go.
    """
    root = psutil.Process(pid)

    def read() -> float:
        _settle(root)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            with suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
        return total

    return read


def _settle(root: psutil.Process, timeout: float = 2.0) -> None:
    """Wait (briefly) until exited children are reaped, so their CPU time is counted.

    A client's backends exit after the client does; until the parent reaps them their time is
    in neither the live children nor the parent's counters.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            exiting = [c for c in root.children() if c.status() == psutil.STATUS_ZOMBIE]
        except psutil.Error:
            exiting = []
        if not exiting:
            return
        time.sleep(0.02)


def process_cpu() -> float:
    return time.process_time()


async def postgres_pid(conn: Any) -> int | None:
    """The postmaster's pid when the server runs on this machine (reached by Unix socket)."""
    cursor = await conn.execute(
        "SELECT pg_backend_pid() AS pid, inet_server_addr() IS NULL AS unix_socket"
    )
    row = await cursor.fetchone()
    if not row or not row["unix_socket"]:
        return None
    try:
        parent = psutil.Process(row["pid"]).parent()
    except psutil.Error:
        return None
    if parent is None or "postgres" not in parent.name():
        return None
    return parent.pid


@dataclass(slots=True)
class CpuMeter:
    """Readings of several parties' CPU time, taken at `start` and at `stop`."""

    parties: dict[str, Reading]
    used: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0
    _before: dict[str, float] = field(default_factory=dict)
    _machine: Any = None

    def start(self) -> None:
        self._machine = psutil.cpu_times()
        self._before = {name: read() for name, read in self.parties.items()}

    def stop(self) -> None:
        self.used = {name: read() - self._before[name] for name, read in self.parties.items()}
        self.machine_busy = busy_share(self._machine, psutil.cpu_times())

    def note(self, operations: int, unit: str, extra: dict[str, float] | None = None) -> str:
        used = {**self.used, **(extra or {})}
        count = max(operations, 1)
        parts = [f"{name} {seconds / count * 1000:.2f} ms" for name, seconds in used.items()]
        return f"machine CPU {self.machine_busy:.0%} busy; CPU per {unit}: " + ", ".join(parts)
