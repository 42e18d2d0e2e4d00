"""REST endpoints under `/v1/webhook-endpoints`: a person's webhook endpoints (their signing
secret is shown once, at creation and on each roll), the delivery log and replays."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from finhub.api import Container, ContainerDep, IdempotentDep, json_response
from finhub.audit.service import AuditContext
from finhub.errors import Forbidden
from finhub.identity.factors.crypto import Keyring
from finhub.identity.principal import Access, Principal
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload
from finhub.webhooks import schemas, service
from finhub.webhooks.repository import DeliveryFilter
from finhub.webhooks.sender import WebhookOutside
from finhub.webhooks.service import Caller
from finhub.webhooks.ssrf import EgressPolicy

WEBHOOKS_ACCESS = Access("user", "api_key", scopes=("webhooks:write",))
router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {"description": "Not a person's session or key with `webhooks:write` (problem+json)."},
    404: {"description": "No such endpoint or delivery of yours (problem+json)."},
    409: {"description": "The same Idempotency-Key is still being processed (problem+json)."},
    422: {
        "description": "Invalid request, or a URL that is not https or not public "
        "(`webhook_url_not_https`, `webhook_url_not_public`) (problem+json)."
    },
}

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
EndpointPath = Annotated[
    str, Path(max_length=40, description="The webhook endpoint's id (`whe_…`).")
]
DeliveryPath = Annotated[str, Path(max_length=40, description="The delivery's id (`whd_…`).")]


async def current_caller(
    request: Request, principal: Annotated[Principal, Depends(WEBHOOKS_ACCESS)]
) -> Caller:
    if principal.user_id is None:
        # Organisations get endpoints once their permissions cover webhooks.
        raise Forbidden(
            "Webhook endpoints need a person's credentials.", code="wrong_principal_type"
        )
    return Caller(
        owner=f"user:{principal.user_id}",
        user_id=principal.user_id,
        audit=AuditContext.from_request(request, principal),
    )


CallerDep = Annotated[Caller, Depends(current_caller)]


def outside(request: Request, c: Container) -> WebhookOutside:
    configured: WebhookOutside | None = getattr(request.app.state, "webhook_outside", None)
    return configured or WebhookOutside(EgressPolicy.for_settings(c.settings))


def keyring(c: Container) -> Keyring:
    return Keyring(c.secret_key, c.settings.retired_secret_keys)


class RollSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    previous_valid_for_seconds: int = Field(
        86_400,
        ge=0,
        le=7 * 86_400,
        description="How long the old secret keeps signing next to the new one (0: retire it "
        "at once, e.g. after a leak).",
    )


@router.post(
    "",
    status_code=201,
    response_model=schemas.EndpointOut,
    responses=ERRORS,
    summary="Create a webhook endpoint",
    description="Events of the types listed (`payment.completed`, `payment.*`, `*`) are POSTed "
    "to the URL, signed per the Standard Webhooks spec. The answer carries the signing secret "
    "(`whsec_…`) this once; an idempotent replay leaves it out. The URL must be https and "
    "resolve only to public addresses.",
)
async def create_endpoint(
    body: schemas.EndpointCreate,
    request: Request,
    caller: CallerDep,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        row, secret = await service.create_endpoint(
            conn,
            caller,
            body,
            keyring=keyring(c),
            egress=outside(request, c).egress,
            now=c.clock.now(),
        )
        payload = schemas.endpoint_out(row, secret=secret)
        return await idem.respond(conn, 201, payload, replay=schemas.endpoint_out(row))


@router.get(
    "",
    response_model=Page[schemas.EndpointOut],
    responses=ERRORS,
    summary="List webhook endpoints",
    description="Your endpoints, newest first.",
)
async def list_endpoints(
    caller: CallerDep,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    async with c.db.connection() as conn:
        rows = await service.list_endpoints(
            conn, caller, limit=limit, starting_after=starting_after
        )
    return json_response(
        200, page_payload(rows, limit, schemas.endpoint_out, lambda row: row["id"])
    )


@router.get(
    "/{endpoint_id}",
    response_model=schemas.EndpointOut,
    responses=ERRORS,
    summary="Get a webhook endpoint",
    description="The endpoint without its secret.",
)
async def get_endpoint(endpoint_id: EndpointPath, caller: CallerDep, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        row = await service.get_endpoint(conn, caller, endpoint_id)
    return json_response(200, schemas.endpoint_out(row))


@router.patch(
    "/{endpoint_id}",
    response_model=schemas.EndpointOut,
    responses=ERRORS,
    summary="Change a webhook endpoint",
    description="Change the URL (checked as at creation), the event types, the description, "
    "or turn it off and on (`enabled`). Deliveries of a disabled endpoint wait until it is "
    "enabled again.",
)
async def update_endpoint(
    endpoint_id: EndpointPath,
    patch: schemas.EndpointUpdate,
    request: Request,
    caller: CallerDep,
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        row = await service.update_endpoint(
            conn, caller, endpoint_id, patch, egress=outside(request, c).egress, now=c.clock.now()
        )
    return json_response(200, schemas.endpoint_out(row))


@router.delete(
    "/{endpoint_id}",
    response_model=schemas.DeletedOut,
    responses=ERRORS,
    summary="Delete a webhook endpoint",
    description="Removes the endpoint with its deliveries and their log; nothing more is sent.",
)
async def delete_endpoint(
    endpoint_id: EndpointPath, caller: CallerDep, c: ContainerDep
) -> Response:
    async with c.db.transaction() as conn:
        await service.delete_endpoint(conn, caller, endpoint_id)
    return json_response(200, {"object": "webhook_endpoint", "id": endpoint_id, "deleted": True})


@router.post(
    "/{endpoint_id}/roll-secret",
    response_model=schemas.EndpointOut,
    responses=ERRORS,
    summary="Roll the signing secret",
    description="A new secret, shown this once. The old one keeps signing next to it "
    "(`webhook-signature` then carries two `v1,…` signatures) for "
    "`previous_valid_for_seconds`, 24 hours unless told otherwise.",
)
async def roll_secret(
    endpoint_id: EndpointPath,
    caller: CallerDep,
    c: ContainerDep,
    idem: IdempotentDep,
    body: Annotated[RollSecret | None, Body()] = None,
) -> Response:
    overlap = timedelta(seconds=(body or RollSecret()).previous_valid_for_seconds)
    async with c.db.transaction() as conn:
        row, secret = await service.roll_secret(
            conn, caller, endpoint_id, keyring=keyring(c), previous_valid_for=overlap,
            now=c.clock.now(),
        )  # fmt: skip
        payload = schemas.endpoint_out(row, secret=secret)
        return await idem.respond(conn, 200, payload, replay=schemas.endpoint_out(row))


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=Page[schemas.DeliveryOut],
    responses=ERRORS,
    summary="The delivery log of an endpoint",
    description="Deliveries newest first, each with its attempts (status code, duration, "
    "error, the start of the response). Filter by `status` and `event_type`.",
)
async def list_deliveries(
    endpoint_id: EndpointPath,
    caller: CallerDep,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(pattern="^(pending|succeeded|failed)$")] = None,
    event_type: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    async with c.db.connection() as conn:
        deliveries = await service.list_deliveries(
            conn,
            caller,
            endpoint_id,
            DeliveryFilter(status=status, event_type=event_type),
            limit=limit,
            starting_after=starting_after,
        )
    return json_response(
        200, page_payload(deliveries, limit, lambda item: item, lambda item: item["id"])
    )


@router.get(
    "/{endpoint_id}/deliveries/{delivery_id}",
    response_model=schemas.DeliveryOut,
    responses=ERRORS,
    summary="Get a delivery with its attempts",
)
async def get_delivery(
    endpoint_id: EndpointPath, delivery_id: DeliveryPath, caller: CallerDep, c: ContainerDep
) -> Response:
    async with c.db.connection() as conn:
        delivery = await service.get_delivery(conn, caller, endpoint_id, delivery_id)
    return json_response(200, delivery)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/replay",
    response_model=schemas.DeliveryOut,
    responses=ERRORS,
    summary="Send a delivery again now",
    description="One more attempt right away, with the same `webhook-id` (so the receiver "
    "can tell it is the same message) and a fresh timestamp and signature. The answer shows "
    "the delivery with the new attempt; if it fails, the usual retries continue.",
)
async def replay_delivery(
    endpoint_id: EndpointPath,
    delivery_id: DeliveryPath,
    request: Request,
    caller: CallerDep,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.connection() as conn:
        await service.get_delivery(conn, caller, endpoint_id, delivery_id)
    sender = outside(request, c).sender(c.db, c.clock, keyring(c))
    await sender.attempt_now(delivery_id)
    async with c.db.transaction() as conn:
        delivery = await service.get_delivery(conn, caller, endpoint_id, delivery_id)
        return await idem.respond(conn, 200, delivery)
