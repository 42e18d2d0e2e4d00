"""The benchmark's table: one row per figure, its ratio to the reference and its target."""

from __future__ import annotations

import asyncio
import math
import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from finhub import __version__
from finhub.bench.load import Latencies, busy_share
from finhub.kit.db.engine import Connection


@dataclass(slots=True)
class Row:
    """One figure. `rate` rows (per second) get a ratio to the reference; others don't."""

    label: str
    value: float
    unit: str
    latency: Latencies | None = None
    rate: bool = True
    target: str = ""
    met: bool | None = None
    note: str = ""
    # A target that is a ratio to the reference is judged when the table is drawn: the
    # reference is the mean of pgbench runs at the start and at the end of the whole run.
    minimum_ratio: float | None = None


@dataclass(slots=True)
class Report:
    rows: list[Row] = field(default_factory=list)
    reference: float | None = None  # the ledger-shaped pgbench tps

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def move_before(self, row: Row, anchor: Row) -> None:
        self.rows.remove(row)
        self.rows.insert(self.rows.index(anchor), row)

    def ratio(self, value: float) -> float | None:
        return value / self.reference if self.reference else None

    def judge(self, row: Row, minimum: float, target: str | None = None) -> None:
        """Set the row's target as a minimum ratio to the final reference (and, if `row.met`
        is already False for another reason, keep it unmet)."""
        row.target = target or f"≥ {minimum:.2f}× ref"
        row.minimum_ratio = minimum

    def met(self, row: Row) -> bool | None:
        if row.minimum_ratio is None or row.met is False:
            return row.met
        ratio = self.ratio(row.value)
        return None if ratio is None else ratio >= row.minimum_ratio

    def render(self) -> str:
        header = "| What | Figure | × ref | p50 ms | p99 ms | Target | Met |"
        lines = [header, "|---|---:|---:|---:|---:|---|:---:|"]
        lines += [self._line(row) for row in self.rows]
        notes = [f"- {row.label}: {row.note}" for row in self.rows if row.note]
        if notes:
            lines += ["", "Notes:", *notes]
        return "\n".join(lines)

    def _line(self, row: Row) -> str:
        ratio = self.ratio(row.value) if row.rate else None
        cells = [
            row.label,
            f"{_number(row.value)} {row.unit}",
            f"{ratio:.2f}×" if ratio is not None else "",
            _ms(row.latency.p50_ms) if row.latency else "",
            _ms(row.latency.p99_ms) if row.latency else "",
            row.target,
            {True: "yes", False: "**no**", None: ""}[self.met(row)],
        ]
        return "| " + " | ".join(cells) + " |"


def note_failures(row: Row, failed: int, first_error: str | None) -> None:
    """Failed operations make a row's target unmet, whatever its figure."""
    if failed:
        row.note += f"; {failed:,} failed, first: {first_error}"
        row.met = False


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def _ms(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.2f}"


async def machine_header(conn: Connection, *, title: str = "ledger", **run: object) -> str:
    """Where and how the `title` benchmark ran: hardware, PostgreSQL and its durability
    settings."""
    settings = {}
    for name in (
        "server_version",
        "synchronous_commit",
        "fsync",
        "wal_sync_method",
        "full_page_writes",
        "shared_buffers",
    ):
        cursor = await conn.execute(f"SHOW {name}")
        row = await cursor.fetchone()
        settings[name] = str(row[name]) if row else "?"
    before = psutil.cpu_times()
    await asyncio.sleep(1.0)
    background = busy_share(before, psutil.cpu_times())
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    lines = [
        f"finhub {__version__}{_commit()} {title} benchmark, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"Machine: {_cpu_model()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}",
        f"PostgreSQL {settings['server_version']}: "
        f"synchronous_commit={settings['synchronous_commit']}, fsync={settings['fsync']}, "
        f"wal_sync_method={settings['wal_sync_method']}, "
        f"full_page_writes={settings['full_page_writes']}, "
        f"shared_buffers={settings['shared_buffers']}",
        f"Before the run: CPU {background:.0%} busy (other processes), load average {load}",
        "Run: " + ", ".join(f"{key}={value}" for key, value in run.items()),
    ]
    return "\n".join(lines)


def _commit() -> str:
    """` (commit abc1234)` when running from a git checkout, so a table names its code."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return f" (commit {done.stdout.strip()})" if done.returncode == 0 else ""


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
