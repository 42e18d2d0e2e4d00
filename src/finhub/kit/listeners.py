"""One listening socket per API worker process, joined on one address with SO_REUSEPORT.

When worker processes share a single listening socket, the one that wakes first accepts every
connection waiting in the queue: a burst of new connections (a client pool warming up, a proxy
opening its upstream connections) lands on one worker while the others stay idle, and since
clients keep their connections alive, it stays there. Measured with 32 keep-alive clients on
two workers: one worker did 12.4 s of CPU work and the other 4.7 s in the same 15 seconds, and
the machine sat a third idle. With a socket per worker in a SO_REUSEPORT group, the kernel
spreads the connections across the workers instead.

The parent process binds the address first without listening (so a port already in use fails
at once, in the parent) and hands the workers a socket that, when sent to a worker process,
arrives there as that worker's own new listening socket on the same address.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

# Linux spreads connections across a SO_REUSEPORT group; other systems may not, or lack it.
AVAILABLE = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _bound_socket(sock: socket.socket, host: str, port: int) -> socket.socket:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def worker_listener(host: str, port: int, backlog: int) -> socket.socket:
    """A worker's own listening socket on the shared address."""
    sock = _bound_socket(socket.socket(_family(host), socket.SOCK_STREAM), host, port)
    sock.listen(backlog)
    return sock


class PerWorkerListener(socket.socket):
    """The parent's reservation of the address; each worker process receives a listener of its
    own in its place (see `__reduce__`)."""

    host: str
    port: int
    backlog: int

    @classmethod
    def reserve(cls, host: str, port: int, backlog: int) -> PerWorkerListener:
        sock = cls(_family(host), socket.SOCK_STREAM)
        try:
            _bound_socket(sock, host, port)
        except OSError:
            sock.close()
            raise
        sock.host, sock.port, sock.backlog = host, sock.getsockname()[1], backlog
        return sock

    def __reduce__(self) -> tuple[Any, ...]:
        # Worker processes are spawned and get their arguments by pickling: rebuilding this
        # socket there means opening a new listener, not sharing the parent's descriptor.
        return (worker_listener, (self.host, self.port, self.backlog))
