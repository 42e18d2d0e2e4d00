"""A real `finhub serve` for the HTTP parts, and the load generator process that drives it.

The server runs as it would in production (uvicorn, its own processes, request logging on),
attached to the benchmark's database, on a free port of 127.0.0.1, with a temporary data
directory; requests are signed in as a staff account made for the benchmark. It is always
stopped, whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import psutil

from finhub.bench.cpu import CpuMeter, tree_cpu
from finhub.bench.http_load import Job, JobResult
from finhub.identity.operator import operator_session_token

STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True)
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int
    token: str
    workers: int
    log_path: Path

    def api_processes(self) -> list[psutil.Process]:
        """The processes that serve requests: the server itself, or its uvicorn workers."""
        root = psutil.Process(self.process.pid)
        if self.workers == 1:
            return [root]
        children = root.children(recursive=False)
        # uvicorn's supervisor also starts multiprocessing's resource tracker; it serves nothing.
        return [c for c in children if "resource_tracker" not in " ".join(_cmdline(c))]

    def worker_rss_mb(self) -> list[float]:
        sizes = []
        for process in self.api_processes():
            with suppress(psutil.Error):
                sizes.append(process.memory_info().rss / 2**20)
        return sizes


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def finhub_server(
    url: str, *, workers: int, extra_env: dict[str, str] | None = None
) -> Iterator[RunningServer]:
    with tempfile.TemporaryDirectory(prefix="finhub-bench-serve-") as scratch:
        data_dir = Path(scratch)
        port = free_port()
        env = dict(os.environ)
        env.update(
            FINHUB_DATABASE_URL=url,
            FINHUB_DATA_DIR=str(data_dir),
            FINHUB_HOST="127.0.0.1",
            FINHUB_PORT=str(port),
            # The benchmark measures the API; background jobs have nothing to do here.
            FINHUB_RUN_WORKER_IN_PROCESS="false",
            FINHUB_ENVIRONMENT="production",
        )
        env.update(extra_env or {})
        log_path = data_dir / "serve.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "finhub.cli", "serve", "--workers", str(workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so its workers stop with it
            )
        server = RunningServer(process, port, "", workers, log_path)
        try:
            _wait_until_ready(server)
            token = asyncio.run(operator_session_token(url, "ledger benchmark"))
            yield replace(server, token=token)
        finally:
            _stop(process)


def _wait_until_ready(server: RunningServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    ready_workers = 0
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"finhub serve exited early:\n{server.log_path.read_text()[-3000:]}")
        if _ready(server.port):
            ready_workers += 1
            # Several workers start one after the other; give the last one a moment too.
            if ready_workers >= 3:
                return
        time.sleep(0.3)
    raise RuntimeError(f"finhub serve did not become ready:\n{server.log_path.read_text()[-3000:]}")


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)


def run_load(job: Job) -> JobResult:
    """Run the load generator in its own process and return what it measured."""
    completed = subprocess.run(
        [sys.executable, "-m", "finhub.bench.http_load"],
        input=json.dumps(asdict(job)).encode(),
        capture_output=True,
        timeout=job.seconds + job.warmup + 120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{completed.stderr.decode()[-3000:]}")
    return JobResult(**json.loads(completed.stdout))


def measure(server: RunningServer, job: Job, meter: CpuMeter) -> JobResult:
    """Warm up, then run the job with the meter reading the CPU used during the run.

    The meter gets the server's CPU as a party; the load generator's own CPU and the
    machine's busy share come from inside the generator, so its start-up doesn't count.
    """
    if job.warmup > 0:
        run_load(replace(job, seconds=job.warmup, warmup=0, run_id=job.run_id + "-warmup"))
    meter.parties["server"] = tree_cpu(server.process.pid)
    meter.start()
    result = run_load(replace(job, warmup=0))
    meter.stop()
    meter.used["load generator"] = result.client_cpu_seconds
    meter.machine_busy = result.machine_busy
    return result
