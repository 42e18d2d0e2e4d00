"""Shared by the top-up, withdrawal and payee page tests: API clients acting as a person,
balances, a payment PIN and a session that still has to step up, and two adjustments of the
browser harness. A test module imports the fixtures `open_page_allowing_422` (it replaces
`open_page`), `fresh_request_state` and `api_clients` (named `api_as`) to use them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from playwright.async_api import Browser, Page

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.factories import session_token
from tests.web.conftest import DESKTOP, PageFactory, WebPerson, open_context, shoot

PIN = "482915"
# Chromium reports every 4xx answer of a request as a console error; a form shown again with
# its field errors answers 422 on purpose, so only that line is expected.
EXPECTED_REFUSAL = re.compile(
    r"^Failed to load resource: the server responded with a status of 422"
)
ApiFactory = Callable[[WebPerson], AsyncClient]


@pytest.fixture(name="open_page")
async def open_page_allowing_422(browser: Browser, live_server: str) -> AsyncIterator[PageFactory]:
    """The harness's `open_page`, except that the 422 of a refused form is not a failure."""
    opened = []

    async def make(person: WebPerson | None = None, viewport: dict[str, int] = DESKTOP) -> Any:
        token = person.token if person else None
        context, errors = await open_context(browser, live_server, viewport, token)
        opened.append((context, errors))
        return await context.new_page()

    yield make
    problems = [e for _, errors in opened for e in errors if not EXPECTED_REFUSAL.match(e)]
    for context, _ in opened:
        await context.close()
    assert not problems, f"the browser console reported errors: {problems}"


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


@pytest.fixture(autouse=True)
def fresh_request_state(app: Any) -> Iterator[None]:
    """The test app's lifespan wrapper hands every request the same `state` dict, so the web
    layer's per-request cache of the signed-in person (`request.state.web_user`) outlives its
    request; start each test without a previous test's person."""
    state = next(
        (c.cell_contents for c in app.__closure__ or () if isinstance(c.cell_contents, dict)),
        {},
    )
    state.pop("web_user", None)
    state.pop("unread", None)
    yield
    state.pop("web_user", None)


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
