"""Helpers of the settings and security page tests: the API as one person sees it, a web
client with the CSRF token of a page, and a session whose step-up has gone stale."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response
from playwright.async_api import Browser, BrowserContext, Page

from finhub.kit.db import Database
from tests.web.conftest import (
    DESKTOP,
    ConsoleErrors,
    PageFactory,
    WebPerson,
    assert_accessible,
    open_context,
    shoot,
)

BASE_URL = "http://finhub.test"
PIN = "480713"
# Chromium logs every 4xx answer as a console error; a form shown again with its field errors
# answers 422 on purpose, so that line (and only that) is expected.
EXPECTED_REFUSAL = re.compile(r"^Failed to load resource: .* status of 422")


@pytest.fixture(name="open_page")
async def open_page_allowing_422(browser: Browser, live_server: str) -> AsyncIterator[PageFactory]:
    """The harness's `open_page`, except that the 422 of a refused form is no failure."""
    opened: list[tuple[BrowserContext, ConsoleErrors]] = []

    async def make(person: WebPerson | None = None, viewport: dict[str, int] = DESKTOP) -> Page:
        token = person.token if person else None
        context, errors = await open_context(browser, live_server, viewport, token)
        opened.append((context, errors))
        return await context.new_page()

    yield make
    problems = [e for _, errors in opened for e in errors if not EXPECTED_REFUSAL.match(e)]
    for context, _ in opened:
        await context.close()
    assert not problems, f"the browser console reported errors: {problems}"


def api_client(app: Any, token: str) -> AsyncClient:
    """The JSON API with a bearer credential (a session token or an API key)."""
    return AsyncClient(
        transport=ASGITransport(app=app),
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {token}"},
    )


async def api(app: Any, person: WebPerson, method: str, path: str, **kwargs: Any) -> Any:
    async with api_client(app, person.token) as client:
        response = await client.request(method, path, **kwargs)
    assert response.status_code < 400, response.text
    return response.json() if response.content else None


def web_client(app: Any, person: WebPerson) -> AsyncClient:
    """The web pages as `person`'s browser sees them (no redirects followed)."""
    client = AsyncClient(transport=ASGITransport(app=app), base_url=BASE_URL)
    client.cookies.set("fh_session", person.token)
    return client


def csrf_of(page: Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "the page has no form"
    return found.group(1)


async def set_pin(app: Any, person: WebPerson, pin: str = PIN) -> None:
    """A payment PIN, set while the session is still freshly stepped up."""
    await api(app, person, "PUT", "/v1/me/pin", json={"pin": pin})


async def make_step_up_stale(db: Database, person: WebPerson) -> None:
    """The session proved a factor long ago: sensitive actions ask for it again."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE sessions SET stepped_up_at = now() - interval '1 day' WHERE user_id = %s",
            (person.user_id,),
        )


async def check_page(page: Page, name: str) -> None:
    """Accessible, shot as `name`, and no sideways scrolling.

    Hiding the caret for the screenshot leaves `style=""` on the page's inputs; htmx copies the
    attributes of same-id elements into its next swap, which the CSP refuses as inline style,
    so they are removed again."""
    await assert_accessible(page)
    await shoot(page, name)
    await page.evaluate(
        "document.querySelectorAll('[style=\"\"]').forEach(e => e.removeAttribute('style'))"
    )
    width = (page.viewport_size or DESKTOP)["width"]
    assert await page.evaluate("document.documentElement.scrollWidth") <= width, "scrolls sideways"
