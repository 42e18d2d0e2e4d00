"""Helpers of the payment page tests (send, request, scan): the API as one person sees it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from httpx import ASGITransport, AsyncClient

from finhub.kit.db import Database
from tests.web.conftest import WebPerson

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
