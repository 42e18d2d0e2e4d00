"""The web app's way to the API: an in-process call of finhub's own `/v1` endpoints.

Every page acts through the same endpoints outside clients use, so authorisation, idempotency,
step-up, limits, audit records and problem+json codes are exactly the API's. The call never
leaves the process: it is one ASGI call of the app with a scope built from the browser's
request (its address, user agent, language and request id), authenticated by the browser's
session token as a bearer credential. The web layer checks its own CSRF token before it calls.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from finhub.identity.sessions import SESSION_COOKIE
from finhub.kit import jsonutil

# Headers of the browser's request that the API needs to see as they are.
FORWARDED_HEADERS = (b"user-agent", b"accept-language", b"x-request-id")


@dataclass
class ApiResult:
    status: int
    body: bytes
    content_type: str
    set_cookies: list[bytes] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status < 400

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


class ApiProblem(Exception):
    """A problem+json answer of the API: its stable `code`, status and any field errors."""

    def __init__(self, result: ApiResult) -> None:
        problem = result.json() if result.body else {}
        if not isinstance(problem, dict):
            problem = {}
        self.status = result.status
        self.code: str = problem.get("code") or "error"
        self.detail: str = problem.get("detail") or problem.get("title") or ""
        self.problem: dict[str, Any] = problem
        super().__init__(f"{self.status} {self.code}")


class Api:
    """The API as the signed-in browser (or an anonymous one) sees it."""

    def __init__(self, request: Request) -> None:
        self.request = request

    @property
    def session_token(self) -> str | None:
        return self.request.cookies.get(SESSION_COOKIE)

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self.json("GET", path, params=params)

    async def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        return await self.json("POST", path, body=body, idempotency_key=idempotency_key)

    async def patch(self, path: str, body: Any = None) -> Any:
        return await self.json("PATCH", path, body=body)

    async def put(self, path: str, body: Any = None) -> Any:
        return await self.json("PUT", path, body=body)

    async def delete(self, path: str) -> Any:
        return await self.json("DELETE", path)

    async def json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """The decoded answer; a 4xx/5xx raises `ApiProblem`."""
        result = await self.call(
            method, path, params=params, body=body, idempotency_key=idempotency_key
        )
        if not result.ok:
            raise ApiProblem(result)
        return result.json()

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
        token: str | None = None,
    ) -> ApiResult:
        """One in-process request; `token` overrides the browser's session (just signed in)."""
        payload = b"" if body is None else jsonutil.dumps(body)
        query = urlencode(
            {k: v for k, v in (params or {}).items() if v not in (None, "")}, doseq=True
        )
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": self.request.url.scheme,
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": self._headers(payload, idempotency_key, token),
            "client": self.request.scope.get("client"),
            "server": self.request.scope.get("server"),
        }
        return await _dispatch(self.request.app, scope, payload)

    def _headers(
        self, payload: bytes, idempotency_key: str | None, token: str | None
    ) -> list[tuple[bytes, bytes]]:
        headers = [(b"host", self.request.headers.get("host", "finhub").encode())]
        for name in FORWARDED_HEADERS:
            value = self.request.headers.get(name.decode())
            if value is not None:
                headers.append((name, value.encode()))
        request_id = self.request.scope.get("finhub.request_id")
        if request_id:
            headers.append((b"x-request-id", request_id.encode()))
        bearer = token or self.session_token
        if bearer:
            headers.append((b"authorization", b"Bearer " + bearer.encode()))
        # Other cookies (the sign-in device cookie) travel as they came; the session cookie is
        # replaced by the bearer token above so the API reads one credential.
        cookies = {k: v for k, v in self.request.cookies.items() if k != SESSION_COOKIE}
        if cookies:
            jar = "; ".join(f"{k}={v}" for k, v in cookies.items())
            headers.append((b"cookie", jar.encode()))
        if payload:
            headers.append((b"content-type", b"application/json"))
            headers.append((b"content-length", str(len(payload)).encode()))
        if idempotency_key:
            headers.append((b"idempotency-key", idempotency_key.encode()))
        return headers


async def _dispatch(app: Any, scope: dict[str, Any], payload: bytes) -> ApiResult:
    chunks: list[bytes] = []
    start: dict[str, Any] = {}
    delivered = False
    finished = asyncio.Event()

    async def receive() -> Message:
        # The body once; after that the "client" stays connected until the answer is complete
        # (a disconnect reported early would cut a streamed answer short).
        nonlocal delivered
        if delivered:
            await finished.wait()
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await app(scope, receive, send)
    finally:
        finished.set()
    headers: list[tuple[bytes, bytes]] = start.get("headers", [])
    content_type = next((v.decode() for k, v in headers if k.lower() == b"content-type"), "")
    set_cookies = [v for k, v in headers if k.lower() == b"set-cookie"]
    return ApiResult(start.get("status", 500), b"".join(chunks), content_type, set_cookies)


def relay_cookies(result: ApiResult, response: Response) -> None:
    """Pass the cookies the API set (session, device) on to the browser."""
    for raw in result.set_cookies:
        response.raw_headers.append((b"set-cookie", raw))


def cookie_value(result: ApiResult, name: str) -> str | None:
    """The value of a cookie the API set in `result`, if any."""
    for raw in result.set_cookies:
        jar: SimpleCookie = SimpleCookie()
        jar.load(raw.decode("latin-1"))
        if name in jar:
            return jar[name].value
    return None
