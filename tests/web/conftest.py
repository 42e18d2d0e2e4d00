"""Browser tests of the web app: the real app served over HTTP, driven by the system Chromium.

The app under test is the session's `app` (its lifespan already running), served by uvicorn on a
free local port in the tests' own event loop, so tests can prepare data through the same
database fixtures as every other test and then act in the browser. Chromium is Debian's
`chromium` (`tools/check.py` installs it); Playwright never downloads a browser.

Every page fixture fails its test if the page logged an error to the console (a script error
or a Content-Security-Policy violation). `shoot` saves a screenshot under
`test-artifacts/screenshots/`, and `assert_accessible` runs axe-core and fails on any serious
or critical violation.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    async_playwright,
)

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from tests.factories import create_user, session_token

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1280, "height": 900}
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERIOUS = ("serious", "critical")
HTTP_STATUS_LOG = re.compile(
    r"^Failed to load resource: the server responded with a status of 4\d\d"
)


def chromium_path() -> str:
    path = os.environ.get("FINHUB_CHROMIUM") or shutil.which("chromium")
    if path is None:
        pytest.fail("Chromium is missing: run the tests through `uv run tools/check.py`.")
    return path


@pytest.fixture(scope="session")
async def live_server(app: Any) -> AsyncIterator[str]:
    """The app served on http://127.0.0.1:<free port>."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@dataclass
class WebPerson:
    """A verified person with a wallet and a stepped-up session token."""

    user_id: str
    email: str
    token: str
    wallet_id: str


PersonFactory = Callable[..., Awaitable[WebPerson]]


@pytest.fixture
def make_person(db: Database, settings: Settings, clock: OffsetClock) -> PersonFactory:
    async def make(
        *,
        display_name: str = "Ada Lovelace",
        balances: dict[str, int] | None = None,
        locale: str = "en",
    ) -> WebPerson:
        ledger = LedgerService(clock)
        async with db.transaction() as conn:
            user_id = await create_user(conn, display_name=display_name)
            await conn.execute("UPDATE users SET locale = %s WHERE id = %s", (locale, user_id))
            email = (
                await (
                    await conn.execute("SELECT email FROM users WHERE id = %s", (user_id,))
                ).fetchone()
            )["email"]
            token = await session_token(conn, user_id=user_id, settings=settings, clock=clock)
            wallet = await wallets.ensure_wallet(conn, clock, user_id)
            for currency, amount in (balances or {}).items():
                account = await wallets.balance_account(conn, ledger, wallet, currency)
                bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, currency)
                spec = ledger.transfer_spec(
                    from_account=bank, to_account=account, amount=amount, asset=currency
                )
                await ledger.post_one(conn, spec)
        return WebPerson(user_id, email, token, wallet.id)

    return make


class ConsoleErrors(list[str]):
    """Console errors a page logged (script errors, refused by the CSP)."""


async def open_context(
    browser: Browser, live_server: str, viewport: dict[str, int], token: str | None = None
) -> tuple[BrowserContext, ConsoleErrors]:
    context = await browser.new_context(base_url=live_server, viewport=viewport)
    if token is not None:
        await context.add_cookies(
            [{"name": "fh_session", "value": token, "url": live_server, "httpOnly": True}]
        )
    errors = ConsoleErrors()

    def on_console(message: ConsoleMessage) -> None:
        # Chromium logs every 4xx answer as an error; a form re-rendered with its errors is a
        # 422 by design. Script errors and CSP violations are what count here.
        if message.type == "error" and not HTTP_STATUS_LOG.match(message.text):
            errors.append(message.text)

    def on_page(page: Page) -> None:
        page.on("console", on_console)
        page.on("pageerror", lambda e: errors.append(str(e)))

    context.on("page", on_page)
    return context, errors


PageFactory = Callable[..., Awaitable[Page]]


@pytest.fixture
async def open_page(browser: Browser, live_server: str) -> AsyncIterator[PageFactory]:
    """`await open_page(person=None, viewport=PHONE)`: a new browser context (signed in as
    `person` if given) and a page in it. The test fails if any page logged an error."""
    opened: list[tuple[BrowserContext, ConsoleErrors]] = []

    async def make(person: WebPerson | None = None, viewport: dict[str, int] = DESKTOP) -> Page:
        context, errors = await open_context(
            browser, live_server, viewport, person.token if person else None
        )
        opened.append((context, errors))
        return await context.new_page()

    yield make
    problems = [error for _, errors in opened for error in errors]
    for context, _ in opened:
        await context.close()
    assert not problems, f"the browser console reported errors: {problems}"


async def shoot(page: Page, name: str) -> Path:
    """A full-page screenshot saved as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # caret="initial": Playwright's default hides the caret with a style attribute that HTMX
    # would carry into the next page, where the CSP refuses it.
    await page.screenshot(path=str(path), full_page=True, caret="initial")
    return path


async def assert_accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation on the page as it is now."""
    results = await Axe().run(page)
    serious = [v for v in results.response["violations"] if v.get("impact") in SERIOUS]
    detail = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in serious
    ]
    assert not serious, "accessibility violations:\n" + "\n".join(detail)
