"""Helpers of the payment page tests (send, request, scan): the API as one person sees it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
from httpx import ASGITransport, AsyncClient
from playwright.async_api import Browser, BrowserContext, Page

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.notifications.mail import Mailer
from finhub.webhooks.payment_notifications import notify_pending
from tests.web.conftest import (
    DESKTOP,
    PageFactory,
    WebPerson,
    assert_accessible,
    open_context,
    shoot,
)

T = TypeVar("T")


def api_client(app: Any, person: WebPerson) -> AsyncClient:
    """An HTTP client of the JSON API signed in as `person` (the same session as their
    browser)."""
    return AsyncClient(
        transport=ASGITransport(app=app),
        base_url="http://finhub.test",
        headers={"Authorization": f"Bearer {person.token}"},
    )


async def api(app: Any, person: WebPerson, method: str, path: str, **kwargs: Any) -> Any:
    async with api_client(app, person) as client:
        response = await client.request(method, path, **kwargs)
    assert response.status_code < 400, response.text
    return response.json() if response.content else None


async def balance(app: Any, person: WebPerson, currency: str = "EUR") -> int:
    wallet = await api(app, person, "GET", "/v1/wallets/me")
    found = {b["currency"]: b["balance"] for b in wallet["balances"]}
    return int(found.get(currency, 0))


async def activity(app: Any, person: WebPerson) -> list[dict[str, Any]]:
    page = await api(app, person, "GET", "/v1/wallets/me/activity", params={"limit": 50})
    return list(page["data"])


async def poll(check: Callable[[], Awaitable[T | None]], seconds: float = 15) -> T:
    """The first truthy answer of `check`, asked until `seconds` have passed."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.2)


async def make_step_up_stale(db: Database, person: WebPerson) -> None:
    """The person's session proved a factor long ago: large payments ask for it again."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE sessions SET stepped_up_at = now() - interval '1 day' WHERE user_id = %s",
            (person.user_id,),
        )


async def set_pin(app: Any, person: WebPerson, pin: str = "482915") -> str:
    await api(app, person, "PUT", "/v1/me/pin", json={"pin": pin})
    return pin


async def check_and_shoot(page: Page, name: str) -> None:
    """`assert_accessible` and `shoot`, then the page as it was: the screenshot leaves empty
    `style` attributes on inputs (hiding the caret), which HTMX's next swap copies onto the
    new inputs with the same id, and the CSP refuses that."""
    await assert_accessible(page)
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert await page.evaluate("document.documentElement.scrollWidth") <= width, "scrolls sideways"
    await shoot(page, name)
    await page.evaluate(
        "document.querySelectorAll('[style=\"\"]').forEach(e => e.removeAttribute('style'))"
    )


async def inbox_after_payments(
    app: Any, person: WebPerson, db: Database, settings: Settings, clock: OffsetClock
) -> list[dict[str, Any]]:
    """The person's notifications once the payment notifier (a worker job) has run."""
    mailer = Mailer(db, settings, clock=clock)

    async def notes() -> list[dict[str, Any]] | None:
        await notify_pending(db, mailer, clock)
        page = await api(app, person, "GET", "/v1/me/notifications")
        return list(page["data"]) or None

    return await poll(notes)


# Forms re-rendered with their errors answer 4xx (HTMX swaps them in), which Chromium logs as
# a failed resource; anything else in the console is still an error.
EXPECTED_STATUS = re.compile(r"^Failed to load resource: the server responded with a status of 4")


@pytest.fixture
async def open_form_page(browser: Browser, live_server: str) -> AsyncIterator[PageFactory]:
    """`open_page` for tests that submit forms with errors on purpose."""
    opened: list[tuple[BrowserContext, list[str]]] = []

    async def make(person: WebPerson | None = None, viewport: dict[str, int] = DESKTOP) -> Page:
        context, errors = await open_context(
            browser, live_server, viewport, person.token if person else None
        )
        opened.append((context, errors))
        return await context.new_page()

    yield make
    problems = [e for _, errors in opened for e in errors if not EXPECTED_STATUS.match(e)]
    for context, _ in opened:
        await context.close()
    assert not problems, f"the browser console reported errors: {problems}"
