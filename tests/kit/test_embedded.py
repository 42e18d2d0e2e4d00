"""The embedded PostgreSQL server keeps its data across restarts and stops with finhub."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from finhub.kit.db.embedded import DATABASE_NAME, EmbeddedPostgres


def test_data_survives_a_restart(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    url = server.start()
    try:
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE notes (body text NOT NULL)")
            conn.execute("INSERT INTO notes VALUES ('still here')")
    finally:
        server.stop()
    assert (tmp_path / "pgdata" / "finhub.conf").is_file()  # finhub's server settings

    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()

    again = EmbeddedPostgres(tmp_path)
    url = again.start()
    try:
        assert f"/{DATABASE_NAME}?" in url
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT body FROM notes").fetchone()
        assert row == ("still here",)
    finally:
        again.stop()


def test_a_killed_user_does_not_keep_the_server_running(tmp_path: Path) -> None:
    """A process that died without letting go (kill -9) is forgotten at the next start, so the
    next clean stop still stops the server."""
    server = EmbeddedPostgres(tmp_path)
    server.start()
    server.stop()
    (tmp_path / "pgdata" / ".handle_pids.json").write_text("[999999999]")  # no such process

    again = EmbeddedPostgres(tmp_path)
    url = again.start()
    again.stop()

    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()


def test_serve_stops_the_embedded_server_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "FINHUB_DATA_DIR": str(tmp_path)}
    env.pop("FINHUB_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "finhub.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_ready(port, seconds=60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) != 0  # stopped by the signal, after cleaning up
    finally:
        if process.poll() is None:
            process.kill()
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_ready(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"finhub serve was not ready within {seconds} s")
