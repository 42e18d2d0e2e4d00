"""A real HTTP receiver on the loopback interface (allowed only by the development switch):
the sender's request crosses a real socket and verifies with the receiver's copy of the
secret."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from standardwebhooks import Webhook

from finhub.audit.service import AuditContext
from finhub.config import Settings
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.webhooks import service
from finhub.webhooks.errors import DestinationRefused
from finhub.webhooks.schemas import EndpointCreate
from finhub.webhooks.sender import WebhookSender
from finhub.webhooks.service import Caller
from finhub.webhooks.ssrf import EgressPolicy
from tests.factories import create_user
from tests.webhooks.conftest import World

Received = list[tuple[bytes, dict[str, str]]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, Received]]:
    received: Received = []

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        received.append((body, {k.decode(): v.decode() for k, v in scope["headers"]}))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # up to 5 s to bind
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield f"http://localhost:{port}/in", received
    finally:
        server.should_exit = True
        await task


async def make_endpoint(
    conn: Connection, egress: EgressPolicy, world: World, url: str
) -> tuple[str, str]:
    """An endpoint of a new person with one delivery waiting: (delivery id, secret)."""
    user_id = await create_user(conn)
    caller = Caller(owner=f"user:{user_id}", user_id=user_id, audit=AuditContext.system("test"))
    body = EndpointCreate(url=url, event_types=["*"])
    row, secret = await service.create_endpoint(
        conn, caller, body, keyring=world.keyring, egress=egress, now=world.clock.now()
    )
    await conn.execute(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, body,"
        " next_attempt_at, created_at) VALUES ('whd_local_' || %s, %s, 'obx_x', 'test.ping',"
        ' \'{"type":"test.ping"}\', %s, %s)',
        (row["id"], row["id"], world.clock.now(), world.clock.now()),
    )
    return f"whd_local_{row['id']}", secret


async def test_a_loopback_receiver_gets_a_verifiable_message(
    receiver: tuple[str, Received], world: World, db: Database
) -> None:
    url, received = receiver
    strict = EgressPolicy.for_settings(Settings(environment="test"))
    egress = EgressPolicy.for_settings(Settings(environment="test"), allow_loopback=True)
    async with db.transaction() as conn:
        with pytest.raises(DestinationRefused, match="not public"):
            await make_endpoint(conn, strict, world, url)
    async with db.transaction() as conn:
        delivery_id, secret = await make_endpoint(conn, egress, world, url)
    sender = WebhookSender(db, world.clock, world.keyring, egress)  # httpx's own network
    report = await sender.attempt_now(delivery_id)
    assert report.succeeded == 1
    [(body, headers)] = received
    assert headers["host"] == url.split("/")[2]
    assert Webhook(secret).verify(body, headers) == {"type": "test.ping"}
