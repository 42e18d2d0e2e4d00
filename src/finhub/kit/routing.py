"""Route dispatch by path prefix instead of trying every route in turn.

Starlette matches a request against the app's routes one regular expression at a time, in
order. With some 300 routes, a request for a route near the end (the whole ledger API) spent
about a quarter of a millisecond there: a tenth of its server time. `RouteIndex` keeps, for the
first two path segments, the routes that could match a path starting with them, in their
original order, and tries only those. Every route that can match a request is among its
candidates (a route's literal prefix must be a prefix of the path), so the first full match,
or the first partial one (405), is the same route Starlette would pick. When no candidate
matches, the router itself runs as before (trailing-slash redirects, 404).
"""

from __future__ import annotations

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Router
from starlette.types import Receive, Scope, Send

Key = tuple[str, ...]
DEPTH = 2  # segments indexed: enough to tell /v1/ledger from /v1/payments


def literal_segments(route: BaseRoute) -> Key:
    """Up to DEPTH whole literal segments that begin every path the route matches."""
    path_format = getattr(route, "path_format", None)
    if not isinstance(path_format, str) or not path_format.startswith("/"):
        return ()  # not a path route (a host route, say): a candidate for every request
    literal = path_format.split("{", 1)[0]
    segments = literal[1:].split("/")
    if "{" in path_format:
        segments = segments[:-1]  # the segment holding the parameter is not whole
    return tuple(segments[:DEPTH])


class RouteIndex:
    """The router's HTTP dispatch, narrowed by path prefix (install with `install`)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._indexed = -1  # how many routes the index was built from
        self._candidates: dict[Key, list[BaseRoute]] = {}

    @classmethod
    def install(cls, router: Router) -> RouteIndex:
        if router.middleware_stack != router.app:
            raise ValueError("the router has middleware of its own; the index would bypass it")
        index = cls(router)
        router.middleware_stack = index
        return index

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router.app(scope, receive, send)  # lifespan and websockets as ever
            return
        scope.setdefault("router", self.router)
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is not None:
            route, child_scope = partial
            scope["route"] = route
            scope.update(child_scope)
            await route.handle(scope, receive, send)
            return
        await self.router.app(scope, receive, send)

    def candidates(self, path: str) -> list[BaseRoute]:
        """The routes that could match `path`, in the router's order."""
        if len(self.router.routes) != self._indexed:
            self._build()
        segments = tuple(path[1:].split("/", DEPTH)[:DEPTH])
        # Only keys that routes use are cached, so odd paths can't grow the cache.
        for depth in range(len(segments), -1, -1):
            cached = self._candidates.get(segments[:depth])
            if cached is not None:
                return cached
        return []

    def _build(self) -> None:
        buckets: dict[Key, list[tuple[int, BaseRoute]]] = {}
        for position, route in enumerate(self.router.routes):
            buckets.setdefault(literal_segments(route), []).append((position, route))
        self._candidates = {key: _merge(buckets, key) for key in [*buckets, ()]}
        self._indexed = len(self.router.routes)


def _merge(buckets: dict[Key, list[tuple[int, BaseRoute]]], key: Key) -> list[BaseRoute]:
    """The routes of `key` and of every shorter key (its prefixes), in router order."""
    merged = [entry for depth in range(len(key) + 1) for entry in buckets.get(key[:depth], [])]
    return [route for _, route in sorted(merged, key=lambda entry: entry[0])]
