"""Every state-changing web route refuses a request without the page's CSRF token."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from httpx import AsyncClient

from finhub.app import create_app
from finhub.config import Settings
from finhub.web.security import SAFE_METHODS


def web_routes(settings: Settings, database_url: str) -> list[tuple[str, str]]:
    routes = []
    for route in create_app(settings, database_url).routes:
        if not isinstance(route, APIRoute) or route.path.startswith(("/v1/", "/docs")):
            continue
        if route.include_in_schema:
            continue
        for method in sorted(route.methods - SAFE_METHODS):
            routes.append((method, re.sub(r"\{[^}]+\}", "x", route.path)))
    return routes


async def test_the_web_app_has_state_changing_routes(settings: Settings, database_url: str) -> None:
    assert ("POST", "/language") in web_routes(settings, database_url)


async def test_every_unsafe_web_route_needs_the_csrf_token(
    settings: Settings, database_url: str, anonymous_client: AsyncClient
) -> None:
    await anonymous_client.get("/")  # the CSRF cookie, but no token in the request
    accepted = []
    for method, path in web_routes(settings, database_url):
        response = await anonymous_client.request(method, path, data={"x": "1"})
        if response.status_code != 403:
            accepted.append(f"{method} {path}: {response.status_code}")
    assert not accepted, "answered without a CSRF token:\n" + "\n".join(accepted)
