"""REST endpoints of support tickets: a person's own under `/v1/support/tickets`, and the
support queue for staff under `/v1/staff/support-tickets`. Every staff action, reads included,
is audited: a ticket can hold anything a person chose to tell support."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from finhub.api import ContainerDep, IdempotentDep, json_response
from finhub.audit.service import AuditContext, record
from finhub.errors import Forbidden
from finhub.helpdesk import repository, schemas, service
from finhub.helpdesk.models import Ticket
from finhub.identity.principal import Access, Principal
from finhub.kit.db.engine import Connection
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload

router = APIRouter(tags=["support"])

Person = Annotated[Principal, Depends(Access("user"))]
SupportStaff = Annotated[
    Principal, Depends(Access("staff", staff_roles=("support", "operations", "admin")))
]
TicketPath = Annotated[str, Path(description="The ticket's id (`tkt_…`).", max_length=64)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Cursor = Annotated[
    str | None, Query(max_length=64, description="The last id of the previous page.")
]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {"description": "These credentials may not do this (problem+json)."},
    422: {"description": "Invalid request (problem+json)."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "`support_ticket_not_found` (problem+json)."}
}
CLOSED: dict[int | str, dict[str, Any]] = {
    409: {"description": "`support_ticket_closed` (problem+json)."}
}
TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {"description": "Ten tickets were opened in the last day (problem+json, Retry-After)."}
}


def _person(principal: Principal) -> str:
    if principal.user_id is None:
        raise Forbidden("Support tickets belong to a person.", code="wrong_principal_type")
    return principal.user_id


def _staff(principal: Principal) -> str:
    assert principal.staff_id is not None  # Access("staff") let only staff in
    return principal.staff_id


async def _audit(
    conn: Connection,
    request: Request,
    principal: Principal,
    action: str,
    ticket: Ticket,
    details: dict[str, Any] | None = None,
) -> None:
    """What happened to which ticket; never the text of a message."""
    await record(
        conn,
        AuditContext.from_request(request, principal),
        action,
        subject_user_id=ticket.user_id,
        object_type="support_ticket",
        object_id=ticket.id,
        after={"status": ticket.status, "category": ticket.category},
        details=details,
    )


# --- a person's tickets -------------------------------------------------------------------------


@router.post(
    "/v1/support/tickets",
    status_code=201,
    response_model=schemas.ThreadOut,
    responses={**ERRORS, **TOO_MANY},
    summary="Open a support ticket",
    description="Asks finhub's support a question; the message starts the ticket's thread and "
    "the ticket is `open` until support replies. Up to ten tickets a day.",
)
async def open_ticket(
    body: schemas.TicketIn,
    request: Request,
    principal: Person,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    new = service.NewTicket(subject=body.subject, category=body.category, message=body.message)
    async with c.db.transaction() as conn:
        thread = await service.open_ticket(conn, c.clock.now(), _person(principal), new)
        await _audit(conn, request, principal, "support_ticket.opened", thread.ticket)
        return await idem.respond(conn, 201, service.thread_payload(thread))


@router.get(
    "/v1/support/tickets",
    response_model=Page[schemas.TicketOut],
    responses=ERRORS,
    summary="List my support tickets",
    description="The caller's tickets, newest first, with cursor pagination; filter by status.",
)
async def list_my_tickets(
    principal: Person,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Cursor = None,
    status: Annotated[schemas.Status | None, Query(description="Only this status.")] = None,
) -> Response:
    async with c.db.connection() as conn:
        rows = await repository.list_tickets(
            conn,
            user_id=_person(principal),
            status=status,
            limit=limit + 1,
            starting_after=starting_after,
        )
    payload = page_payload(rows, limit, service.ticket_payload, lambda ticket: ticket.id)
    return json_response(200, payload)


@router.get(
    "/v1/support/tickets/{ticket_id}",
    response_model=schemas.ThreadOut,
    responses={**ERRORS, **NOT_FOUND},
    summary="Get my support ticket",
    description="The ticket with its whole thread, oldest message first. Another person's "
    "ticket answers 404.",
)
async def get_my_ticket(ticket_id: TicketPath, principal: Person, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        thread = await service.person_thread(conn, _person(principal), ticket_id)
    return json_response(200, service.thread_payload(thread))


@router.post(
    "/v1/support/tickets/{ticket_id}/messages",
    status_code=201,
    response_model=schemas.MessageOut,
    responses={**ERRORS, **NOT_FOUND},
    summary="Reply in my support ticket",
    description="Adds the caller's message to the thread; the ticket becomes `open` again "
    "(a closed ticket is reopened).",
)
async def reply_to_my_ticket(
    ticket_id: TicketPath,
    body: schemas.MessageIn,
    request: Request,
    principal: Person,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        ticket, message = await service.reply_as_person(
            conn, c.clock.now(), _person(principal), ticket_id, body.message
        )
        await _audit(
            conn, request, principal, "support_ticket.replied", ticket, {"message_id": message.id}
        )
        return await idem.respond(conn, 201, service.message_payload(message))


# --- the support queue --------------------------------------------------------------------------


@router.get(
    "/v1/staff/support-tickets",
    response_model=Page[schemas.TicketOut],
    responses=ERRORS,
    summary="List support tickets (staff)",
    description="Every person's tickets, newest first, with who opened each; `status=open` is "
    "the queue waiting for an answer. For support, operations and admin staff; each search "
    "is recorded as `support_ticket.searched`.",
)
async def list_tickets(
    request: Request,
    principal: SupportStaff,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Cursor = None,
    status: Annotated[schemas.Status | None, Query(description="Only this status.")] = None,
) -> Response:
    async with c.db.transaction() as conn:
        rows = await repository.list_tickets(
            conn, user_id=None, status=status, limit=limit + 1, starting_after=starting_after
        )
        people = await repository.requesters(conn, [ticket.user_id for ticket in rows])
        await record(
            conn,
            AuditContext.from_request(request, principal),
            "support_ticket.searched",
            object_type="support_ticket",
            details={"status": status, "starting_after": starting_after},
        )
    payload = page_payload(
        rows,
        limit,
        lambda ticket: service.ticket_payload(ticket, people[ticket.user_id]),
        lambda ticket: ticket.id,
    )
    return json_response(200, payload)


@router.get(
    "/v1/staff/support-tickets/{ticket_id}",
    response_model=schemas.ThreadOut,
    responses={**ERRORS, **NOT_FOUND},
    summary="Get a support ticket (staff)",
    description="The ticket, who opened it and its whole thread, with which member wrote each "
    "answer. Recorded as `support_ticket.viewed`.",
)
async def get_ticket(
    ticket_id: TicketPath, request: Request, principal: SupportStaff, c: ContainerDep
) -> Response:
    async with c.db.transaction() as conn:
        thread = await service.staff_thread(conn, ticket_id)
        people = await repository.requesters(conn, [thread.ticket.user_id])
        await _audit(conn, request, principal, "support_ticket.viewed", thread.ticket)
    return json_response(200, service.thread_payload(thread, people[thread.ticket.user_id]))


@router.post(
    "/v1/staff/support-tickets/{ticket_id}/messages",
    status_code=201,
    response_model=schemas.MessageOut,
    responses={**ERRORS, **NOT_FOUND, **CLOSED},
    summary="Answer a support ticket (staff)",
    description="Adds support's answer to the thread; the ticket becomes `answered` and the "
    "person finds a notification in their inbox. A closed ticket takes no answer (409).",
)
async def answer_ticket(
    ticket_id: TicketPath,
    body: schemas.MessageIn,
    request: Request,
    principal: SupportStaff,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        ticket, message = await service.reply_as_staff(
            conn, c.clock.now(), _staff(principal), ticket_id, body.message
        )
        await _audit(
            conn, request, principal, "support_ticket.answered", ticket, {"message_id": message.id}
        )
        return await idem.respond(conn, 201, service.message_payload(message, staff_view=True))


@router.post(
    "/v1/staff/support-tickets/{ticket_id}/close",
    response_model=schemas.TicketOut,
    responses={**ERRORS, **NOT_FOUND, **CLOSED},
    summary="Close a support ticket (staff)",
    description="Marks the question as settled. The person can still reply, which reopens it; "
    "closing a closed ticket answers 409.",
)
async def close_ticket(
    ticket_id: TicketPath,
    request: Request,
    principal: SupportStaff,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        ticket = await service.close(conn, c.clock.now(), _staff(principal), ticket_id)
        people = await repository.requesters(conn, [ticket.user_id])
        await _audit(conn, request, principal, "support_ticket.closed", ticket)
        payload = service.ticket_payload(ticket, people[ticket.user_id])
        return await idem.respond(conn, 200, payload)
