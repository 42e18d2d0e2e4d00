"""Helpers for the people tests: clients from distinct addresses, the mailbox, sign-up and
sign-in through the API."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from httpx import ASGITransport, AsyncClient, Response

from finhub.identity.consents import PRIVACY_VERSION, TERMS_VERSION
from finhub.kit.db import Database
from finhub.kit.ids import new_id

STRONG_PASSWORD = "correct horse battery staple 42"
OTHER_STRONG_PASSWORD = "a quiet lake under purple sky"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
_addresses = itertools.count(1)


def unique_email(label: str = "person") -> str:
    return f"{label}.{new_id('usr').lower()}@example.com"


def unique_ip() -> str:
    """A fresh documentation-range address per client, so address throttles of one test never
    reach another."""
    n = next(_addresses)
    return f"198.51.{(n // 250) % 250}.{n % 250 + 1}" if n < 62500 else f"203.0.113.{n % 250}"


@asynccontextmanager
async def client_from(
    app: Any, ip: str | None = None, user_agent: str = BROWSER
) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, client=(ip or unique_ip(), 40000))
    async with AsyncClient(
        transport=transport, base_url="http://finhub.test", headers={"User-Agent": user_agent}
    ) as client:
        yield client


def sign_up_body(email: str, **overrides: Any) -> dict[str, Any]:
    return {
        "email": email,
        "password": STRONG_PASSWORD,
        "display_name": "Ada Example",
        "accept_terms_version": TERMS_VERSION,
        "accept_privacy_version": PRIVACY_VERSION,
        "marketing_opt_in": False,
        **overrides,
    }


# --- the dev mailbox (`outbound_mail`) --------------------------------------------------------


async def mails_to(db: Database, address: str, tag: str | None = None) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            """
            SELECT to_address, subject, text_body, tag, created_at FROM outbound_mail
             WHERE lower(to_address) = lower(%s) AND (%s::text IS NULL OR tag = %s)
             ORDER BY created_at, id
            """,
            (address, tag, tag),
        )
        return await cursor.fetchall()


LINK = re.compile(r"http://finhub\.test(/[a-z-]+)\?token=(\S+)")


async def link_token(db: Database, address: str, tag: str, path: str) -> str:
    """The token of the newest link of `tag` mailed to `address`."""
    mails = await mails_to(db, address, tag)
    assert mails, f"no {tag} mail to {address}"
    match = LINK.search(mails[-1]["text_body"])
    assert match is not None
    assert match.group(1) == path
    return parse_qs(urlsplit(match.group(0)).query)["token"][0]


# --- flows ------------------------------------------------------------------------------------


async def sign_up_and_verify(
    app: Any, db: Database, email: str | None = None, **overrides: Any
) -> str:
    """An active account created through the API; returns its email."""
    email = email or unique_email()
    async with client_from(app) as client:
        response = await client.post("/v1/auth/sign-up", json=sign_up_body(email, **overrides))
        assert response.status_code == 202, response.text
        token = await link_token(db, email, "auth.verify_email", "/verify-email")
        verified = await client.post("/v1/auth/verify-email", json={"token": token})
        assert verified.status_code == 200, verified.text
    return email


async def sign_in(client: AsyncClient, email: str, password: str = STRONG_PASSWORD) -> Response:
    return await client.post("/v1/auth/sign-in", json={"email": email, "password": password})


async def bearer(client: AsyncClient, email: str, password: str = STRONG_PASSWORD) -> str:
    response = await sign_in(client, email, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def user_id_of(db: Database, email: str) -> str:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT id FROM users WHERE email_normalized = %s", (email.lower(),)
        )
        row = await cursor.fetchone()
    assert row is not None
    user_id: str = row["id"]
    return user_id


async def audit_events(db: Database, user_id: str, action: str) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT action, outcome, actor_type, details FROM audit_events"
            " WHERE subject_user_id = %s AND action = %s ORDER BY seq",
            (user_id, action),
        )
        return await cursor.fetchall()


async def notifications_of(db: Database, user_id: str) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT kind, title, body, data FROM notifications WHERE user_id = %s ORDER BY id",
            (user_id,),
        )
        return await cursor.fetchall()
