"""REST endpoints of the audit trail: a person's own security events and the staff search.

Staff reading the trail is itself recorded (`audit.searched`, `audit.viewed`), so those GETs
run in a write transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime

from finhub.api import ContainerDep, json_response
from finhub.audit import schemas, service
from finhub.audit.repository import EventFilter
from finhub.audit.service import AuditContext
from finhub.errors import Forbidden
from finhub.identity.principal import Access, Principal
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload

router = APIRouter(tags=["audit"])

PersonAccess = Access("user", "api_key", scopes=("audit:read",))
StaffAccess = Access("staff", staff_roles=("admin", "compliance"))

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {"description": "These credentials may not read this (problem+json)."},
    422: {"description": "Invalid query parameters (problem+json)."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No audit event has this id (problem+json)."}
}

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Cursor = Annotated[
    str | None,
    Query(max_length=64, description="The last event id of the previous page (`evt_…`)."),
]
ActionFilter = Annotated[
    str | None,
    Query(
        max_length=100,
        description="An action or a prefix of dotted segments: `auth` matches `auth.sign_in`.",
    ),
]
After = Annotated[
    AwareDatetime | None, Query(description="Only events at or after this moment (ISO 8601).")
]
Before = Annotated[
    AwareDatetime | None, Query(description="Only events before this moment (ISO 8601).")
]
IdFilter = Annotated[str | None, Query(max_length=64)]


def _person(principal: Principal) -> str:
    """The person whose events these are: the signed-in user, or a personal key's owner."""
    if principal.user_id is None:
        raise Forbidden(
            "An organisation's API key has no personal security events.",
            code="wrong_principal_type",
        )
    return principal.user_id


@router.get(
    "/v1/me/security-events",
    response_model=Page[schemas.SecurityEventOut],
    responses=ERRORS,
    summary="List my security events",
    description="Sign-ins, failed attempts, second-factor and key changes and other events "
    "about the caller, newest first. Filter by action (or its prefix) and time range.",
)
async def list_my_security_events(
    principal: Annotated[Principal, Depends(PersonAccess)],
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Cursor = None,
    action: ActionFilter = None,
    occurred_after: After = None,
    occurred_before: Before = None,
) -> Response:
    where = EventFilter(
        action=action, occurred_after=occurred_after, occurred_before=occurred_before
    )
    viewer = _person(principal)
    async with c.db.connection() as conn:
        rows = await service.security_events(
            conn, viewer, where, limit=limit + 1, starting_after=starting_after
        )
    payload = page_payload(
        rows, limit, lambda row: schemas.security_event_out(row, viewer), lambda row: row["id"]
    )
    return json_response(200, payload)


@router.get(
    "/v1/staff/audit-events",
    response_model=Page[schemas.AuditEventOut],
    responses=ERRORS,
    summary="Search the audit trail",
    description="Every recorded event, newest first (by `seq`). Filters combine with AND. "
    "For staff with the admin or compliance role; the search itself is recorded as "
    "`audit.searched`.",
)
async def search_audit_events(
    request: Request,
    principal: Annotated[Principal, Depends(StaffAccess)],
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Cursor = None,
    action: ActionFilter = None,
    actor_type: Annotated[
        str | None, Query(pattern="^(user|staff|api_key|system|anonymous)$")
    ] = None,
    actor_id: IdFilter = None,
    subject_user_id: IdFilter = None,
    organization_id: IdFilter = None,
    object_type: IdFilter = None,
    object_id: IdFilter = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    request_id: Annotated[str | None, Query(max_length=200)] = None,
    occurred_after: After = None,
    occurred_before: Before = None,
) -> Response:
    where = EventFilter(
        action=action,
        actor_type=actor_type,
        actor_id=actor_id,
        subject_user_id=subject_user_id,
        organization_id=organization_id,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        request_id=request_id,
        occurred_after=occurred_after,
        occurred_before=occurred_before,
    )
    context = AuditContext.from_request(request, principal)
    async with c.db.transaction() as conn:
        rows = await service.search_as_staff(
            conn, context, where, limit=limit + 1, starting_after=starting_after
        )
    payload = page_payload(rows, limit, schemas.audit_event_out, lambda row: row["id"])
    return json_response(200, payload)


@router.get(
    "/v1/staff/audit-events/{event_id}",
    response_model=schemas.AuditEventOut,
    responses={**ERRORS, **NOT_FOUND},
    summary="Get an audit event",
    description="One record with its place in the hash chain. For staff with the admin or "
    "compliance role; the viewing is recorded as `audit.viewed`.",
)
async def get_audit_event(
    request: Request,
    event_id: Annotated[str, Path(max_length=64, description="The event's id (`evt_…`).")],
    principal: Annotated[Principal, Depends(StaffAccess)],
    c: ContainerDep,
) -> Response:
    context = AuditContext.from_request(request, principal)
    async with c.db.transaction() as conn:
        row = await service.view_as_staff(conn, context, event_id)
    return json_response(200, schemas.audit_event_out(row))
