"""Shared API plumbing: the service container, idempotency and problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from finhub.config import Settings
from finhub.errors import FinhubError, TooManyAttempts
from finhub.identity.principal import authenticate
from finhub.kit import idempotency
from finhub.kit.clock import Clock
from finhub.kit.db import Database
from finhub.kit.jsonutil import dumps
from finhub.kit.throttle import Throttle
from finhub.ledger.batcher import TransferBatcher
from finhub.ledger.service import LedgerService
from finhub.notifications.mail import Mailer
from finhub.payments.transfers.batcher import TransferGroupCommit

PROBLEM_JSON = "application/problem+json"


@dataclass
class Container:
    """Everything a request handler needs, built once per process by the app factory."""

    db: Database
    clock: Clock
    settings: Settings
    secret_key: str
    ledger: LedgerService
    batcher: TransferBatcher
    payments: TransferGroupCommit  # the P2P group commit
    mailer: Mailer
    throttle: Throttle


# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread
# pool, which costs far more than the work they do.
async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def json_response(status: int, payload: Any) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json")


def problem_response(error: FinhubError, instance: str | None = None) -> Response:
    body = dumps(error.to_problem(instance))
    headers = None
    if isinstance(error, TooManyAttempts):
        headers = {"Retry-After": str(error.retry_after)}
    return Response(body, status_code=error.status, media_type=PROBLEM_JSON, headers=headers)


class Idempotent:
    """The claimed `Idempotency-Key` of this request, if the client sent one."""

    def __init__(self, claim: idempotency.IdempotencyClaim | None) -> None:
        self.claim = claim

    async def respond(
        self, conn: Any, status: int, payload: Any, *, replay: Any | None = None
    ) -> Response:
        """Render the response and, inside the caller's transaction, store it for replays.

        `replay` is what a replay answers instead of `payload` when the response holds a
        secret shown once (an API key, a TOTP seed, recovery codes): finhub keeps no usable
        copy of a secret, not even in the idempotency store."""
        body = dumps(payload)
        if self.claim is not None:
            stored = body if replay is None else dumps(replay)
            await self.claim.complete(conn, status, stored)
        return Response(body, status_code=status, media_type="application/json")


async def idempotent(request: Request) -> AsyncIterator[Idempotent]:
    """Claims the request's `Idempotency-Key` (documented on every POST by `finhub.app`)."""
    idempotency_key = request.headers.get(idempotency.HEADER)
    container: Container = request.app.state.container
    principal = await authenticate(request)
    if idempotency_key is None:
        yield Idempotent(None)
        return
    claim = await idempotency.claim(
        container.db,
        principal=principal.owner,
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        body=await request.body(),
    )
    try:
        yield Idempotent(claim)
    except FinhubError as error:
        if not claim.completed and idempotency.kept_for_replay(error):
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


async def deferred_idempotency_key(request: Request) -> idempotency.DeferredKey | None:
    """The request's `Idempotency-Key` for an endpoint that claims it together with its work
    (a group commit), so the request costs no commit of its own first. Documented on every
    POST like `idempotent`."""
    idempotency_key = request.headers.get(idempotency.HEADER)
    if idempotency_key is None:
        return None
    principal = await authenticate(request)
    return idempotency.DeferredKey.of(
        principal=principal.owner,
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        body=await request.body(),
    )


DeferredKeyDep = Annotated[idempotency.DeferredKey | None, Depends(deferred_idempotency_key)]
