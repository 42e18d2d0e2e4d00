"""A real `finhub serve` in a child process, for tests that kill it and start it again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

from finhub.identity.operator import operator_session_token


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database (as tests/conftest.py does)."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def create_database(server_url: str, name: str) -> str:
    """A new, empty database on the test server; `finhub serve` migrates it on start."""
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class FinhubServer:
    """`finhub serve` on 127.0.0.1 against a given database, in its own process group so a
    SIGKILL takes down everything it started, exactly like a power cut of the API host."""

    def __init__(self, database_url: str, workdir: Path, *, workers: int = 1) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.workers = workers
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "FINHUB_DATABASE_URL": self.database_url,
            "FINHUB_DATA_DIR": str(self.data_dir),
            "FINHUB_LOG_LEVEL": "WARNING",
        }

    def start(self) -> None:
        assert self.process is None, "already running"
        self.starts += 1
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "finhub.cli", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers)],
            cwd=self.workdir,  # away from any .env in the repository
            env=self.environment,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )  # fmt: skip
        log.close()

    @property
    def log_path(self) -> Path:
        return self.workdir / f"serve-{self.starts}.log"

    def log_tail(self, chars: int = 3_000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    async def staff_token(self) -> str:
        """A signed-in admin staff session on the server's database (run after `wait_ready`,
        which means migrations are applied). Sessions live in the database, so the token keeps
        working across restarts."""
        return await operator_session_token(self.database_url, "test operator")

    async def wait_ready(self, client: httpx.AsyncClient, within: float = 90.0) -> None:
        """Until `/readyz` answers 200 (migrations applied, database reachable)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if (await client.get("/readyz", timeout=2.0)).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.1)
        raise AssertionError(f"finhub not ready within {within}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hooks, no draining, no goodbyes."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=30.0,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    def finhub(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run another `finhub` command against the same database and data directory."""
        return subprocess.run(
            [sys.executable, "-m", "finhub.cli", *args],
            cwd=self.workdir,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            raise AssertionError(f"finhub serve exited with {code}:\n{self.log_tail()}")
