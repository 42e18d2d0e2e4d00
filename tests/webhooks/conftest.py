"""People with signed-in clients, a resolver the tests control, and a receiver of webhooks.

These tests go through the real app and commit, so every person and host name is new and tests
keep apart without cleaning up. Outside systems are passed in: the app reads
`app.state.webhook_outside` (a resolver and an httpx `MockTransport`), and the dispatcher and
sender are called with them directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from finhub.identity.factors.crypto import Keyring
from finhub.kit.clock import Clock, OffsetClock
from finhub.kit.db import Database
from finhub.webhooks.dispatcher import dispatch_pending
from finhub.webhooks.sender import RetryPolicy, WebhookOutside, WebhookSender
from finhub.webhooks.ssrf import EgressPolicy
from tests.factories import create_user, session_token

PUBLIC_ADDRESS = "93.184.215.14"


class StaticResolver:
    """A DNS of the test's making; `answers` can change between calls (rebinding)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}

    async def resolve(self, host: str, port: int) -> list[str]:
        if host not in self.answers:
            raise OSError(f"unknown host {host}")
        return self.answers[host]


@dataclass
class Receiver:
    """A webhook receiver behind httpx's MockTransport: records each request and answers
    from `replies` (a status code, or an exception to raise), 200 once they run out."""

    requests: list[httpx.Request] = field(default_factory=list)
    replies: list[int | Exception] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if self.replies else 200
        if isinstance(reply, Exception):
            raise reply
        return httpx.Response(reply, text=f"answer {reply}")

    def to(self, host: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.headers.get("host") == host]


@dataclass
class Person:
    user_id: str
    client: AsyncClient


@dataclass
class World:
    """The outside world of one test: DNS, a receiver, and a clock for dispatch and sending."""

    db: Database
    keyring: Keyring
    resolver: StaticResolver
    receiver: Receiver
    clock: OffsetClock
    egress: EgressPolicy

    def host(self, address: str = PUBLIC_ADDRESS) -> str:
        """A new host name resolving to `address`."""
        name = f"hooks-{uuid4().hex[:12]}.example.com"
        self.resolver.answers[name] = [address]
        return name

    def sender(self, clock: Clock | None = None) -> WebhookSender:
        return WebhookSender(
            self.db,
            clock or self.clock,
            self.keyring,
            self.egress,
            transport=httpx.MockTransport(self.receiver.handle),
            policy=RetryPolicy(jitter=0.0),
        )

    async def dispatch_until(self, count: Callable[[], Awaitable[int]], expected: int) -> None:
        """Run the dispatcher until `count()` reaches `expected`. The outbox's fence is
        cluster-wide: a transaction open elsewhere on the server holds new events back a
        moment, so this waits for them (bounded)."""
        for _ in range(200):
            await dispatch_pending(self.db, self.clock)
            if await count() >= expected:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {expected}, found {await count()}")


def fastapi_app(app: Any) -> FastAPI:
    """The FastAPI instance inside the lifespan manager's wrapper (the `app` fixture), whose
    state carries the container and the webhooks' outside world."""
    if isinstance(app, FastAPI):
        return app
    for cell in app.__closure__ or ():
        if isinstance(cell.cell_contents, FastAPI):
            return cell.cell_contents
    raise AssertionError("no FastAPI app inside the test app")


@pytest.fixture
async def world(app: Any, db: Database) -> AsyncIterator[World]:
    app = fastapi_app(app)
    container = app.state.container
    resolver = StaticResolver()
    receiver = Receiver()
    egress = EgressPolicy(resolver=resolver, allow_http=True)
    app.state.webhook_outside = WebhookOutside(
        egress, transport=httpx.MockTransport(receiver.handle), policy=RetryPolicy(jitter=0.0)
    )
    try:
        yield World(
            db=db,
            keyring=Keyring(container.secret_key, container.settings.retired_secret_keys),
            resolver=resolver,
            receiver=receiver,
            clock=OffsetClock(),
            egress=egress,
        )
    finally:
        app.state.webhook_outside = None


MakePerson = Callable[[], Awaitable[Person]]


@pytest.fixture
async def make_person(db: Database, app: Any, clock: OffsetClock) -> AsyncIterator[MakePerson]:
    clients: list[AsyncClient] = []

    async def make() -> Person:
        async with db.transaction() as conn:
            user_id = await create_user(conn)
            token = await session_token(conn, user_id=user_id, clock=clock)
        client = AsyncClient(
            transport=ASGITransport(app=app),
            base_url="http://finhub.test",
            headers={"Authorization": f"Bearer {token}"},
        )
        clients.append(client)
        return Person(user_id, client)

    yield make
    for client in clients:
        await client.aclose()


async def scalar(db: Database, sql: str, *params: object) -> Any:
    async with db.connection() as conn:
        cursor = await conn.execute(sql, params)
        row = await cursor.fetchone()
    assert row is not None
    return next(iter(row.values()))
