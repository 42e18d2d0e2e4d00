"""`finhub serve --workers 2`: both API processes take a share of a burst of new connections,
and Ctrl+C stops them all."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import psutil
import pytest

from finhub.kit import listeners
from tests.support.server import FinhubServer, create_database, drop_database

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not listeners.AVAILABLE, reason="needs SO_REUSEPORT (Linux)"),
]

CONNECTIONS = 32
# Each connection goes to either worker at random: fewer than 5 of 32 on one worker has odds of
# about 1 in 40,000, while one shared socket hands most of a burst to whichever worker wakes.
FAIR_SHARE = 5


def established_per_process(server: FinhubServer) -> dict[int, int]:
    """Open client connections to the server's port, by the process holding each one."""
    assert server.process is not None
    counts: dict[int, int] = {}
    for child in psutil.Process(server.process.pid).children(recursive=True):
        held = [
            c
            for c in child.net_connections(kind="tcp")
            if c.laddr and c.laddr.port == server.port and c.status == psutil.CONN_ESTABLISHED
        ]
        if held:
            counts[child.pid] = len(held)
    return counts


async def test_workers_share_a_burst_of_connections(server_url: str, tmp_path: Path) -> None:
    name = f"finhub_workers_{os.getpid()}"
    server = FinhubServer(create_database(server_url, name), tmp_path, workers=2)
    try:
        server.start()
        async with server.client() as probe:
            await server.wait_ready(probe)
        # A client pool warming up: all its connections are opened at once and kept alive.
        clients = [
            socket.create_connection(("127.0.0.1", server.port), timeout=30)
            for _ in range(CONNECTIONS)
        ]
        try:
            for client in clients:
                client.sendall(b"GET /healthz HTTP/1.1\r\nHost: finhub\r\n\r\n")
            assert all(client.recv(64).startswith(b"HTTP/1.1 200") for client in clients)
            per_process = established_per_process(server)
        finally:
            for client in clients:
                client.close()
        assert sum(per_process.values()) == CONNECTIONS
        assert len(per_process) == 2, f"connections held per worker: {per_process}"
        assert min(per_process.values()) >= FAIR_SHARE, per_process

        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGINT)  # Ctrl+C in the terminal
        assert server.process.wait(timeout=60) == 0, server.log_tail()
        server.process = None
    finally:
        server.kill()
        drop_database(server_url, name)
