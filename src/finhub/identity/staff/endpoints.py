"""REST endpoints of staff under `/v1/staff`: sign-in (always two factors), enrolment by a
one-time link, the member's own profile, and member management for admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from finhub.api import Container, ContainerDep, IdempotentDep, json_response
from finhub.audit.service import AuditContext, record
from finhub.errors import NotFound
from finhub.identity import devices, sessions
from finhub.identity.errors import InvalidCredentials
from finhub.identity.factors.service import FAILURES, FactorDeps, Proof
from finhub.identity.principal import Access, Principal
from finhub.identity.schemas import SessionOut
from finhub.identity.staff import repository, schemas, service
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload

router = APIRouter(prefix="/v1/staff", tags=["staff"])

Staff = Annotated[Principal, Depends(Access("staff"))]
Admin = Annotated[Principal, Depends(Access("staff", staff_roles=("admin",)))]
MemberPath = Annotated[str, Path(description="The staff member's id (`stf_…`).")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "`invalid_token`, a wrong code (problem+json)."},
    401: {"description": "`invalid_credentials`, or not signed in (problem+json)."},
    403: {"description": "Not an admin, or `cannot_demote_self` (problem+json)."},
    404: {"description": "Not found (problem+json)."},
    409: {"description": "`staff_exists` (problem+json)."},
    422: {"description": "Invalid request or password (problem+json)."},
    429: {"description": "Locked after too many wrong attempts (problem+json, Retry-After)."},
}


# --- sign-in ----------------------------------------------------------------------------------


@router.post(
    "/auth/sign-in",
    response_model=schemas.ChallengeOut,
    responses=ERRORS,
    summary="Staff sign-in, first step",
    description="Checks the email and password and answers a challenge for the second factor "
    "(staff always need one). Wrong, unknown and disabled accounts answer the same "
    "`invalid_credentials`; failures are throttled per account and address with lockout.",
)
async def sign_in(body: schemas.SignInIn, request: Request, c: ContainerDep) -> Response:
    now = c.clock.now()
    ctx = AuditContext.from_request(request)
    try:
        async with c.db.transaction() as conn:
            challenge = await service.sign_in(
                conn,
                c.throttle,
                email=body.email,
                password=body.password,
                ip=devices.client_ip(request),
                now=now,
            )
    except InvalidCredentials:
        await _sign_in_failed(c, ctx, None, {"step": "password"})
        raise
    return json_response(
        200,
        {
            "object": "staff_sign_in_challenge",
            "status": "second_factor_required",
            "challenge_token": challenge.token,
            "methods": ["totp", "recovery_code"],
            "expires_at": challenge.expires_at,
        },
    )


@router.post(
    "/auth/sign-in/second-factor",
    response_model=SessionOut,
    responses=ERRORS,
    summary="Staff sign-in, second step",
    description="Exchanges the challenge and a TOTP (or recovery) code for a staff session "
    "(token in the body and an HttpOnly cookie). Wrong codes are throttled with lockout.",
)
async def complete_sign_in(
    body: schemas.SecondFactorIn, request: Request, c: ContainerDep
) -> Response:
    now = c.clock.now()
    ctx = AuditContext.from_request(request)
    try:
        async with c.db.transaction() as conn:
            member, session = await service.complete_sign_in(
                conn,
                FactorDeps.of(c),
                challenge_token=body.challenge_token,
                proof=Proof(body.method, code=body.code),
                ip=devices.client_ip(request),
                user_agent=request.headers.get("user-agent"),
                now=now,
            )
            signed_in = AuditContext("staff", member.id, ctx.ip, ctx.user_agent, ctx.request_id)
            await record(
                conn,
                signed_in,
                "staff.sign_in",
                object_type="session",
                object_id=session.id,
                details={"method": body.method},
            )
    except FAILURES as error:
        async with c.db.connection() as conn:
            subject = await service.challenge_subject(conn, body.challenge_token, now)
        await _sign_in_failed(c, ctx, subject, {"step": "second_factor", "reason": error.code})
        raise
    return sessions.session_response(session, c.settings)


async def _sign_in_failed(
    c: Container, ctx: AuditContext, staff_id: str | None, details: dict[str, Any]
) -> None:
    async with c.db.transaction() as conn:
        await record(
            conn,
            ctx,
            "staff.sign_in_failed",
            outcome="failure",
            object_type="staff_member" if staff_id else None,
            object_id=staff_id,
            details=details,
        )


# --- enrolment --------------------------------------------------------------------------------


@router.post(
    "/enrolment/totp",
    responses=ERRORS,
    summary="Get the authenticator secret for a new staff account",
    description="With the token of the enrolment link: a TOTP secret, its `otpauth://` URI and "
    "QR codes. Confirm it with `POST /v1/staff/enrolment`.",
)
async def start_enrolment(body: schemas.EnrolmentTokenIn, c: ContainerDep) -> Response:
    async with c.db.transaction() as conn:
        started = await service.start_enrolment(conn, FactorDeps.of(c), body.token, c.clock.now())
    return json_response(
        200,
        {
            "object": "totp_enrolment",
            "id": started.factor_id,
            "secret": started.provisioning.secret,
            "otpauth_uri": started.provisioning.uri,
            "qr_svg": started.provisioning.qr_svg,
            "qr_png": started.provisioning.qr_png,
        },
    )


@router.post(
    "/enrolment",
    response_model=schemas.MemberOut,
    responses=ERRORS,
    summary="Finish a new staff account",
    description="Sets the password (the people's password rules) and confirms the "
    "authenticator with a current code; answers the member with ten recovery codes, shown "
    "once. The enrolment link stops working.",
)
async def finish_enrolment(
    body: schemas.EnrolmentIn, request: Request, c: ContainerDep
) -> Response:
    async with c.db.transaction() as conn:
        member, codes = await service.finish_enrolment(
            conn,
            FactorDeps.of(c),
            AuditContext.from_request(request),
            token=body.token,
            password=body.password,
            code=body.code,
            now=c.clock.now(),
        )
    c.mailer.kick()
    return json_response(200, {**service.member_payload(member), "recovery_codes": codes})


# --- members ----------------------------------------------------------------------------------


@router.get(
    "/me",
    response_model=schemas.MemberOut,
    responses=ERRORS,
    summary="The signed-in staff member",
)
async def me(principal: Staff, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        member = await repository.get(conn, principal.id)
    if member is None:
        raise NotFound("No such staff member.")
    return json_response(200, service.member_payload(member))


@router.get(
    "/members",
    response_model=Page[schemas.MemberOut],
    responses=ERRORS,
    summary="List staff members",
    description="Admins only. Oldest first.",
)
async def list_members(
    principal: Admin,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    async with c.db.connection() as conn:
        rows = await repository.page(conn, limit=limit + 1, starting_after=starting_after)
    return json_response(200, page_payload(rows, limit, service.member_payload, lambda r: r.id))


@router.post(
    "/members",
    status_code=201,
    response_model=schemas.MemberOut,
    responses=ERRORS,
    summary="Create a staff member",
    description="Admins only. The new member gets a one-time enrolment link (valid three days, "
    "emailed to them and answered here once as `enrolment_url`) to choose a password and set "
    "up an authenticator app.",
)
async def create_member(
    body: schemas.MemberCreate,
    request: Request,
    principal: Admin,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        created = await service.create_member(
            conn,
            FactorDeps.of(c),
            AuditContext.from_request(request, principal),
            email=body.email,
            display_name=body.display_name,
            roles=list(body.roles),
            password=None,
            now=c.clock.now(),
        )
        url = f"{c.settings.public_url.rstrip('/')}/staff/enrol?token={created.enrolment_token}"
        await c.mailer.queue(
            conn,
            to=body.email,
            subject="Your finhub staff account",
            text=f"A finhub staff account was made for you. Set it up within three days:\n\n"
            f"{url}\n",
            tag="staff.enrolment",
        )
        payload = {**service.member_payload(created.member), "enrolment_url": url}
        replay = {**payload, "enrolment_url": None}
        response = await idem.respond(conn, 201, payload, replay=replay)
    c.mailer.kick()
    return response


@router.patch(
    "/members/{staff_id}",
    response_model=schemas.MemberOut,
    responses=ERRORS,
    summary="Change a staff member's roles or status",
    description="Admins only; takes effect on the member's next request. Disabling revokes "
    "their sessions. An admin can't remove their own admin role or disable themselves.",
)
async def change_member(
    staff_id: MemberPath,
    body: schemas.MemberPatch,
    request: Request,
    principal: Admin,
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        member = await service.change_member(
            conn,
            AuditContext.from_request(request, principal),
            actor_id=principal.id,
            staff_id=staff_id,
            change=service.MemberChange(
                roles=list(body.roles) if body.roles is not None else None, status=body.status
            ),
            now=c.clock.now(),
        )
    return json_response(200, service.member_payload(member))
