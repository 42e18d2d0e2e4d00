"""Fixtures for the API key tests: people with sessions, and a probe app whose routes accept
API keys with given scopes (so keys are used through a real `Access` dependency)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from httpx import ASGITransport, AsyncClient

from finhub.api import json_response
from finhub.app import create_app
from finhub.config import Settings
from finhub.identity.principal import Access, Principal
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.factories import create_user, session_token

BASE_URL = "http://finhub.test"


@dataclass
class Person:
    user_id: str
    client: AsyncClient  # a stepped-up (aal 2) session

    async def create_key(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "test key", "mode": "live", "scopes": ["wallets:read"], **fields}
        response = await self.client.post("/v1/api-keys", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


PersonFactory = Callable[..., Awaitable[Person]]


@pytest.fixture
async def make_person(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> AsyncIterator[PersonFactory]:
    """People with a session signed in now (aal 2, so freshly stepped up, unless asked)."""
    clients: list[AsyncClient] = []

    async def make(*, aal: int = 2, user_id: str | None = None) -> Person:
        async with db.transaction() as conn:
            user_id = user_id or await create_user(conn)
            token = await session_token(
                conn, user_id=user_id, aal=aal, settings=settings, clock=clock
            )
        client = AsyncClient(
            transport=ASGITransport(app=app),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {token}"},
        )
        clients.append(client)
        return Person(user_id, client)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def person(make_person: PersonFactory) -> Person:
    return await make_person()


def _principal_view(principal: Principal) -> dict[str, Any]:
    return {
        "kind": principal.kind,
        "id": principal.id,
        "user_id": principal.user_id,
        "organization_id": principal.organization_id,
        "scopes": sorted(principal.scopes or ()),
        "live_mode": principal.live_mode,
        "ip": principal.ip,
    }


def probe_router() -> APIRouter:
    router = APIRouter(prefix="/probe")

    @router.get("/wallets")
    async def wallets(
        principal: Annotated[
            Principal, Depends(Access("user", "api_key", scopes=("wallets:read",)))
        ],
    ) -> Response:
        return json_response(200, _principal_view(principal))

    @router.post("/payments")
    async def payments(
        principal: Annotated[
            Principal, Depends(Access("api_key", scopes=("payments:write", "payments:read")))
        ],
    ) -> Response:
        return json_response(200, _principal_view(principal))

    return router


@pytest.fixture(scope="session")
async def probe_app(
    settings: Settings, database_url: str, clock: OffsetClock
) -> AsyncIterator[Any]:
    """The real app (same database and clock) plus routes that accept API keys."""
    app = create_app(settings, database_url, clock=clock)
    app.include_router(probe_router())
    async with LifespanManager(app) as manager:
        yield manager.app


Probe = Callable[..., Awaitable[Any]]


@pytest.fixture
def probe(probe_app: Any) -> Probe:
    """`await probe(secret, ip=...)`: GET /probe/wallets with the key, from that address."""

    async def call(secret: str, *, ip: str = "127.0.0.1", path: str = "/probe/wallets") -> Any:
        transport = ASGITransport(app=probe_app, client=(ip, 50_000))
        async with AsyncClient(transport=transport, base_url=BASE_URL) as client:
            headers = {"Authorization": f"Bearer {secret}"}
            if path.startswith("/probe/payments"):
                return await client.post(path, headers=headers)
            return await client.get(path, headers=headers)

    return call
