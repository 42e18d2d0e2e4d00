"""How the sandbox reaches finhub with its webhooks: an HTTP POST, like the real thing."""

from __future__ import annotations

from typing import Protocol

import httpx


class WebhookDelivery(Protocol):
    async def send(self, body: bytes, headers: dict[str, str]) -> int:
        """POST the signed event; the receiver's status code (0 when unreachable)."""
        ...


class HttpWebhookDelivery:
    """POSTs to `url`. `transport` lets the app deliver to itself in-process (tests, or an
    embedded deployment) through httpx's ASGI transport."""

    def __init__(
        self, url: str, *, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 10
    ) -> None:
        self.url = url
        self.transport = transport
        self.timeout = timeout

    async def send(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as client:
                response = await client.post(
                    self.url, content=body, headers={"content-type": "application/json", **headers}
                )
        except httpx.HTTPError:
            return 0
        return response.status_code
