"""Signing in and stepping up with a factor, under `/v1/auth`.

- `POST /v1/auth/sign-in/second-factor` completes a password sign-in that answered a
  `sign_in_challenge`. A wrong factor counts against the throttle but leaves the challenge
  usable (until it expires, or until the throttle locks the account, which retires it).
- `POST /v1/auth/passkeys/sign-in` signs in with a passkey alone, without an email address.
- `POST /v1/auth/step-up` proves a factor (or the payment PIN) on the current session.

Failures are audited in their own transaction: the request's transaction rolls back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from finhub.api import Container, ContainerDep, json_response
from finhub.audit.service import AuditContext, record
from finhub.identity import devices, tokens
from finhub.identity.factors import passkeys, repository, schemas
from finhub.identity.factors.repository import Identity
from finhub.identity.factors.service import (
    FAILURES,
    FactorDeps,
    Proof,
    check_passkey,
    is_locked,
    issue_passkey_challenge,
    prove,
    step_up,
    tell,
    throttle_keys,
)
from finhub.identity.principal import Access, Principal
from finhub.identity.schemas import SessionOut
from finhub.identity.service import (
    SIGN_IN_CHALLENGE,
    finish_sign_in,
    sign_in_response,
    user_audit_context,
)
from finhub.kit.throttle import ThrottleRule

router = APIRouter(tags=["sign-in"])

SessionHolder = Annotated[Principal, Depends(Access("user", "staff"))]
# Password-less sign-in knows nobody until the passkey is checked: throttle by address.
PASSKEY_SIGN_IN_IP_RULE = ThrottleRule(scope="passkey_sign_in", max_failures=25)
PASSKEY_SIGN_IN_SUBJECT = "anyone"

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "`invalid_token` (challenge unknown, used or expired), "
        "`invalid_second_factor`, `code_already_used`, `invalid_pin`, `invalid_passkey`, "
        "`passkey_counter_regressed` or `factor_not_enrolled` (problem+json)."
    },
    401: {"description": "Not signed in (problem+json)."},
    403: {"description": "Not a session of a person or staff member (problem+json)."},
    422: {"description": "Invalid request (problem+json)."},
    429: {"description": "Locked after too many wrong attempts (problem+json, Retry-After)."},
}


# --- completing a password sign-in ------------------------------------------------------------


@router.post(
    "/v1/auth/sign-in/second-factor",
    response_model=SessionOut,
    responses=ERRORS,
    summary="Complete a sign-in with a second factor",
    description="Exchanges the `challenge_token` of a password sign-in plus a TOTP code, a "
    "recovery code or a passkey assertion (from `…/second-factor/passkey-options`) for a "
    "session (aal 2). A wrong factor counts toward the lockout and leaves the challenge usable "
    "until it expires; a lockout retires it.",
)
async def complete_sign_in(
    body: schemas.SecondFactorSignIn, request: Request, c: ContainerDep
) -> Response:
    now = c.clock.now()
    async with c.db.connection() as conn:
        challenge = await tokens.peek(
            conn, purpose=SIGN_IN_CHALLENGE, token=body.challenge_token, now=now
        )
    user_id = challenge.subject_id
    ctx = user_audit_context(request, user_id)
    deps = FactorDeps.of(c)
    proof = Proof(body.method, code=body.code, credential=body.credential)
    try:
        async with c.db.transaction() as conn:
            await prove(
                conn,
                deps,
                identity_id=user_id,
                proof=proof,
                ip=devices.client_ip(request),
                now=now,
                passkey_purpose="passkey_second_factor",
            )
            await tokens.consume(
                conn, purpose=SIGN_IN_CHALLENGE, token=body.challenge_token, now=now
            )
            identity = await _active_person(conn, user_id)
            if body.method == "recovery_code":
                await _recovery_code_used(conn, deps, ctx, identity)
            signed_in = await finish_sign_in(
                conn, c, request, user_id=user_id, aal=2, method=f"password+{body.method}"
            )
    except FAILURES as error:
        await _second_factor_failed(c, ctx, user_id, error, now)
        if await is_locked(deps, user_id, now):
            await _retire_challenges(c, user_id, now)
        raise
    c.mailer.kick()
    return sign_in_response(signed_in, c.settings)


@router.post(
    "/v1/auth/sign-in/second-factor/passkey-options",
    response_model=schemas.WebAuthnOptionsOut,
    responses=ERRORS,
    summary="Passkey options to complete a sign-in",
    description="WebAuthn request options listing the person's passkeys, for completing the "
    "password sign-in of `challenge_token` with a passkey.",
)
async def sign_in_passkey_options(
    body: schemas.ChallengeIn, request: Request, c: ContainerDep
) -> Response:
    now = c.clock.now()
    async with c.db.transaction() as conn:
        challenge = await tokens.peek(
            conn, purpose=SIGN_IN_CHALLENGE, token=body.challenge_token, now=now
        )
        options = await _assertion_options(
            conn, c, purpose="passkey_second_factor", identity_id=challenge.subject_id, now=now
        )
    return json_response(200, options)


# --- password-less sign-in --------------------------------------------------------------------


@router.post(
    "/v1/auth/passkeys/sign-in-options",
    response_model=schemas.WebAuthnOptionsOut,
    responses=ERRORS,
    summary="Options to sign in with a passkey",
    description="WebAuthn request options for any passkey this site knows (discoverable "
    "credentials), so no email address is needed. The challenge is single-use and valid for "
    "five minutes.",
)
async def passkey_sign_in_options(c: ContainerDep) -> Response:
    now = c.clock.now()
    async with c.db.transaction() as conn:
        challenge = await issue_passkey_challenge(
            conn, purpose="passkey_sign_in", subject_id=PASSKEY_SIGN_IN_SUBJECT, now=now
        )
    options = passkeys.authentication_options(c.settings, challenge=challenge)
    return json_response(
        200,
        {
            "object": "passkey_authentication_options",
            "id": options["challenge"],
            "public_key": options,
        },
    )


@router.post(
    "/v1/auth/passkeys/sign-in",
    response_model=SessionOut,
    responses=ERRORS,
    summary="Sign in with a passkey",
    description="Verifies a passkey assertion made with the sign-in options and opens a session "
    "(aal 2: a passkey is possession and, on the device, a PIN or biometric). Failures are "
    "throttled per address.",
)
async def passkey_sign_in(
    body: schemas.PasskeySignIn, request: Request, c: ContainerDep
) -> Response:
    now = c.clock.now()
    ip_key = throttle_keys("-", devices.client_ip(request))[1] or "ip:unknown"
    await c.throttle.check(PASSKEY_SIGN_IN_IP_RULE, [ip_key], now)
    try:
        async with c.db.transaction() as conn:
            stored = await check_passkey(
                conn,
                c.settings,
                body.credential,
                purpose="passkey_sign_in",
                identity_id=None,
                now=now,
            )
            identity = await _active_person(conn, stored["identity_id"])
            signed_in = await finish_sign_in(
                conn, c, request, user_id=identity.id, aal=2, method="passkey"
            )
    except FAILURES as error:
        await c.throttle.fail(PASSKEY_SIGN_IN_IP_RULE, [ip_key], now)
        subject = getattr(error, "identity_id", None)
        await _second_factor_failed(
            c, AuditContext.from_request(request), subject, error, now, "auth.sign_in_failed"
        )
        raise
    c.mailer.kick()
    return sign_in_response(signed_in, c.settings)


# --- step-up ----------------------------------------------------------------------------------


@router.post(
    "/v1/auth/step-up",
    response_model=schemas.StepUpOut,
    responses=ERRORS,
    summary="Step up the current session",
    description="Proves a second factor or the payment PIN on this session, which unlocks "
    "sensitive actions (`step_up_required`) for `step_up_minutes`. Wrong attempts are "
    "throttled with lockout (PINs separately from codes).",
)
async def step_up_session(
    body: schemas.StepUpIn, request: Request, principal: SessionHolder, c: ContainerDep
) -> Response:
    now = c.clock.now()
    deps = FactorDeps.of(c)
    ctx = AuditContext.from_request(request, principal)
    proof = Proof(body.method, code=body.code, credential=body.credential, pin=body.pin)
    subject = principal.user_id
    try:
        async with c.db.transaction() as conn:
            expires_at = await step_up(conn, deps, principal, proof, now)
            if body.method == "recovery_code":
                identity = await repository.find_identity(conn, principal.id)
                if identity is not None:
                    await _recovery_code_used(conn, deps, ctx, identity)
            await record(
                conn,
                ctx,
                "auth.step_up",
                subject_user_id=subject,
                object_type="session",
                object_id=principal.session_id,
                details={"method": body.method},
            )
    except FAILURES as error:
        await _second_factor_failed(c, ctx, principal.id, error, now, "auth.step_up_failed")
        raise
    c.mailer.kick()
    return json_response(
        200,
        {
            "object": "step_up",
            "id": principal.session_id,
            "method": body.method,
            "stepped_up_at": now,
            "expires_at": expires_at,
        },
    )


@router.post(
    "/v1/auth/step-up/passkey-options",
    response_model=schemas.WebAuthnOptionsOut,
    responses=ERRORS,
    summary="Passkey options to step up",
    description="WebAuthn request options listing the caller's passkeys, for `POST "
    "/v1/auth/step-up` with `method: passkey`.",
)
async def step_up_passkey_options(principal: SessionHolder, c: ContainerDep) -> Response:
    async with c.db.transaction() as conn:
        options = await _assertion_options(
            conn, c, purpose="passkey_step_up", identity_id=principal.id, now=c.clock.now()
        )
    return json_response(200, options)


# --- helpers ----------------------------------------------------------------------------------


async def _assertion_options(
    conn: Any, c: Container, *, purpose: str, identity_id: str, now: datetime
) -> dict[str, Any]:
    allowed = await repository.credential_ids(conn, identity_id)
    challenge = await issue_passkey_challenge(
        conn, purpose=purpose, subject_id=identity_id, now=now
    )
    options = passkeys.authentication_options(c.settings, challenge=challenge, allowed=allowed)
    return {
        "object": "passkey_authentication_options",
        "id": options["challenge"],
        "public_key": options,
    }


async def _active_person(conn: Any, user_id: str) -> Identity:
    identity = await repository.find_identity(conn, user_id)
    if identity is None or identity.is_staff or identity.status != "active":
        raise passkeys.InvalidPasskey("This account can't sign in.")
    return identity


async def _recovery_code_used(
    conn: Any, deps: FactorDeps, ctx: AuditContext, identity: Identity
) -> None:
    remaining = await repository.unused_recovery_codes(conn, identity.id)
    await tell(
        conn,
        deps,
        identity,
        kind="factor.recovery_code_used",
        title="A recovery code was used",
        body=f"A recovery code was used for your finhub account; {remaining} remain unused.",
    )
    await record(
        conn,
        ctx,
        "factor.recovery_code_used",
        subject_user_id=None if identity.is_staff else identity.id,
        details={"remaining": remaining},
    )


async def _second_factor_failed(
    c: Container,
    ctx: AuditContext,
    identity_id: str | None,
    error: Exception,
    now: datetime,
    action: str = "auth.second_factor_failed",
) -> None:
    """Audit the failure; a passkey whose counter went backwards also alerts its owner."""
    code = getattr(error, "code", "invalid")
    person = identity_id if identity_id and identity_id.startswith("usr_") else None
    async with c.db.transaction() as conn:
        if isinstance(error, passkeys.PasskeyCounterRegressed) and error.identity_id:
            identity = await repository.find_identity(conn, error.identity_id)
            if identity is not None:
                await tell(
                    conn,
                    FactorDeps.of(c),
                    identity,
                    kind="factor.passkey_counter_regressed",
                    title="A passkey may have been copied",
                    body="A sign-in used one of your passkeys with an old signature counter, "
                    "which happens when a passkey is copied. It was refused. Remove that "
                    "passkey and register a new one.",
                )
        await record(
            conn,
            ctx,
            action,
            outcome="failure",
            subject_user_id=person,
            object_type="passkey" if isinstance(error, passkeys.PasskeyCounterRegressed) else None,
            object_id=getattr(error, "passkey_id", None),
            details={"reason": code},
        )
    c.mailer.kick()


async def _retire_challenges(c: Container, user_id: str, now: datetime) -> None:
    """A lockout ends the sign-in attempt: the password has to be entered again."""
    async with c.db.transaction() as conn:
        await tokens.revoke_all(conn, purpose=SIGN_IN_CHALLENGE, subject_id=user_id, now=now)
