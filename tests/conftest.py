"""Shared fixtures: a real PostgreSQL, a migrated test database, the app and an HTTP client.

The database is the embedded server (kept in `.finhub-test/`) unless
`FINHUB_TEST_DATABASE_URL` points at another server. Each session starts from a freshly
created, migrated database. Service-level tests get a connection inside a transaction that is
rolled back afterwards (`conn`); API and concurrency tests commit for real and keep apart by
creating their own accounts.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from finhub.app import create_app
from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.embedded import EmbeddedPostgres
from finhub.kit.db.engine import Connection
from finhub.kit.db.migrate import upgrade
from finhub.ledger.service import LedgerService
from finhub.worker import ensure_job_schema
from tests.factories import create_staff, session_token

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA_DIR = ROOT / ".finhub-test"
TEST_DATABASE = "finhub_test"


def _with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A URL of the PostgreSQL server the tests run on (any database on it)."""
    external = os.environ.get("FINHUB_TEST_DATABASE_URL")
    if external:
        yield external
        return
    embedded = EmbeddedPostgres(TEST_DATA_DIR)
    url = embedded.start()
    try:
        yield url
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A freshly created and migrated test database, dropped again after the session (on a
    shared server, every run would otherwise leave one behind)."""
    name = f"{TEST_DATABASE}_{os.getpid()}"
    admin_url = _with_database(server_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    upgrade(url)
    import asyncio

    asyncio.run(ensure_job_schema(url))
    yield url
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, min_size=2, max_size=60)
    await database.open()
    yield database
    await database.close()


@pytest.fixture
async def conn(db: Database) -> AsyncIterator[Connection]:
    """A connection in a transaction that is rolled back after the test."""
    async with db.connection() as connection:
        transaction = connection.transaction(force_rollback=True)
        async with transaction:
            yield connection


@pytest.fixture(scope="session")
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture
def ledger(clock: OffsetClock) -> LedgerService:
    return LedgerService(clock)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("finhub-data")


@pytest.fixture(scope="session")
def settings(data_dir: Path, database_url: str) -> Settings:
    """Test settings. Sessions last for years here because tests move the shared clock forward
    (hold expiry, token expiry); tests of session timeouts build an app with their own."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        environment="test",
        cookie_secure=False,
        public_url="http://finhub.test",
        session_idle_minutes=60 * 24 * 3650,
        session_max_hours=24 * 3650,
    )


@pytest.fixture(scope="session")
async def admin_token(db: Database, settings: Settings, clock: OffsetClock) -> str:
    """A session token of an admin staff member."""
    async with db.transaction() as connection:
        staff_id = await create_staff(connection, roles=("admin",))
        return await session_token(connection, staff_id=staff_id, settings=settings, clock=clock)


@pytest.fixture(scope="session")
async def app(settings: Settings, database_url: str, clock: OffsetClock) -> AsyncIterator[Any]:
    """The real app with its lifespan running (one per test session)."""
    async with LifespanManager(create_app(settings, database_url, clock=clock)) as manager:
        yield manager.app


@pytest.fixture(scope="session")
async def app_client(app: Any, admin_token: str) -> AsyncIterator[AsyncClient]:
    """An HTTP client for the real app, signed in as an admin staff member."""
    async with AsyncClient(
        transport=ASGITransport(app=app),
        base_url="http://finhub.test",
        headers={"Authorization": f"Bearer {admin_token}"},
    ) as client:
        yield client


@pytest.fixture
async def anonymous_client(app: Any) -> AsyncIterator[AsyncClient]:
    """An HTTP client for the same app with no credentials (cookies kept per test)."""
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://finhub.test") as c:
        yield c
