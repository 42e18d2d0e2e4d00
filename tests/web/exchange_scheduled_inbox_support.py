"""Fixtures the exchange, scheduled payments and inbox page tests share on top of the browser
harness. A test module imports `live_server_with_request_state`, `open_page_allowing_422`,
`fresh_request_state` and `api_clients` (the fixtures `live_server`, `open_page` and `api_as`)
from here to use them in place of the harness's own.

* `live_server`: the app served the way uvicorn serves it in production, each request with a
  state of its own. The session's `app` is wrapped by the lifespan manager, which hands every
  request one shared `state` dict, so the web layer's per-request cache of the signed-in
  person and their unread count would outlive its request (a badge would never change).
* `open_page`: the harness's, except that the 422 of a form shown again with its errors (which
  Chromium logs as a failed resource load) is not a failure.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import uvicorn
from httpx import ASGITransport, AsyncClient
from playwright.async_api import Browser
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.web.conftest import DESKTOP, PageFactory, WebPerson, open_context

EXPECTED_REFUSAL = re.compile(r"^Failed to load resource: .* status of 422")
ApiFactory = Callable[[WebPerson], AsyncClient]


def unwrapped(app: Any) -> tuple[ASGIApp, dict[str, Any]]:
    """The app inside the lifespan manager's wrapper, and the state dict the wrapper shares."""
    cells = [cell.cell_contents for cell in app.__closure__ or ()]
    state = next(c for c in cells if isinstance(c, dict))
    inner = next(c for c in cells if callable(c))
    return inner, state


def state_per_request(app: Any) -> ASGIApp:
    inner, _ = unwrapped(app)

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        # finhub's lifespan yields no state, so each request starts with an empty one.
        await inner({**scope, "state": {}}, receive, send)

    return serve


@pytest.fixture(name="live_server", scope="module")
async def live_server_with_request_state(app: Any) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        state_per_request(app), lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture(name="open_page")
async def open_page_allowing_422(browser: Browser, live_server: str) -> AsyncIterator[PageFactory]:
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


@pytest.fixture(autouse=True)
def fresh_request_state(app: Any) -> Iterator[None]:
    """In-process clients (`anonymous_client`) still go through the shared state: start and
    end each test without a cached person."""
    _, state = unwrapped(app)
    state.pop("web_user", None)
    state.pop("unread", None)
    yield
    state.pop("web_user", None)
    state.pop("unread", None)


@pytest.fixture(name="api_as")
async def api_clients(app: Any) -> AsyncIterator[ApiFactory]:
    """`api_as(person)`: an API client with the person's bearer token."""
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
