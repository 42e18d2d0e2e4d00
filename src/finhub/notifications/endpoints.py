"""REST endpoints: a person's in-app inbox, and the dev mailbox for staff outside production."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from finhub.api import ContainerDep, IdempotentDep, json_response
from finhub.audit.service import AuditContext, record
from finhub.errors import Forbidden, NotFound
from finhub.identity.principal import Access, Principal
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload
from finhub.notifications import inbox, mail, schemas
from finhub.notifications.repository import MailFilter

router = APIRouter()

InboxReader = Access("user", "api_key", scopes=("notifications:read",))
InboxOwner = Access("user")
# Admin only: the dev mailbox holds live links (password resets, staff enrolment).
MailboxReader = Access("staff", staff_roles=("admin",))

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {"description": "These credentials may not do this (problem+json)."},
    422: {"description": "Invalid request (problem+json)."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found (problem+json)."}}

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]


def _person(principal: Principal) -> str:
    """Whose inbox: the signed-in person, or a personal API key's owner."""
    if principal.user_id is None:
        raise Forbidden("An organisation's API key has no inbox.", code="wrong_principal_type")
    return principal.user_id


# --- the inbox --------------------------------------------------------------------------------


@router.get(
    "/v1/me/notifications",
    tags=["notifications"],
    response_model=Page[schemas.NotificationOut],
    responses=ERRORS,
    summary="List my notifications",
    description="The caller's in-app inbox, newest first; `unread_only=true` leaves out what "
    "has been read.",
)
async def list_notifications(
    principal: Annotated[Principal, Depends(InboxReader)],
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Annotated[
        str | None, Query(max_length=64, description="The last id of the previous page.")
    ] = None,
    unread_only: Annotated[bool, Query(description="Only unread notifications.")] = False,
) -> Response:
    async with c.db.connection() as conn:
        rows = await inbox.inbox(
            conn,
            _person(principal),
            unread_only=unread_only,
            limit=limit + 1,
            starting_after=starting_after,
        )
    payload = page_payload(rows, limit, schemas.notification_out, lambda row: row["id"])
    return json_response(200, payload)


@router.get(
    "/v1/me/notifications/unread-count",
    tags=["notifications"],
    response_model=schemas.UnreadCountOut,
    responses=ERRORS,
    summary="Count my unread notifications",
    description="For a badge: how many notifications the caller has not read.",
)
async def count_unread(
    principal: Annotated[Principal, Depends(InboxReader)], c: ContainerDep
) -> Response:
    async with c.db.connection() as conn:
        unread = await inbox.unread_count(conn, _person(principal))
    return json_response(200, {"object": "unread_count", "unread": unread})


@router.post(
    "/v1/me/notifications/read-all",
    tags=["notifications"],
    response_model=schemas.MarkedReadOut,
    responses=ERRORS,
    summary="Mark all my notifications read",
    description="Marks every unread notification of the caller read now.",
)
async def mark_all_read(
    principal: Annotated[Principal, Depends(InboxOwner)], c: ContainerDep, idem: IdempotentDep
) -> Response:
    async with c.db.transaction() as conn:
        marked = await inbox.mark_all_read(conn, _person(principal), c.clock.now())
        return await idem.respond(conn, 200, {"object": "notifications_read", "marked": marked})


@router.post(
    "/v1/me/notifications/{notification_id}/read",
    tags=["notifications"],
    response_model=schemas.NotificationOut,
    responses={**ERRORS, **NOT_FOUND},
    summary="Mark a notification read",
    description="Marking it again keeps the first `read_at`. Another person's notification "
    "answers 404.",
)
async def mark_read(
    notification_id: Annotated[
        str, Path(max_length=64, description="The notification's id (`ntf_…`).")
    ],
    principal: Annotated[Principal, Depends(InboxOwner)],
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        row = await inbox.mark_read(conn, _person(principal), notification_id, c.clock.now())
        return await idem.respond(conn, 200, schemas.notification_out(row))


# --- the dev mailbox --------------------------------------------------------------------------


async def outside_production(request: Request) -> None:
    """The dev mailbox does not exist in production (checked before credentials, so it
    answers 404 to everyone there)."""
    if request.app.state.container.settings.environment == "production":
        raise NotFound("Not found.")


mailbox = APIRouter(
    prefix="/v1/dev/mailbox",
    tags=["dev mailbox"],
    dependencies=[Depends(outside_production), Depends(MailboxReader)],
)
MAILBOX_ERRORS = {
    **ERRORS,
    404: {"description": "Not found, or finhub runs in production (problem+json)."},
}


@mailbox.get(
    "",
    response_model=Page[schemas.MailSummaryOut],
    responses=MAILBOX_ERRORS,
    summary="List outbound mail (dev mailbox)",
    description="Every message finhub has sent or kept, newest first, for admin staff; not "
    "available in production. With no SMTP server configured, "
    "this is where mail goes.",
)
async def list_mailbox(
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Annotated[
        str | None, Query(max_length=64, description="The last id of the previous page.")
    ] = None,
    to: Annotated[str | None, Query(max_length=320, description="Recipient address.")] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern="^(queued|sent|failed|kept)$")] = None,
) -> Response:
    where = MailFilter(to_address=to, tag=tag, status=status)
    async with c.db.connection() as conn:
        rows = await mail.list_mail(conn, where, limit=limit + 1, starting_after=starting_after)
    payload = page_payload(rows, limit, schemas.mail_summary_out, lambda row: row["id"])
    return json_response(200, payload)


@mailbox.get(
    "/{mail_id}",
    response_model=schemas.MailOut,
    responses=MAILBOX_ERRORS,
    summary="Read a message (dev mailbox)",
    description="One message with its text and HTML bodies, so links in it can be followed.",
)
async def read_mail(
    mail_id: Annotated[str, Path(max_length=64, description="The message's id (`mail_…`).")],
    request: Request,
    principal: Annotated[Principal, Depends(MailboxReader)],
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        row = await mail.get_mail(conn, mail_id)
        # Reading a message can reveal a live link: who read which one stays on record.
        await record(
            conn,
            AuditContext.from_request(request, principal),
            "mail.read",
            object_type="mail",
            object_id=mail_id,
            details={"to": row["to_address"], "tag": row["tag"]},
        )
    return json_response(200, schemas.mail_out(row))


router.include_router(mailbox)
