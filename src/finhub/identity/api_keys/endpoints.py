"""REST endpoints of API keys under `/v1/api-keys`.

Keys are managed by people from a session, never by another key: a leaked key must not be able
to mint or keep itself alive. Creating and rolling a key needs a fresh second factor (step-up).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from finhub.api import ContainerDep, Idempotent, IdempotentDep, json_response
from finhub.audit.service import AuditContext
from finhub.identity.api_keys import schemas, service
from finhub.identity.api_keys.models import IssuedKey, Mode
from finhub.identity.principal import Access, Principal
from finhub.kit.db.engine import Connection
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])

PersonDep = Annotated[Principal, Depends(Access("user"))]
SteppedUpPersonDep = Annotated[Principal, Depends(Access("user", step_up=True))]
KeyPath = Annotated[
    str, Path(max_length=64, description="The key's id (`key_…`), never its secret.")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]

ERRORS: dict[int, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {
        "description": "Not a person's session (`wrong_principal_type`), no fresh second "
        "factor (`step_up_required`), or no `api_keys:manage` permission in the organisation "
        "(problem+json)."
    },
    404: {"description": "No such key or organisation for this caller (problem+json)."},
    409: {"description": "The key is revoked or expired (problem+json)."},
    422: {
        "description": "Invalid request: e.g. `unknown_scope`, `invalid_ip_range`, "
        "`invalid_expiry` (problem+json)."
    },
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers an operation can give, for its OpenAPI `responses`."""
    return {status: ERRORS[status] for status in statuses}


@router.post(
    "",
    status_code=201,
    response_model=schemas.IssuedApiKeyOut,
    responses=_errors(401, 403, 404, 422),
    summary="Create an API key",
    description="Issue a key for yourself, or for an organisation with `organization_id` (needs "
    "the `api_keys:manage` permission there). Needs a second factor proven in the last few "
    "minutes (`POST /v1/auth/step-up`). The secret is in this response only; finhub keeps its "
    "hash. Use it as `Authorization: Bearer fh_live_…`.",
)
async def create_api_key(
    body: schemas.ApiKeyCreate,
    request: Request,
    principal: SteppedUpPersonDep,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    now = c.clock.now()
    audit = AuditContext.from_request(request, principal)
    async with c.db.transaction() as conn:
        issued = await service.create_key(conn, audit, principal, body.to_new_key(), now=now)
        return await _respond_once(conn, idem, 201, issued, now)


@router.get(
    "",
    response_model=Page[schemas.ApiKeyOut],
    responses=_errors(401, 403, 404, 422),
    summary="List API keys",
    description="Your own keys, or an organisation's with `organization_id` (needs "
    "`api_keys:manage`), newest first, revoked and expired ones included. Secrets are never "
    "shown again; `redacted_secret` tells the keys apart.",
)
async def list_api_keys(
    principal: PersonDep,
    c: ContainerDep,
    organization_id: Annotated[
        str | None, Query(max_length=64, description="An organisation's keys.")
    ] = None,
    mode: Annotated[Mode | None, Query(description="Only `live` or only `test` keys.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Annotated[
        str | None, Query(max_length=64, description="The last key id of the previous page.")
    ] = None,
) -> Response:
    async with c.db.connection() as conn:
        keys = await service.list_keys(
            conn,
            principal,
            organization_id=organization_id,
            mode=mode,
            limit=limit + 1,
            starting_after=starting_after,
        )
    now = c.clock.now()
    return json_response(
        200, page_payload(keys, limit, lambda key: schemas.key_out(key, now), lambda k: k.id)
    )


@router.get(
    "/{key_id}",
    response_model=schemas.ApiKeyOut,
    responses=_errors(401, 403, 404),
    summary="Get an API key",
    description="One of your keys, or of an organisation whose keys you manage.",
)
async def get_api_key(key_id: KeyPath, principal: PersonDep, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        key = await service.get_key(conn, principal, key_id)
    return json_response(200, schemas.key_out(key, c.clock.now()))


@router.post(
    "/{key_id}/roll",
    response_model=schemas.IssuedApiKeyOut,
    responses=_errors(401, 403, 404, 409, 422),
    summary="Roll an API key's secret",
    description="Replace the secret, keeping the key's id, scopes and settings. The new secret "
    "is in this response only. The old secret keeps working for `expire_old_in_seconds` (up "
    "to 7 days, default 0: it stops at once) so clients can switch over. Needs a fresh second "
    "factor.",
)
async def roll_api_key(
    key_id: KeyPath,
    request: Request,
    principal: SteppedUpPersonDep,
    c: ContainerDep,
    idem: IdempotentDep,
    body: schemas.ApiKeyRoll | None = None,
) -> Response:
    grace = timedelta(seconds=body.expire_old_in_seconds if body else 0)
    now = c.clock.now()
    audit = AuditContext.from_request(request, principal)
    async with c.db.transaction() as conn:
        issued = await service.roll_key(
            conn, audit, principal, key_id, expire_old_in=grace, now=now
        )
        return await _respond_once(conn, idem, 200, issued, now)


@router.post(
    "/{key_id}/revoke",
    response_model=schemas.ApiKeyOut,
    responses=_errors(401, 403, 404),
    summary="Revoke an API key",
    description="The key (and a rolled secret still in its grace period) stops working at "
    "once. Revoking a revoked key changes nothing. No second factor is needed: stopping a "
    "leaked key must be quick.",
)
async def revoke_api_key(
    key_id: KeyPath,
    request: Request,
    principal: PersonDep,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    now = c.clock.now()
    audit = AuditContext.from_request(request, principal)
    async with c.db.transaction() as conn:
        key = await service.revoke_key(conn, audit, principal, key_id, now=now)
        return await idem.respond(conn, 200, schemas.key_out(key, now))


async def _respond_once(
    conn: Connection, idem: Idempotent, status: int, issued: IssuedKey, now: datetime
) -> Response:
    """Answer with the secret; a replay of the `Idempotency-Key` answers without it."""
    return await idem.respond(
        conn,
        status,
        schemas.issued_key_out(issued, now, with_secret=True),
        replay=schemas.issued_key_out(issued, now, with_secret=False),
    )
