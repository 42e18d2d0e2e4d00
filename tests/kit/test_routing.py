"""The route index picks exactly the route Starlette's full scan would pick."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Match, Route, Router

from finhub.app import create_app
from finhub.config import Settings
from finhub.kit.routing import RouteIndex, literal_segments

PARAMETER = re.compile(r"{([^}:]+)(?::([^}]+))?}")


def scan(routes: list[BaseRoute], path: str, method: str) -> BaseRoute | None:
    """Starlette's rule: the first full match, else the first partial one."""
    scope: dict[str, Any] = {"type": "http", "path": path, "method": method, "root_path": ""}
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def concrete(path_format: str) -> str:
    """A request path for a route: every parameter filled with a plausible value."""
    return PARAMETER.sub(lambda m: "a/b" if m.group(2) == "path" else "x_1", path_format)


@pytest.fixture(scope="module")
def api(settings: Settings, database_url: str) -> FastAPI:
    """The app as built (its lifespan isn't needed to look at its routes)."""
    return create_app(settings, database_url)


def app_routes(app: FastAPI) -> tuple[Router, RouteIndex]:
    router: Router = app.router
    index = router.middleware_stack
    assert isinstance(index, RouteIndex)
    return router, index


def test_every_route_of_the_app_dispatches_as_a_full_scan_would(api: FastAPI) -> None:
    router, index = app_routes(api)
    checked = 0
    for route in router.routes:
        path_format = getattr(route, "path_format", None)
        if path_format is None:
            continue
        path = concrete(path_format)
        for method in [*sorted(getattr(route, "methods", None) or {"GET"}), "PATCH"]:
            assert scan(index.candidates(path), path, method) is scan(router.routes, path, method)
            checked += 1
    assert len(index.candidates("/v1/ledger/transfers")) < len(router.routes) / 5
    assert checked > 300


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/nowhere",
        "/v1",
        "/v1/",
        "/v1/nowhere/x",
        "/v1/ledger",
        "/v1/ledger/",
        "/v1/ledger/transfers/",
        "/v1/ledger/accounts/acct_1/balance/extra",
        "//v1/ledger",
    ],
)
def test_paths_that_match_nothing_or_partly_agree_too(api: FastAPI, path: str) -> None:
    router, index = app_routes(api)
    for method in ("GET", "POST", "DELETE"):
        assert scan(index.candidates(path), path, method) is scan(router.routes, path, method)


def test_literal_segments_stop_at_the_first_parameter() -> None:
    def route(path: str) -> Route:
        return Route(path, lambda request: PlainTextResponse("ok"))

    assert literal_segments(route("/v1/ledger/transfers")) == ("v1", "ledger")
    assert literal_segments(route("/v1/ledger/accounts/{id}")) == ("v1", "ledger")
    assert literal_segments(route("/v1/{kind}/x")) == ("v1",)
    assert literal_segments(route("/v1/led{x}")) == ("v1",)
    assert literal_segments(route("/{slug}")) == ()
    assert literal_segments(route("/")) == ("",)


def test_a_router_with_its_own_middleware_is_left_alone() -> None:
    router = Router(routes=[], middleware=[Middleware(GZipMiddleware)])
    with pytest.raises(ValueError, match="middleware of its own"):
        RouteIndex.install(router)


def test_routes_added_after_installing_are_found() -> None:
    router = Router(routes=[Route("/a/b", lambda request: PlainTextResponse("a"))])
    index = RouteIndex.install(router)
    assert [r.path for r in index.candidates("/c/d")] == []  # type: ignore[attr-defined]
    router.routes.append(Route("/c/{name}", lambda request: PlainTextResponse("c")))
    assert [r.path for r in index.candidates("/c/d")] == ["/c/{name}"]  # type: ignore[attr-defined]


async def test_the_app_still_answers_405_404_and_redirects(app_client: AsyncClient) -> None:
    wrong_method = await app_client.get("/v1/ledger/transfers")
    assert wrong_method.status_code == 405
    missing = await app_client.get("/v1/ledger/no-such-thing")
    assert missing.status_code == 404
    found = await app_client.get("/v1/ledger/accounts")
    assert found.status_code == 200
    assert found.json()["object"] == "list"
