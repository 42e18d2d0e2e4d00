"""Shared API plumbing: the service container, authentication, idempotency and problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from finhub.errors import FinhubError, Unauthorized
from finhub.kit import idempotency
from finhub.kit.auth import key_matches
from finhub.kit.clock import Clock
from finhub.kit.db import Database
from finhub.kit.jsonutil import dumps
from finhub.ledger.batcher import TransferBatcher
from finhub.ledger.service import LedgerService

PROBLEM_JSON = "application/problem+json"


@dataclass
class Container:
    """Everything a request handler needs, built once per process by the app factory."""

    db: Database
    clock: Clock
    ledger: LedgerService
    batcher: TransferBatcher
    admin_key_hash: str | None


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "admin" until user identities exist
    id: str


# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread
# pool, which costs far more than the work they do.
async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def require_admin(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer …`; checked once per request.

    Headers are read from the request rather than declared as parameters: each declared
    parameter costs FastAPI work on every request, and the OpenAPI document describes the
    scheme once (see `finhub.app`).
    """
    # Cached in the request's own scope (request.state can be shared lifespan state).
    known: Principal | None = request.scope.get("finhub.principal")
    if known is not None:
        return known
    authorization = request.headers.get("authorization")
    if authorization is None or not authorization.startswith("Bearer "):
        raise Unauthorized("Send the admin API key as `Authorization: Bearer fh_admin_…`")
    presented = authorization.removeprefix("Bearer ").strip()
    expected = request.app.state.container.admin_key_hash
    if expected is None or not key_matches(presented, expected):
        raise Unauthorized("The API key is not valid", code="invalid_api_key")
    principal = Principal(kind="admin", id="admin")
    request.scope["finhub.principal"] = principal
    return principal


def json_response(status: int, payload: Any) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json")


def problem_response(error: FinhubError, instance: str | None = None) -> Response:
    body = dumps(error.to_problem(instance))
    return Response(body, status_code=error.status, media_type=PROBLEM_JSON)


class Idempotent:
    """The claimed `Idempotency-Key` of this request, if the client sent one."""

    def __init__(self, claim: idempotency.IdempotencyClaim | None) -> None:
        self.claim = claim

    async def respond(self, conn: Any, status: int, payload: Any) -> Response:
        """Render the response and, inside the caller's transaction, store it for replays."""
        body = dumps(payload)
        if self.claim is not None:
            await self.claim.complete(conn, status, body)
        return Response(body, status_code=status, media_type="application/json")


async def idempotent(request: Request) -> AsyncIterator[Idempotent]:
    """Claims the request's `Idempotency-Key` (documented on every POST by `finhub.app`)."""
    idempotency_key = request.headers.get(idempotency.HEADER)
    container: Container = request.app.state.container
    principal = await require_admin(request)
    if idempotency_key is None:
        yield Idempotent(None)
        return
    claim = await idempotency.claim(
        container.db,
        principal=f"{principal.kind}:{principal.id}",
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        body=await request.body(),
    )
    try:
        yield Idempotent(claim)
    except FinhubError as error:
        if not claim.completed and error.status < 500:
            body = dumps(error.to_problem(request.url.path))
            await idempotency.store_error(container.db, claim, error.status, body)
        elif not claim.completed:
            await idempotency.release(container.db, claim)
        raise
    except BaseException:
        if not claim.completed:
            await idempotency.release(container.db, claim)
        raise
    else:
        # Nothing stored: the endpoint never ran (FastAPI reports a body that fails validation
        # after its dependencies have exited) and the key must stay usable.
        if not claim.completed:
            await idempotency.release(container.db, claim)


IdempotentDep = Annotated[Idempotent, Depends(idempotent)]
