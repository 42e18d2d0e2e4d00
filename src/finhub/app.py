"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import psycopg
import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from finhub import __version__
from finhub.api import (
    PROBLEM_JSON,
    Container,
    deferred_idempotency_key,
    idempotent,
    json_response,
    problem_response,
)
from finhub.audit.endpoints import router as audit_router
from finhub.config import Settings
from finhub.errors import FinhubError
from finhub.fx.endpoints import router as fx_router
from finhub.helpdesk.endpoints import router as helpdesk_router
from finhub.identity.api_keys.endpoints import router as api_keys_router
from finhub.identity.endpoints import router as auth_router
from finhub.identity.factors.endpoints import router as factors_router
from finhub.identity.me_endpoints import router as me_router
from finhub.identity.principal import Access
from finhub.identity.staff.endpoints import router as staff_router
from finhub.kit.clock import Clock, SystemClock
from finhub.kit.db import Database
from finhub.kit.heap import settle_after_startup
from finhub.kit.idempotency import IdempotentReplay
from finhub.kit.jsonutil import dumps
from finhub.kit.logging import get_logger
from finhub.kit.money import MAX_AMOUNT
from finhub.kit.observability import RequestContextMiddleware, metrics_payload
from finhub.kit.routing import RouteIndex
from finhub.kit.secrets import load_or_create_secret_key
from finhub.kit.throttle import Throttle
from finhub.ledger.batcher import TransferBatcher
from finhub.ledger.endpoints import router as ledger_router
from finhub.ledger.service import LedgerService
from finhub.notifications.endpoints import router as notifications_router
from finhub.notifications.mail import Mailer
from finhub.organizations.endpoints import router as organizations_router
from finhub.payments.payouts.endpoints import router as payouts_router
from finhub.payments.rules_endpoints import router as rules_router
from finhub.payments.scheduled.endpoints import router as scheduled_router
from finhub.payments.topups.endpoints import router as topups_router
from finhub.payments.transfers.batcher import TransferGroupCommit
from finhub.payments.transfers.endpoints import router as transfers_router
from finhub.wallets.endpoints import router as wallets_router
from finhub.web import install as install_web
from finhub.webhooks.endpoints import router as webhooks_router

log = get_logger(__name__)

DESCRIPTION = """
finhub is a self-hostable financial hub on a double-entry ledger.

* Amounts are integers in the asset's minor unit (cents, satoshi, wei), up to 2^128 - 1.
* Every POST accepts an `Idempotency-Key` header: a retry returns the first response.
* Errors are RFC 9457 `application/problem+json` with a stable `code`.
* Lists are cursor-paged with `limit`, `starting_after` and `has_more`.
* Authenticate with a session (`Authorization: Bearer fhs_…` from `POST /v1/auth/sign-in`, or
  the session cookie plus `X-CSRF-Token` in a browser) or an API key
  (`Authorization: Bearer fh_live_…`). Each operation lists the credentials it accepts under
  `x-finhub-access`.
"""


def create_app(
    settings: Settings,
    database_url: str,
    *,
    clock: Clock | None = None,
    background: Any | None = None,
    settle_heap: bool = False,
) -> FastAPI:
    """Build the app. `background` is an async context manager factory run for the app's life
    (the embedded mode's in-process worker). `settle_heap` freezes the start-up heap out of the
    garbage collector's passes (`kit.heap`): for a serving process, not for tests that build
    many apps in one process."""
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        await db.open()
        ledger = LedgerService(clock)
        batcher = TransferBatcher(db, ledger, max_batch=settings.ledger_batch_max)
        payments = TransferGroupCommit(db, ledger, max_group=settings.p2p_group_max)
        mailer = Mailer(db, settings, clock=clock)
        app.state.container = Container(
            db=db,
            clock=clock,
            settings=settings,
            secret_key=load_or_create_secret_key(settings.data_dir, settings.secret_key),
            ledger=ledger,
            batcher=batcher,
            payments=payments,
            mailer=mailer,
            throttle=Throttle(db),
        )
        batcher.start()
        payments.start()
        if settle_heap:
            settle_after_startup()
        try:
            if background is not None:
                async with background(app.state.container):
                    yield
            else:
                yield
        finally:
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(batcher.stop(), timeout=10)
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(payments.stop(), timeout=10)
            await mailer.close()
            await db.close()

    app = FastAPI(
        title="finhub",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.openapi = lambda: _openapi_with_exact_bounds(app)  # type: ignore[method-assign]
    app.add_middleware(RequestContextMiddleware)
    _install_error_handlers(app)
    _install_operational_routes(app)
    for router in (
        auth_router,
        factors_router,
        me_router,
        api_keys_router,
        organizations_router,
        notifications_router,
        helpdesk_router,
        audit_router,
        staff_router,
        wallets_router,
        # Fixed paths under /v1/payments before any /v1/payments/{id} of the payment kinds.
        scheduled_router,
        rules_router,
        topups_router,
        transfers_router,
        payouts_router,
        fx_router,
        webhooks_router,
        ledger_router,
    ):
        app.include_router(router)
    install_web(app, settings)
    RouteIndex.install(app.router)
    return app


def _openapi_with_exact_bounds(app: FastAPI) -> dict[str, Any]:
    """FastAPI's OpenAPI model stores numeric bounds as floats, which turns 2^128 - 1 into
    3.4e38; put the exact integers back so clients see the real limits."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        _describe_headers(schema, app)
        app.openapi_schema = _exact_bounds(schema)
    return app.openapi_schema


IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes the POST safe to retry: a replay returns the first response; the "
    "same key with another body is a 422, and a 409 while the first is still running.",
    "schema": {"type": "string", "maxLength": 255},
}


def _describe_headers(schema: dict[str, Any], app: FastAPI) -> None:
    """Document credentials and `Idempotency-Key` per operation from the route's dependencies
    (the code reads both headers from the request directly, which is cheaper than declaring
    them as parameters on every endpoint)."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        calls = list(_dependency_calls(route.dependant))
        access = next((call for call in calls if isinstance(call, Access)), None)
        for method in route.methods:
            operation = schema["paths"][route.path_format].get(method.lower())
            if operation is None:
                continue
            if access is not None:
                operation["security"] = [{"sessionToken": []}, {"sessionCookie": []}]
                if "api_key" in access.kinds:
                    operation["security"].append({"apiKey": []})
                operation["x-finhub-access"] = {
                    "principals": list(access.kinds),
                    "scopes": list(access.scopes),
                    "staff_roles": list(access.staff_roles),
                    "step_up": access.step_up,
                }
            elif route.path.startswith("/v1/"):
                operation["security"] = []
            if idempotent in calls or deferred_idempotency_key in calls:
                operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)


