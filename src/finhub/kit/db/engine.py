"""The connection pool and the transaction boundary.

Endpoints and tasks open a transaction with `Database.transaction()`; services and repositories
receive the connection and never commit. READ COMMITTED plus explicit row locks is the isolation
model everywhere (DESIGN.md §3).

Pooled connections are in autocommit mode. Under READ COMMITTED every statement sees its own
fresh snapshot whether or not it runs inside a transaction, so reads gain nothing from BEGIN and
COMMIT; `Database.connection()` skips those two round trips.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

Row = dict[str, Any]
Connection = AsyncConnection[Row]


async def _configure(conn: Connection) -> None:
    # UTC everywhere: timestamps come back as aware datetimes in UTC.
    await conn.execute("SET TIME ZONE 'UTC'")


class Database:
    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 20) -> None:
        self.url = url
        self.pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "autocommit": True},
            configure=_configure,
            open=False,
            name="finhub",
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One database transaction: committed on success, rolled back on any exception."""
        async with self.pool.connection() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def pipelined_transaction(self) -> AsyncIterator[Connection]:
        """A transaction in pipeline mode: BEGIN travels with the first query, and statements
        whose results aren't read yet go out together. Errors surface when results are read,
        so use it only for code that reads every result it depends on."""
        async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """An autocommit connection: each statement runs and commits on its own. Use it for
        reads and single-statement writes; open `conn.transaction()` on it for more."""
        async with self.pool.connection() as conn:
            yield conn


def sync_url(url: str) -> str:
    """The SQLAlchemy URL Alembic uses for the same server."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url
