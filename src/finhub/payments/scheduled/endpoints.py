"""REST endpoints of scheduled and recurring payments under `/v1/payments/scheduled`, and a
person's own limits at `/v1/payments/limits`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from finhub.api import Container, ContainerDep, Idempotent, IdempotentDep, json_response
from finhub.audit.service import AuditContext, record
from finhub.identity.principal import Access, Principal
from finhub.kit.db.engine import Connection
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, page_payload
from finhub.payments import limits
from finhub.payments.scheduled import repository, service
from finhub.payments.scheduled.models import ScheduledPayment
from finhub.payments.scheduled.schemas import ScheduleIn
from finhub.payments.step_up import payment_step_up
from finhub.payments.transfers.service import Context
from finhub.wallets.errors import WalletNotAvailable

router = APIRouter(prefix="/v1/payments", tags=["scheduled payments"])
Writer = Annotated[Principal, Depends(Access("user", "api_key", scopes=("payments:write",)))]
Reader = Annotated[Principal, Depends(Access("user", "api_key", scopes=("payments:read",)))]
SchedulePath = Annotated[str, Path(description="The schedule's id (`sch_…`).", max_length=64)]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {"description": "Not allowed, or no wallet for this caller (problem+json)."},
    404: {"description": "No such scheduled payment, recipient or payee (problem+json)."},
    409: {"description": "Not in a state that allows this (problem+json)."},
    422: {"description": "Invalid request, rule or date (problem+json)."},
}


def _person(principal: Principal) -> str:
    if principal.user_id is None:
        raise WalletNotAvailable("Organisation keys have no wallet here yet.")
    return principal.user_id


async def _audit(
    conn: Connection,
    request: Request,
    principal: Principal,
    action: str,
    schedule: ScheduledPayment,
) -> None:
    await record(
        conn,
        AuditContext.from_request(request, principal),
        action,
        subject_user_id=schedule.user_id,
        object_type="scheduled_payment",
        object_id=schedule.id,
        after={
            "status": schedule.status,
            "type": schedule.type,
            "amount": str(schedule.amount),
            "currency": schedule.currency,
            "rule": schedule.rule,
        },
    )


@router.get(
    "/limits",
    responses=ERRORS,
    summary="My limits",
    description="The caller's KYC tier and, in one currency, each limit (per payment, daily and "
    "monthly in UTC calendar windows, top-ups, balance cap) with what remains.",
)
async def my_limits(
    principal: Reader,
    c: ContainerDep,
    currency: Annotated[str, Query(pattern=r"^[A-Z][A-Z0-9]{2,11}$")] = "EUR",
) -> Response:
    async with c.db.connection() as conn:
        payload = await limits.overview(
            conn, user_id=_person(principal), currency=currency, now=c.clock.now()
        )
    return json_response(200, payload)


@router.post(
    "/scheduled",
    status_code=201,
    responses=ERRORS,
    summary="Schedule a payment",
    description="A P2P payment or a withdrawal, once at `start_at` or recurring by an RFC 5545 "
    "rule (UTC). Recipient and payee are checked now; each occurrence pays through the same "
    "rules as a payment made by hand (fees, limits, funds), retried up to 3 times over a day.",
)
async def create_schedule(
    body: ScheduleIn, request: Request, principal: Writer, c: ContainerDep, idem: IdempotentDep
) -> Response:
    user_id = _person(principal)
    to = body.to.as_recipient() if body.to is not None else None
    new = service.NewSchedule(
        type=body.type, amount=body.amount, currency=body.currency, note=body.note,
        start_at=body.start_at, rule=body.rule, end_at=body.end_at, to=to,
        payee_id=body.payee_id,
    )  # fmt: skip
    ctx = Context(c.ledger, c.throttle, AuditContext.from_request(request, principal))
    async with c.db.transaction() as conn:
        # The worker pays each occurrence with no one to ask, so a large one is confirmed now.
        await payment_step_up(request, principal).check(conn, body.amount, body.currency)
        schedule = await service.create(conn, ctx, user_id, new)
        await _audit(conn, request, principal, "scheduled_payment.created", schedule)
        return await idem.respond(conn, 201, service.schedule_payload(schedule, c.clock.now()))


@router.get(
    "/scheduled",
    responses=ERRORS,
    summary="List my scheduled payments",
    description="Newest first, with cursor pagination; filter by status.",
)
async def list_schedules(
    principal: Reader,
    c: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern=r"^(active|paused|canceled|finished)$")] = None,
) -> Response:
    async with c.db.connection() as conn:
        rows = await repository.list_for_user(
            conn, _person(principal), status=status, limit=limit, starting_after=starting_after
        )
    now = c.clock.now()
    return json_response(
        200, page_payload(rows, limit, lambda s: service.schedule_payload(s, now), lambda s: s.id)
    )


@router.get(
    "/scheduled/{schedule_id}",
    responses=ERRORS,
    summary="Get a scheduled payment",
    description="The schedule with its next occurrences.",
)
async def get_schedule(schedule_id: SchedulePath, principal: Reader, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        schedule = await service.get(conn, _person(principal), schedule_id)
    return json_response(200, service.schedule_payload(schedule, c.clock.now()))


@router.get(
    "/scheduled/{schedule_id}/runs",
    responses=ERRORS,
    summary="List a schedule's runs",
    description="Each occurrence that came due: paid (with its payment), retrying or failed.",
)
async def list_runs(schedule_id: SchedulePath, principal: Reader, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        schedule = await service.get(conn, _person(principal), schedule_id)
        runs = await repository.runs_of(conn, schedule.id, MAX_LIMIT)
    return json_response(
        200, {"object": "list", "data": [service.run_payload(r) for r in runs], "has_more": False}
    )


async def _change(
    action: str,
    schedule_id: str,
    request: Request,
    principal: Principal,
    c: Container,
    idem: Idempotent | None,
) -> Response:
    changes = {"cancel": service.cancel, "pause": service.pause, "resume": service.resume}
    async with c.db.transaction() as conn:
        schedule = await changes[action](conn, c.clock, _person(principal), schedule_id)
        await _audit(conn, request, principal, f"scheduled_payment.{action}", schedule)
        payload = service.schedule_payload(schedule, c.clock.now())
        if idem is None:
            return json_response(200, payload)
        return await idem.respond(conn, 200, payload)


@router.post(
    "/scheduled/{schedule_id}/cancel",
    responses=ERRORS,
    summary="Cancel a scheduled payment",
    description="No further occurrence is paid, and pending retries stop.",
)
async def cancel_schedule(
    schedule_id: SchedulePath, request: Request, principal: Writer, c: ContainerDep,
    idem: IdempotentDep,
) -> Response:  # fmt: skip
    return await _change("cancel", schedule_id, request, principal, c, idem)


@router.delete(
    "/scheduled/{schedule_id}",
    responses=ERRORS,
    summary="Cancel a scheduled payment",
    description="The same as `POST …/cancel`.",
)
async def delete_schedule(
    schedule_id: SchedulePath, request: Request, principal: Writer, c: ContainerDep
) -> Response:
    return await _change("cancel", schedule_id, request, principal, c, None)


@router.post(
    "/scheduled/{schedule_id}/pause",
    responses=ERRORS,
    summary="Pause a scheduled payment",
    description="Nothing is paid while paused, retries included.",
)
async def pause_schedule(
    schedule_id: SchedulePath, request: Request, principal: Writer, c: ContainerDep,
    idem: IdempotentDep,
) -> Response:  # fmt: skip
    return await _change("pause", schedule_id, request, principal, c, idem)


@router.post(
    "/scheduled/{schedule_id}/resume",
    responses=ERRORS,
    summary="Resume a paused scheduled payment",
    description="Occurrences that fell while paused are skipped; the next is the first from now.",
)
async def resume_schedule(
    schedule_id: SchedulePath, request: Request, principal: Writer, c: ContainerDep,
    idem: IdempotentDep,
) -> Response:  # fmt: skip
    return await _change("resume", schedule_id, request, principal, c, idem)