SECURITY_SCHEMES = {
    "sessionToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A session's access token (`fhs_…`) from `POST /v1/auth/sign-in`.",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "fh_session",
        "description": "The browser session cookie; state-changing requests also need the "
        "session's `X-CSRF-Token` header.",
    },
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`fh_live_…` or `fh_test_…`) with the scopes the operation "
        "lists.",
    },
}


def _dependency_calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _dependency_calls(dependency)


def _exact_bounds(node: Any) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in BOUND_KEYS and isinstance(value, float) and value.is_integer():
                node[key] = MAX_AMOUNT if value == float(MAX_AMOUNT) else int(value)
            else:
                _exact_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _exact_bounds(item)
    return node


BOUND_KEYS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FinhubError)
    async def finhub_error(request: Request, error: FinhubError) -> Response:
        return problem_response(error, request.url.path)

    @app.exception_handler(IdempotentReplay)
    async def replay(request: Request, signal: IdempotentReplay) -> Response:
        stored = signal.response
        media = PROBLEM_JSON if stored.status >= 400 else "application/json"
        return Response(
            stored.body,
            status_code=stored.status,
            media_type=media,
            headers={"Idempotent-Replayed": "true"},
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        problems = [
            {
                "location": [str(part) for part in item.get("loc", ())],
                "message": item.get("msg", ""),
                "type": item.get("type", ""),
            }
            for item in error.errors()
        ]
        problem = FinhubError(
            "The request is not valid; see `errors` for each field.",
            code="validation_error",
            status=422,
            title="Invalid request",
            errors=problems,
        )
        return Response(dumps(problem.to_problem(request.url.path)), 422, media_type=PROBLEM_JSON)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        problem = FinhubError(
            str(error.detail),
            code=codes.get(error.status_code, "http_error"),
            status=error.status_code,
            title=str(error.detail),
        )
        return problem_response(problem, request.url.path)

    @app.exception_handler(psycopg.DataError)
    async def unstorable_value(request: Request, error: psycopg.DataError) -> Response:
        # e.g. a NUL character in a query parameter: the value can't be stored or compared.
        log.warning("data error", path=request.url.path, error=str(error))
        problem = FinhubError(
            "A value in the request can't be processed (for example a NUL character).",
            code="invalid_parameter",
            status=422,
            title="Invalid parameter",
        )
        return problem_response(problem, request.url.path)


def _install_operational_routes(app: FastAPI) -> None:
    app.mount("/docs/static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="finhub API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process is up")
    async def healthz() -> Response:
        return json_response(200, {"status": "ok"})

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: the database answers",
        responses={503: {"description": "The database is unreachable (problem+json)."}},
    )
    async def readyz(request: Request) -> Response:
        container: Container = request.app.state.container
        try:
            async with container.db.connection() as conn:
                await conn.execute("SELECT 1")
        except Exception as error:
            problem = FinhubError(str(error), code="not_ready", status=503, title="Not ready")
            return problem_response(problem, "/readyz")
        return json_response(200, {"status": "ready"})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        payload, content_type = metrics_payload()
        return Response(payload, media_type=content_type)
