"""Shared by the top-up, withdrawal and payee page tests: API clients acting as a person,
balances, a payment PIN and a session that still has to step up, and screenshots in the middle
of a flow. A test module imports the fixture `api_clients` (named `api_as`) to use it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from playwright.async_api import Page

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.factories import session_token
from tests.web.conftest import WebPerson, shoot

PIN = "482915"
ApiFactory = Callable[[WebPerson], AsyncClient]


async def shoot_mid_flow(page: Page, name: str) -> None:
    """`shoot`, for a page the test goes on using. The screenshot hides the text caret by
    leaving an empty `style` attribute on every input, and HTMX copies the attributes of an
    element onto its replacement when it swaps in the next page, which the Content-Security-
    Policy then refuses as an inline style: take the leftovers away."""
    await shoot(page, name)
    await page.evaluate(
        "document.querySelectorAll('[style=\"\"]').forEach(e => e.removeAttribute('style'))"
    )


async def assert_no_sideways_scroll(page: Page) -> None:
    """The page fits the screen's width (wide tables scroll inside their own box)."""
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


@pytest.fixture(name="api_as")
async def api_clients(app: Any) -> AsyncIterator[ApiFactory]:
    """`api_as(person)`: an API client with the person's session."""
    clients: list[AsyncClient] = []

    def make(person: WebPerson) -> AsyncClient:
        client = AsyncClient(
            transport=ASGITransport(app=app),
            base_url="http://finhub.test",
            headers={"Authorization": f"Bearer {person.token}"},
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def balance_in(api: AsyncClient, currency: str = "EUR") -> dict[str, int]:
    """The wallet's balance, available and held amounts in `currency` (zeros if none)."""
    wallet = (await api.get("/v1/wallets/me")).json()
    for found in wallet["balances"]:
        if found["currency"] == currency:
            return {key: int(found[key]) for key in ("balance", "available", "held")}
    return {"balance": 0, "available": 0, "held": 0}


async def set_pin(api: AsyncClient) -> None:
    answer = await api.put("/v1/me/pin", json={"pin": PIN})
    assert answer.status_code == 200, answer.text


async def not_stepped_up(
    db: Database, settings: Settings, clock: OffsetClock, person: WebPerson
) -> WebPerson:
    """The same person signed in again with a password only: sensitive actions ask for a
    second factor first."""
    async with db.transaction() as conn:
        token = await session_token(
            conn, user_id=person.user_id, aal=1, settings=settings, clock=clock
        )
    return WebPerson(person.user_id, person.email, token, person.wallet_id)


async def add_payee(api: AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Ada Lovelace", "currency": "EUR", "iban": "DE89370400440532013000"}
    answer = await api.post("/v1/payees", json={**body, **fields})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())
