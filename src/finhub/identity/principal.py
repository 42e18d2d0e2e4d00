"""The caller of a request and what an endpoint accepts (`Access`).

Every `/v1` endpoint except the sign-in family declares an `Access`: which principal kinds it
accepts (people, staff, API keys), the scopes an API key needs, the staff roles, and whether a
fresh second factor is required. The OpenAPI document shows each endpoint's access (see
`finhub.app`), and the authorisation tests walk every route through it.

Object-level checks (a person sees only their own objects, a member only their organisation's)
live in each module's repository queries: those filter by the principal, so another owner's id
answers 404 exactly like an id that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from fastapi import Request

from finhub.errors import FinhubError, Forbidden, Unauthorized
from finhub.identity import sessions

PrincipalKind = Literal["user", "staff", "api_key"]
STAFF_ROLES = ("support", "compliance", "operations", "admin")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_KEY_PREFIXES = ("fh_live_", "fh_test_")
SCOPE_KEY = "finhub.principal"
MONEY_SCOPES = frozenset({"payments:write", "wallets:write"})


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    id: str  # usr_…, stf_… or key_…
    user_id: str | None = None  # the person: a user session, or the owner of a personal key
    staff_id: str | None = None
    organization_id: str | None = None  # the owner of an organisation's API key
    staff_roles: frozenset[str] = frozenset()
    scopes: frozenset[str] | None = None  # None: not scoped (sessions)
    session_id: str | None = None
    aal: int = 1
    stepped_up_at: datetime | None = None
    live_mode: bool = True
    ip: str | None = field(default=None, compare=False)

    @property
    def owner(self) -> str:
        """Whose resources this caller acts on; idempotency keys are kept per owner."""
        if self.organization_id is not None:
            return f"org:{self.organization_id}"
        if self.staff_id is not None:
            return f"staff:{self.staff_id}"
        return f"user:{self.user_id}"

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


class StepUpRequired(FinhubError):
    status = 403
    code = "step_up_required"
    title = "A fresh second factor is needed"


@dataclass(frozen=True)
class Access:
    """A FastAPI dependency that authenticates the caller and checks what the endpoint accepts.

    `Access("user", "api_key", scopes=("profile:read",))` lets a person's session or an API
    key with that scope in; `Access("staff", staff_roles=("admin",))` only admin staff.
    """

    kinds: tuple[PrincipalKind, ...]
    scopes: tuple[str, ...] = ()
    staff_roles: tuple[str, ...] = ()
    step_up: bool = False

    def __init__(
        self,
        *kinds: PrincipalKind,
        scopes: tuple[str, ...] = (),
        staff_roles: tuple[str, ...] = (),
        step_up: bool = False,
    ) -> None:
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "scopes", scopes)
        object.__setattr__(self, "staff_roles", staff_roles)
        object.__setattr__(self, "step_up", step_up)

    async def __call__(self, request: Request) -> Principal:
        principal = await authenticate(request)
        if principal.kind not in self.kinds:
            raise Forbidden(
                f"This endpoint is for {', '.join(self.kinds)} credentials.",
                code="wrong_principal_type",
            )
        missing = [scope for scope in self.scopes if not principal.has_scope(scope)]
        if missing:
            raise Forbidden(
                f"The API key lacks the scope {', '.join(missing)}.",
                code="insufficient_scope",
                required_scopes=missing,
            )
        if not principal.live_mode and MONEY_SCOPES.intersection(self.scopes):
            settings = request.app.state.container.settings
            if settings.environment == "production":
                raise Forbidden(
                    "Test-mode keys can't move money in production: finhub has no separate "
                    "sandbox ledger yet. Use a live key, or a non-production installation.",
                    code="test_mode_key_in_production",
                )
        if self.staff_roles and not principal.staff_roles.intersection(self.staff_roles):
            raise Forbidden(
                f"This needs one of the staff roles {', '.join(self.staff_roles)}.",
                code="permission_denied",
            )
        if self.step_up:
            require_fresh_second_factor(request, principal)
        return principal


def require_fresh_second_factor(request: Request, principal: Principal) -> None:
    """Sensitive actions need a second factor (or the payment PIN) proven in the last
    `step_up_minutes`, on this session (`POST /v1/auth/step-up`)."""
    settings = request.app.state.container.settings
    now = request.app.state.container.clock.now()
    fresh_after = now - timedelta(minutes=settings.step_up_minutes)
    if principal.stepped_up_at is None or principal.stepped_up_at < fresh_after:
        raise StepUpRequired(
            "Confirm it's you with a second factor or your payment PIN "
            "(POST /v1/auth/step-up), then retry.",
            methods=["totp", "passkey", "recovery_code", "pin"],
        )


async def authenticate(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer …` or the session cookie; once per request."""
    known: Principal | None = request.scope.get(SCOPE_KEY)
    if known is not None:
        return known
    principal = await _resolve(request)
    request.scope[SCOPE_KEY] = principal
    return principal


async def optional_principal(request: Request) -> Principal | None:
    """The caller if credentials were sent (public endpoints that behave better signed in)."""
    if "authorization" not in request.headers and sessions.SESSION_COOKIE not in request.cookies:
        return None
    return await authenticate(request)


async def _resolve(request: Request) -> Principal:
    container = request.app.state.container
    now = container.clock.now()
    ip = request.client.host if request.client else None
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Send `Authorization: Bearer <token>`.", code="invalid_token")
        if token.startswith(API_KEY_PREFIXES):
            from finhub.identity.api_keys.service import authenticate_api_key

            async with container.db.connection() as conn:
                key_principal = await authenticate_api_key(conn, token, ip=ip, now=now)
            if key_principal is None:
                raise Unauthorized("The API key is not valid.", code="invalid_api_key")
            return key_principal
        return await _session_principal(request, token, ip, now, via_cookie=False)
    cookie = request.cookies.get(sessions.SESSION_COOKIE)
    if cookie:
        return await _session_principal(request, cookie, ip, now, via_cookie=True)
    raise Unauthorized("Sign in first, or send an API key as `Authorization: Bearer …`.")


async def _session_principal(
    request: Request, token: str, ip: str | None, now: datetime, *, via_cookie: bool
) -> Principal:
    container = request.app.state.container
    async with container.db.connection() as conn:
        row = await sessions.find_live_session(conn, token, now)
        if row is None:
            raise Unauthorized("The session has ended; sign in again.", code="invalid_session")
        await sessions.touch(conn, container.settings, row, now)
    if via_cookie and request.method in UNSAFE_METHODS:
        presented = request.headers.get(sessions.CSRF_HEADER)
        if presented is None or not _same(presented, row["csrf_token"]):
            raise Forbidden(
                "Send the session's CSRF token in `X-CSRF-Token`.", code="csrf_token_invalid"
            )
    if row["user_id"] is not None:
        if row["user_status"] != "active":
            raise Unauthorized("The account is not active.", code="invalid_session")
        return Principal(
            kind="user",
            id=row["user_id"],
            user_id=row["user_id"],
            session_id=row["id"],
            aal=row["aal"],
            stepped_up_at=row["stepped_up_at"],
            ip=ip,
        )
    if row["staff_status"] != "active":
        raise Unauthorized("The staff account is disabled.", code="invalid_session")
    return Principal(
        kind="staff",
        id=row["staff_id"],
        staff_id=row["staff_id"],
        staff_roles=frozenset(row["staff_roles"]),
        session_id=row["id"],
        aal=row["aal"],
        stepped_up_at=row["stepped_up_at"],
        ip=ip,
    )


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())
