"""The web app's browser-facing protections: CSRF tokens and security headers.

CSRF uses signed double-submit tokens (OWASP): a random `fh_csrf` cookie (HttpOnly,
SameSite=Strict) and, in every form and HTMX request, a token that is an HMAC of that cookie and
the session cookie under the server's secret key. A cross-site page can neither read the cookie
nor compute the token, and a token stops working when the session it was issued for ends.
Every web route is built with `web_router()`, whose guard checks the token on every
state-changing method, so no form can be added without the check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from finhub.identity.sessions import SESSION_COOKIE

CSRF_COOKIE = "fh_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# No inline script or style anywhere: every script and stylesheet is a file under /static.
# `blob:` for images and workers serves the QR scanner's camera frames and decoder worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; media-src 'self' blob:; "
    "manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=(), payment=()"),
]
# Pages that keep their own policy: the API's interactive docs (Swagger UI's inline script) and
# the card sandbox's 3-D Secure page, which stands in for the card issuer's own site.
OWN_POLICY_PREFIXES = ("/docs",)
OWN_POLICY_SUFFIXES = ("/3ds-challenge",)


class CsrfRejected(Exception):
    """A state-changing web request without a valid CSRF token."""


def csrf_nonce(request: Request) -> str:
    """The browser's CSRF cookie, or a new one the response will set (see `ensure_cookie`)."""
    nonce = request.cookies.get(CSRF_COOKIE) or request.scope.get("finhub.new_csrf")
    if nonce is None:
        nonce = secrets.token_urlsafe(32)
        request.scope["finhub.new_csrf"] = nonce
    return str(nonce)


def csrf_token(request: Request) -> str:
    """The token forms carry: bound to the CSRF cookie and the current session."""
    secret_key: str = request.app.state.container.secret_key
    session = request.cookies.get(SESSION_COOKIE, "")
    return _token(secret_key, csrf_nonce(request), session)


def _token(secret_key: str, nonce: str, session: str) -> str:
    message = f"csrf:{nonce}:{hashlib.sha256(session.encode()).hexdigest()}".encode()
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def csrf_guard(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    if CSRF_COOKIE not in request.cookies:
        raise CsrfRejected
    presented: str | None = None
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    presented = presented or request.headers.get(CSRF_HEADER)
    if presented is None or not hmac.compare_digest(presented, csrf_token(request)):
        raise CsrfRejected


def web_router(**kwargs: Any) -> APIRouter:
    """A router for web pages: not in the API schema, in the visitor's language, and
    CSRF-checked on every unsafe method."""
    from finhub.web.session import choose_locale

    return APIRouter(
        include_in_schema=False,
        dependencies=[Depends(choose_locale), Depends(csrf_guard)],
        **kwargs,
    )


class SecurityHeadersMiddleware:
    """Adds the security headers to every answer, and the CSRF cookie where one was issued."""

    def __init__(self, app: ASGIApp, *, cookie_secure: bool = True) -> None:
        self.app = app
        self.cookie_flags = "; Path=/; HttpOnly; SameSite=Strict" + (
            "; Secure" if cookie_secure else ""
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        own_policy = path.startswith(OWN_POLICY_PREFIXES) or path.endswith(OWN_POLICY_SUFFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name for name, _ in headers}
                for name, value in SECURITY_HEADERS:
                    if own_policy and name in (b"content-security-policy", b"x-frame-options"):
                        continue
                    if name not in present:
                        headers.append((name, value))
                nonce = scope.get("finhub.new_csrf")
                if nonce is not None:
                    cookie = f"{CSRF_COOKIE}={nonce}{self.cookie_flags}"
                    headers.append((b"set-cookie", cookie.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
