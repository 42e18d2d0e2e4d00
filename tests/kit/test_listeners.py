"""Per-worker listening sockets: the reservation travels to a worker as a listener of its own,
and the system spreads connections across the workers' listeners."""

from __future__ import annotations

import io
import socket
import time
from multiprocessing.reduction import ForkingPickler

import pytest

from finhub.kit import listeners

pytestmark = pytest.mark.skipif(not listeners.AVAILABLE, reason="needs SO_REUSEPORT (Linux)")


def _as_sent_to_a_worker(reserved: listeners.PerWorkerListener) -> socket.socket:
    """What a spawned worker process unpickles from its arguments."""
    buffer = io.BytesIO()
    ForkingPickler(buffer).dump(reserved)
    sock = ForkingPickler.loads(buffer.getvalue())
    assert isinstance(sock, socket.socket)
    return sock


def test_a_worker_gets_its_own_listener_on_the_reserved_port() -> None:
    reserved = listeners.PerWorkerListener.reserve("127.0.0.1", 0, 16)
    worker = _as_sent_to_a_worker(reserved)
    try:
        assert reserved.port != 0
        assert worker.fileno() != reserved.fileno()
        assert worker.getsockname() == ("127.0.0.1", reserved.port)
        with socket.create_connection(("127.0.0.1", reserved.port), timeout=2):
            accepted, _ = worker.accept()
            accepted.close()
    finally:
        worker.close()
        reserved.close()


def test_the_reservation_itself_takes_no_connections() -> None:
    """Bound but not listening: nothing would ever accept what queued on it."""
    reserved = listeners.PerWorkerListener.reserve("127.0.0.1", 0, 16)
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", reserved.port), timeout=2)
    finally:
        reserved.close()


def test_a_port_in_use_fails_in_the_parent() -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        with pytest.raises(OSError, match="in use"):
            listeners.PerWorkerListener.reserve("127.0.0.1", taken.getsockname()[1], 16)
    finally:
        taken.close()


def _drain(listener: socket.socket) -> int:
    """Accept everything waiting on this listener's own queue."""
    listener.setblocking(False)
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_connections_are_spread_across_the_workers() -> None:
    """A burst of connections: on one shared socket the first worker to wake drains the whole
    queue. Here each worker's listener has a queue of its own, and each gets a share."""
    reserved = listeners.PerWorkerListener.reserve("127.0.0.1", 0, 128)
    workers = [_as_sent_to_a_worker(reserved) for _ in range(2)]
    clients = [socket.create_connection(("127.0.0.1", reserved.port), timeout=2) for _ in range(64)]
    try:
        accepted = [0, 0]
        deadline = time.monotonic() + 5
        while sum(accepted) < len(clients) and time.monotonic() < deadline:
            accepted = [a + _drain(worker) for a, worker in zip(accepted, workers, strict=True)]
            time.sleep(0.01)
        assert sum(accepted) == len(clients)
        # Draining the first listener never took the second one's connections.
        assert all(count > 0 for count in accepted), accepted
    finally:
        for sock in [*clients, *workers, reserved]:
            sock.close()
