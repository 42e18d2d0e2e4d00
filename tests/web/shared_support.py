"""Helpers the page groups' tests share on top of the browser harness (`conftest.py`): the
JSON API and the web pages as one person's clients see them, a payment PIN, a session whose
step-up has gone stale and the form's answer to it, and a page check (accessible, fits the
screen, screenshot).

A test module that uses the `api_as` fixture imports `api_clients` from here."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response
from playwright.async_api import Page

from finhub.kit.db import Database
from tests.web.conftest import WebPerson, assert_accessible, shoot

BASE_URL = "http://finhub.test"
PIN = "482915"
ApiFactory = Callable[[WebPerson], AsyncClient]


def api_client(app: Any, token: str) -> AsyncClient:
    """The JSON API with a bearer credential (a session token or an API key)."""
    return AsyncClient(
        transport=ASGITransport(app=app),
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {token}"},
    )


async def api(app: Any, person: WebPerson, method: str, path: str, **kwargs: Any) -> Any:
    """One successful API call as `person` (the same session as their browser); its JSON."""
    async with api_client(app, person.token) as client:
        response = await client.request(method, path, **kwargs)
    assert response.status_code < 400, response.text
    return response.json() if response.content else None


@pytest.fixture(name="api_as")
async def api_clients(app: Any) -> AsyncIterator[ApiFactory]:
    """`api_as(person)`: an API client with the person's session, closed after the test."""
    clients: list[AsyncClient] = []

    def make(person: WebPerson) -> AsyncClient:
        clients.append(api_client(app, person.token))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


def web_client(app: Any, person: WebPerson | None = None) -> AsyncClient:
    """The web pages as a browser sees them, signed in as `person` if given (redirects are
    not followed)."""
    client = AsyncClient(transport=ASGITransport(app=app), base_url=BASE_URL)
    if person is not None:
        client.cookies.set("fh_session", person.token)
    return client


def form_value(page: Response | str, name: str) -> str:
    """The value of the hidden (or any) input `name` on a page."""
    html = page if isinstance(page, str) else page.text
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} on the page"
    return found.group(1)


def csrf_of(page: Response | str) -> str:
    """The CSRF token a web POST from the page must carry."""
    return form_value(page, "csrf_token")


async def set_pin(app: Any, person: WebPerson, pin: str = PIN) -> str:
    """A payment PIN, set while the session is still freshly stepped up."""
    await api(app, person, "PUT", "/v1/me/pin", json={"pin": pin})
    return pin


async def make_step_up_stale(db: Database, person: WebPerson) -> None:
    """The person's sessions proved a factor long ago: sensitive actions and large payments
    ask for it again."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE sessions SET stepped_up_at = now() - interval '1 day' WHERE user_id = %s",
            (person.user_id,),
        )


async def answer_step_up(page: Page, code: str = PIN, method: str = "pin") -> None:
    """Fills in the "Confirm it's you" fields of the form on the page."""
    await page.locator("#f-step_up_method").select_option(method)
    await page.locator("#f-step_up_code").fill(code)


async def assert_fits(page: Page) -> None:
    """Nothing is wider than the screen (wide tables scroll inside their own box)."""
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


async def check_page(page: Page, name: str) -> None:
    """The page as it is now is accessible and fits the screen; a screenshot named `name`."""
    await assert_accessible(page)
    await assert_fits(page)
    await shoot(page, name)
