"""The physical reference: pgbench on the same server, in a scratch database of its own.

pgbench never touches finhub's tables: it initialises `finhub_bench_pgbench`, which is created
for the run and dropped afterwards. Commits are durable (whatever the server is configured
with, which the report prints); the default (simple) query protocol is the reference, as that
is what "pgbench" means unless told otherwise, and a prepared-protocol run shows the headroom.
"""

from __future__ import annotations

import re
import resource
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from finhub.bench.context import Bench, say
from finhub.bench.report import Row
from finhub.kit.db.embedded import pg_tool

SCRATCH_DATABASE = "finhub_bench_pgbench"

# The same shape as a two-entry ledger transfer: lock and update both balances in id order (so
# clients never deadlock), then append one history row. The 100,000 accounts match pgbench's
# scale-1 table, hot enough to stay in cache like finhub's benchmark accounts.
LEDGER_SCRIPT = """\
\\set a random(1, 100000)
\\set b random(1, 100000)
\\set lo least(:a, :b)
\\set hi greatest(:a, :b)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance - 1 WHERE aid = :lo;
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :hi;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime)
  VALUES (1, 1, :lo, 1, CURRENT_TIMESTAMP);
END;
"""

BACKEND_EXIT = 0.5  # seconds
_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class PgbenchResult:
    tps: float
    latency_avg_ms: float


class Pgbench:
    """pgbench from the wheel (matching the embedded server) against one database."""

    def __init__(self, conninfo: str) -> None:
        params = conninfo_to_dict(conninfo)
        self.executable, self.env = pg_tool("pgbench")
        password = params.pop("password", None)
        if password:
            # Keep the password off the command line, where `ps` would show it.
            self.env["PGPASSWORD"] = str(password)
        self.conninfo = make_conninfo("", **params)

    def initialise(self, scale: int) -> None:
        self._run(["-i", "-q", "-s", str(scale)], timeout=600)

    def run(
        self, *, clients: int, seconds: float, prepared: bool = False, script: str | None = None
    ) -> PgbenchResult:
        args = ["-c", str(clients), "-j", str(min(clients, 2)), "-T", str(max(1, round(seconds)))]
        args += ["-M", "prepared" if prepared else "simple"]
        with tempfile.TemporaryDirectory(prefix="finhub-pgbench-") as scratch:
            if script is not None:
                path = Path(scratch) / "script.sql"
                path.write_text(script)
                args += ["-f", str(path)]
            output = self._run(args, timeout=seconds + 300)
        tps, latency = _TPS.search(output), _LATENCY.search(output)
        if not tps or not latency:
            raise RuntimeError(f"could not read pgbench's result:\n{output}")
        return PgbenchResult(float(tps.group(1)), float(latency.group(1)))

    def _run(self, args: list[str], *, timeout: float) -> str:
        done = subprocess.run(
            [str(self.executable), *args, self.conninfo],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pgbench {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout + done.stderr


@contextmanager
def scratch_database(url: str, name: str = SCRATCH_DATABASE) -> Iterator[str]:
    """Create an empty database next to finhub's, yield its conninfo, drop it afterwards."""
    _drop_and_create(url, name, create=True)
    try:
        yield make_conninfo(url, dbname=name)
    finally:
        _drop_and_create(url, name, create=False)


def _drop_and_create(url: str, name: str, *, create: bool) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def children_cpu() -> float:
    """CPU seconds of this process's exited children (pgbench, once it has finished)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def pgbench_part(bench: Bench) -> Iterator[None]:
    """The references: before finhub's parts run, and the ledger-shaped one again after them.

    The reference is the mean of the two ledger-shaped runs, so a change in the machine's
    other load during the run shows in the table instead of skewing every ratio.
    """
    if not bench.runs("pgbench"):
        yield
        return
    c = bench.options.concurrency
    scale = max(1, c)  # at least one branch row per client, as pgbench's docs advise
    with scratch_database(bench.url) as conninfo:
        runner = Pgbench(conninfo)
        say(f"pgbench: initialising scale {scale} in {SCRATCH_DATABASE}")
        runner.initialise(scale)
        _measure(bench, runner, f"1. pgbench tpcb-like, c={c}", None)
        start = _measure(bench, runner, f"2. pgbench ledger-shaped, c={c}, start", LEDGER_SCRIPT)
        prepared = _measure(
            bench,
            runner,
            f"2b. pgbench ledger-shaped, prepared protocol, c={c}",
            LEDGER_SCRIPT,
            True,
        )
        prepared.note = "context only; " + prepared.note
        reference = Row("**Reference**: mean of 2 and 2c", start.value, "tps")
        bench.report.add(reference)
        bench.report.reference = start.value
        yield
        end = _measure(bench, runner, f"2c. pgbench ledger-shaped, c={c}, end", LEDGER_SCRIPT)
    bench.report.move_before(end, reference)
    reference.value = bench.report.reference = (start.value + end.value) / 2


def _measure(
    bench: Bench, runner: Pgbench, label: str, script: str | None, prepared: bool = False
) -> Row:
    seconds = bench.options.seconds
    say(f"pgbench: {label}, {seconds:g} s")
    bench.checkpoint()
    meter = bench.meter({"pgbench": children_cpu})
    meter.start()
    result = runner.run(
        clients=bench.options.concurrency, seconds=seconds, prepared=prepared, script=script
    )
    time.sleep(BACKEND_EXIT)  # pgbench's server processes finish exiting after it does
    meter.stop()
    cpu = meter.note(round(result.tps * seconds), "transaction")
    note = f"average latency {result.latency_avg_ms:.2f} ms; {cpu}"
    return bench.report.add(Row(label, result.tps, "tps", note=note))
