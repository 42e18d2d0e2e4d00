"""REST endpoints of a person's own second factors under `/v1/me`: the authenticator app
(TOTP) with its recovery codes, passkeys and the payment PIN. Signing in with a factor and
stepping up live in `auth_endpoints` (included here)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from finhub.api import ContainerDep, IdempotentDep, json_response
from finhub.audit.service import AuditContext
from finhub.identity import sessions
from finhub.identity.factors import enrolment, repository, schemas
from finhub.identity.factors.auth_endpoints import router as auth_router
from finhub.identity.factors.service import (
    FactorDeps,
    attempt,
    is_stepped_up,
    require_identity,
    second_factor_methods,
    step_up_methods,
)
from finhub.identity.principal import Access, Principal, require_fresh_second_factor
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload

router = APIRouter(tags=["second factors"])
router.include_router(auth_router)

Person = Annotated[Principal, Depends(Access("user"))]
SteppedUpPerson = Annotated[Principal, Depends(Access("user", step_up=True))]
PasskeyPath = Annotated[str, Path(description="The passkey's id (`pk_…`).")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A wrong code, PIN or passkey response (problem+json)."},
    401: {"description": "Not signed in (problem+json)."},
    403: {"description": "Not a person's session, or `step_up_required` (problem+json)."},
    404: {"description": "Not found (problem+json)."},
    409: {"description": "Conflicts with what is set up already (problem+json)."},
    422: {"description": "Invalid request (problem+json)."},
    429: {"description": "Locked after too many wrong attempts (problem+json, Retry-After)."},
}


async def _step_up_if_enrolled(request: Request, c: ContainerDep, principal: Principal) -> None:
    """Once a second factor exists, adding another needs step-up (else a stolen password
    session could add the thief's own factor)."""
    async with c.db.connection() as conn:
        if await enrolment.needs_step_up(conn, principal.id):
            require_fresh_second_factor(request, principal)


# --- overview ---------------------------------------------------------------------------------


@router.get(
    "/v1/me/factors",
    response_model=schemas.SecondFactorsOut,
    responses=ERRORS,
    summary="List my second factors",
    description="What is set up: the sign-in second factors, the step-up methods (including "
    "the payment PIN) and how many unused recovery codes remain.",
)
async def list_factors(principal: Person, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        enrolled = await repository.enrolled(conn, principal.id)
        payload = {
            "object": "second_factors",
            "id": principal.id,
            "methods": await second_factor_methods(conn, principal.id),
            "step_up_methods": await step_up_methods(conn, principal.id),
            "totp_enabled": enrolled["totp"],
            "recovery_codes_remaining": await repository.unused_recovery_codes(conn, principal.id),
            "pin_set": enrolled["pin"],
        }
    return json_response(200, payload)


# --- TOTP and recovery codes ------------------------------------------------------------------


@router.post(
    "/v1/me/factors/totp",
    status_code=201,
    response_model=schemas.TotpEnrolmentOut,
    responses=ERRORS,
    summary="Start setting up an authenticator app",
    description="A new TOTP secret with its `otpauth://` URI and QR code (SVG and PNG). It is "
    "enabled by `POST /v1/me/factors/totp/confirm` with a code from the app. Needs a fresh "
    "step-up when another second factor exists.",
)
async def start_totp(
    request: Request, principal: Person, c: ContainerDep, idem: IdempotentDep
) -> Response:
    await _step_up_if_enrolled(request, c, principal)
    deps = FactorDeps.of(c)
    async with c.db.transaction() as conn:
        identity = await require_identity(conn, principal.id)
        started = await enrolment.start_totp(conn, deps, identity, c.clock.now())
        payload = {
            "object": "totp_enrolment",
            "id": started.factor_id,
            "secret": started.provisioning.secret,
            "otpauth_uri": started.provisioning.uri,
            "qr_svg": started.provisioning.qr_svg,
            "qr_png": started.provisioning.qr_png,
        }
        secret_free = {
            **payload,
            "secret": None,
            "otpauth_uri": None,
            "qr_svg": None,
            "qr_png": None,
        }
        return await idem.respond(conn, 201, payload, replay=secret_free)


@router.post(
    "/v1/me/factors/totp/confirm",
    response_model=schemas.TotpFactorOut,
    responses=ERRORS,
    summary="Enable the authenticator app",
    description="Confirms the pending secret with a current code and answers ten recovery codes, "
    "shown only this once. The session counts as stepped up afterwards.",
)
async def confirm_totp(
    body: schemas.CodeIn, request: Request, principal: Person, c: ContainerDep
) -> Response:
    await _step_up_if_enrolled(request, c, principal)
    deps = FactorDeps.of(c)
    now = c.clock.now()
    session_id = principal.session_id or ""  # Access("user") admits sessions only
    # The attempt is outermost so that a wrong code is counted after the rollback.
    async with (
        attempt(deps, identity_id=principal.id, ip=principal.ip, now=now),
        c.db.transaction() as conn,
    ):
        identity = await require_identity(conn, principal.id)
        ctx = AuditContext.from_request(request, principal)
        enabled = await enrolment.confirm_totp(conn, deps, ctx, identity, body.code, now)
        await sessions.mark_second_factor(conn, session_id, now)
    c.mailer.kick()
    return json_response(
        200,
        {
            "object": "totp_factor",
            "id": enabled.factor_id,
            "status": "active",
            "recovery_codes": enabled.recovery_codes,
        },
    )


@router.delete(
    "/v1/me/factors/totp",
    response_model=schemas.TotpFactorOut,
    responses=ERRORS,
    summary="Remove the authenticator app",
    description="Needs a fresh step-up. Recovery codes go too unless a passkey remains.",
)
async def remove_totp(request: Request, principal: SteppedUpPerson, c: ContainerDep) -> Response:
    deps = FactorDeps.of(c)
    async with c.db.transaction() as conn:
        identity = await require_identity(conn, principal.id)
        ctx = AuditContext.from_request(request, principal)
        factor_id = await enrolment.remove_totp(conn, deps, ctx, identity, c.clock.now())
    c.mailer.kick()
    return json_response(200, {"object": "totp_factor", "id": factor_id, "status": "deleted"})


@router.post(
    "/v1/me/factors/recovery-codes",
    status_code=201,
    response_model=schemas.RecoveryCodesOut,
    responses=ERRORS,
    summary="Make new recovery codes",
    description="Ten new single-use codes, shown once; all older codes stop working. Needs a "
    "fresh step-up.",
)
async def regenerate_recovery_codes(
    request: Request, principal: SteppedUpPerson, c: ContainerDep, idem: IdempotentDep
) -> Response:
    deps = FactorDeps.of(c)
    async with c.db.transaction() as conn:
        identity = await require_identity(conn, principal.id)
        ctx = AuditContext.from_request(request, principal)
        codes = await enrolment.regenerate_recovery_codes(conn, deps, ctx, identity, c.clock.now())
        payload = {"object": "recovery_codes", "id": principal.id, "codes": codes}
        response = await idem.respond(conn, 201, payload, replay={**payload, "codes": None})
    c.mailer.kick()
    return response


# --- passkeys ---------------------------------------------------------------------------------


@router.post(
    "/v1/me/passkeys/registration-options",
    response_model=schemas.WebAuthnOptionsOut,
    responses=ERRORS,
    summary="Options to register a passkey",
    description="WebAuthn creation options (a discoverable credential for this site) with a "
    "single-use challenge valid for five minutes. Needs a fresh step-up when a second factor "
    "exists.",
)
async def passkey_registration_options(
    request: Request, principal: Person, c: ContainerDep
) -> Response:
    await _step_up_if_enrolled(request, c, principal)
    async with c.db.transaction() as conn:
        identity = await require_identity(conn, principal.id)
        options = await enrolment.passkey_registration_options(
            conn, FactorDeps.of(c), identity, c.clock.now()
        )
    return json_response(
        200,
        {"object": "passkey_registration_options", "id": principal.id, "public_key": options},
    )


@router.post(
    "/v1/me/passkeys",
    status_code=201,
    response_model=schemas.PasskeyOut,
    responses=ERRORS,
    summary="Register a passkey",
    description="Verifies the authenticator's response to the registration options and keeps "
    "the public key. Needs a fresh step-up when a second factor exists.",
)
async def register_passkey(
    body: schemas.PasskeyCreate,
    request: Request,
    principal: Person,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    await _step_up_if_enrolled(request, c, principal)
    async with c.db.transaction() as conn:
        identity = await require_identity(conn, principal.id)
        row = await enrolment.register_passkey(
            conn,
            FactorDeps.of(c),
            AuditContext.from_request(request, principal),
            identity,
            credential=body.credential,
            name=body.name,
            now=c.clock.now(),
        )
        response = await idem.respond(conn, 201, schemas.passkey_out(row))
    c.mailer.kick()
    return response


@router.get(
    "/v1/me/passkeys",
    response_model=Page[schemas.PasskeyOut],
    responses=ERRORS,
    summary="List my passkeys",
    description="Oldest first.",
)
async def list_passkeys(
    principal: Person,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    async with c.db.connection() as conn:
        rows = await repository.list_passkeys(
            conn, principal.id, limit=limit + 1, starting_after=starting_after
        )
    return json_response(200, page_payload(rows, limit, schemas.passkey_out, lambda r: r["id"]))


@router.patch(
    "/v1/me/passkeys/{passkey_id}",
    response_model=schemas.PasskeyOut,
    responses=ERRORS,
    summary="Rename a passkey",
)
async def rename_passkey(
    passkey_id: PasskeyPath,
    body: schemas.PasskeyRename,
    request: Request,
    principal: Person,
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        identity = await require_identity(conn, principal.id)
        ctx = AuditContext.from_request(request, principal)
        row = await enrolment.rename_passkey(conn, ctx, identity, passkey_id, body.name)
    return json_response(200, schemas.passkey_out(row))


@router.delete(
    "/v1/me/passkeys/{passkey_id}",
    response_model=schemas.DeletedOut,
    responses=ERRORS,
    summary="Remove a passkey",
    description="Needs a fresh step-up.",
)
async def remove_passkey(
    passkey_id: PasskeyPath, request: Request, principal: SteppedUpPerson, c: ContainerDep
) -> Response:
    async with c.db.transaction() as conn:
        identity = await require_identity(conn, principal.id)
        ctx = AuditContext.from_request(request, principal)
        await enrolment.remove_passkey(conn, FactorDeps.of(c), ctx, identity, passkey_id)
    c.mailer.kick()
    return json_response(200, {"object": "passkey", "id": passkey_id, "deleted": True})


# --- payment PIN ------------------------------------------------------------------------------


@router.put(
    "/v1/me/pin",
    response_model=schemas.PinOut,
    responses=ERRORS,
    summary="Set or change the payment PIN",
    description="Six digits, not one repeated digit nor a run. Changing it needs `current_pin`. "
    "The first PIN needs a fresh step-up, or `password` from someone without a second factor. "
    "Wrong PINs and passwords are throttled with lockout.",
)
async def set_pin(
    body: schemas.PinIn, request: Request, principal: Person, c: ContainerDep
) -> Response:
    now = c.clock.now()
    change = enrolment.PinChange(
        pin=body.pin,
        current_pin=body.current_pin,
        password=body.password,
        stepped_up=is_stepped_up(c.settings, principal, now),
        ip=principal.ip,
    )
    async with c.db.transaction() as conn:
        identity = await require_identity(conn, principal.id)
        ctx = AuditContext.from_request(request, principal)
        await enrolment.set_pin(conn, FactorDeps.of(c), ctx, identity, change, now)
    c.mailer.kick()
    return json_response(200, {"object": "payment_pin", "id": principal.id, "status": "set"})


@router.delete(
    "/v1/me/pin",
    response_model=schemas.PinOut,
    responses=ERRORS,
    summary="Remove the payment PIN",
    description="Needs a fresh step-up.",
)
async def remove_pin(request: Request, principal: SteppedUpPerson, c: ContainerDep) -> Response:
    async with c.db.transaction() as conn:
        identity = await require_identity(conn, principal.id)
        ctx = AuditContext.from_request(request, principal)
        await enrolment.remove_pin(conn, FactorDeps.of(c), ctx, identity)
    c.mailer.kick()
    return json_response(200, {"object": "payment_pin", "id": principal.id, "status": "deleted"})
