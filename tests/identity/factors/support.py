"""Helpers for the second-factor and staff tests: people and their signed-in clients, TOTP
codes at the test clock, the mailbox and the audit trail."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from httpx import ASGITransport, AsyncClient, Response
from psycopg.types.json import Jsonb

from finhub.config import Settings
from finhub.identity import passwords
from finhub.kit.clock import Clock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from tests.factories import create_user, session_token

PASSWORD = "correct horse battery staple 42"
_addresses = itertools.count(1)


def unique_ip() -> str:
    """A fresh address per client (192.0.2.0/24 and 100.64/10 are not routed), so one test's
    address throttles never reach another."""
    n = next(_addresses)
    return f"100.{64 + n // 65536 % 64}.{n // 256 % 256}.{n % 256}"


@asynccontextmanager
async def client_for(app: Any, token: str | None = None) -> AsyncIterator[AsyncClient]:
    headers = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    transport = ASGITransport(app=app, client=(unique_ip(), 40000))
    async with AsyncClient(
        transport=transport, base_url="http://finhub.test", headers=headers
    ) as client:
        yield client


@dataclass
class Person:
    id: str
    email: str
    client: AsyncClient


async def new_person(
    db: Database, settings: Settings, clock: Clock, *, aal: int = 1, password: str = PASSWORD
) -> tuple[str, str, str]:
    """(user id, email, session token) of an active person with a password."""
    hashed = await passwords.hash_password(password)
    async with db.transaction() as conn:
        user_id = await create_user(conn, password_hash=hashed)
        token = await session_token(conn, user_id=user_id, aal=aal, settings=settings, clock=clock)
    return user_id, f"{user_id.lower()}@example.com", token


def totp_code(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


async def enable_totp(client: AsyncClient, clock: Clock) -> tuple[str, list[str]]:
    """Set up TOTP through the API; returns (secret, recovery codes). The confirming code is
    from the previous time step, so a test can use the current one next."""
    started = await client.post("/v1/me/factors/totp")
    assert started.status_code == 201, started.text
    secret: str = started.json()["secret"]
    code = pyotp.TOTP(secret).at(clock.now(), counter_offset=-1)
    confirmed = await client.post("/v1/me/factors/totp/confirm", json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    codes: list[str] = confirmed.json()["recovery_codes"]
    return secret, codes


async def step_up_with_totp(client: AsyncClient, secret: str, clock: Clock) -> Response:
    """Step up with the code of the next time step (moving the clock there), so it is never a
    replay of a code used before."""
    clock.advance(timedelta(seconds=30))  # type: ignore[attr-defined]
    code = pyotp.TOTP(secret).at(clock.now())
    response = await client.post("/v1/auth/step-up", json={"method": "totp", "code": code})
    assert response.status_code == 200, response.text
    return response


def problem_code(response: Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    code: str = response.json()["code"]
    return code


async def audit_actions(db: Database, subject_user_id: str) -> list[str]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT action, outcome FROM audit_events WHERE subject_user_id = %s ORDER BY seq",
            (subject_user_id,),
        )
        return [f"{row['action']}:{row['outcome']}" async for row in cursor]


async def mail_tags(db: Database, address: str) -> list[str]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT tag FROM outbound_mail WHERE lower(to_address) = lower(%s)"
            " ORDER BY created_at, id",
            (address,),
        )
        return [row["tag"] async for row in cursor]


async def inbox_kinds(db: Database, user_id: str) -> list[str]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT kind FROM notifications WHERE user_id = %s ORDER BY id", (user_id,)
        )
        return [row["kind"] async for row in cursor]


# --- stand-ins until the mailer and the inbox land ----------------------------------------------


def is_stub(function: Any) -> bool:
    return "raise NotImplementedError" in inspect.getsource(function)


async def queue_stand_in(
    self: Any,
    conn: Connection,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    tag: str,
) -> str:
    mail_id = new_id("mail")
    await conn.execute(
        "INSERT INTO outbound_mail (id, to_address, subject, text_body, html_body, tag, status,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s, 'kept', clock_timestamp())",
        (mail_id, to, subject, text, html, tag),
    )
    return mail_id


async def notify_stand_in(
    conn: Connection,
    *,
    user_id: str,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any] | None = None,
) -> str:
    notification_id = new_id("ntf")
    await conn.execute(
        "INSERT INTO notifications (id, user_id, kind, title, body, data)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (notification_id, user_id, kind, title, body, Jsonb(data or {})),
    )
    return notification_id
