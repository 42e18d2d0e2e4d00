"""Helpers of the payment page tests (send, request, scan): balances, activity and
notifications as one person sees them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.notifications.mail import Mailer
from finhub.webhooks.payment_notifications import notify_pending
from tests.web.conftest import WebPerson
from tests.web.shared_support import api

T = TypeVar("T")


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
