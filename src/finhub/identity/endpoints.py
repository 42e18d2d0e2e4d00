"""Sign-up, email verification, sign-in, sign-out and password reset under `/v1/auth`.

These are public (no credentials) except sign-out. Answers never tell whether an address has an
account: sign-up, resend and reset always answer 202 with the same body, and a sign-in with an
unknown address fails exactly like one with a wrong password.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from finhub.api import ContainerDep, json_response
from finhub.identity import schemas, service, sessions
from finhub.identity.principal import Access, Principal

router = APIRouter(prefix="/v1/auth", tags=["auth"])

PROBLEM = "problem+json with a stable `code`."
ACCEPTED = {
    "object": "request",
    "status": "accepted",
    "message": "If the address can be used, a mail with a link is on its way.",
}
INVALID: dict[int | str, dict[str, Any]] = {422: {"description": f"Invalid request ({PROBLEM})"}}
THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"description": f"Too many attempts; see `Retry-After` ({PROBLEM})"}
}
BAD_TOKEN: dict[int | str, dict[str, Any]] = {
    400: {"description": f"`invalid_token`: invalid, expired or already used ({PROBLEM})"}
}
RULES_FOR_NEW_SECRETS = (
    " Passwords have 12 to 128 characters (any characters, spaces and emoji included, no "
    "composition rules) and must not be a common or breached password (`password_too_short`, "
    "`password_too_long`, `password_too_common`, `password_contains_personal_info`)."
)


def _accepted(obj: str) -> Response:
    return json_response(202, {**ACCEPTED, "object": obj})


@router.post(
    "/sign-up",
    status_code=202,
    response_model=schemas.AcceptedOut,
    responses=INVALID,
    summary="Sign up",
    description="Create an account and mail a verification link. The answer is the same "
    "whether or not the address already has an account (its owner gets a warning mail "
    "instead). Accept the current terms and privacy versions (`GET /v1/me/consents` shows "
    "them; a mismatch is `consent_version_mismatch`); marketing is a separate opt-in."
    + RULES_FOR_NEW_SECRETS,
)
async def sign_up(body: schemas.SignUpIn, request: Request, c: ContainerDep) -> Response:
    async with c.db.transaction() as conn:
        await service.sign_up(conn, c, request, body)
    c.mailer.kick()
    return _accepted("sign_up")


@router.post(
    "/verify-email",
    response_model=schemas.EmailVerifiedOut,
    responses={**BAD_TOKEN, **INVALID, 409: {"description": f"`email_taken` ({PROBLEM})"}},
    summary="Verify an email address",
    description="Use the token from a verification link: activates a new account, or "
    "switches the account to a new address after `POST /v1/me/email`. Each link works once.",
)
async def verify_email(body: schemas.TokenIn, request: Request, c: ContainerDep) -> Response:
    async with c.db.transaction() as conn:
        user = await service.verify_email(conn, c, request, body.token)
    c.mailer.kick()
    return json_response(
        200, {"object": "email_verification", "status": "verified", "email": user.email}
    )


@router.post(
    "/verify-email/resend",
    status_code=202,
    response_model=schemas.AcceptedOut,
    responses={**INVALID, **THROTTLED},
    summary="Send a new verification link",
    description="Mails a new link (superseding older ones) if the address awaits "
    "verification; the answer is always the same.",
)
async def resend_verification(body: schemas.EmailIn, request: Request, c: ContainerDep) -> Response:
    async with c.db.transaction() as conn:
        await service.resend_verification(conn, c, request, body.email)
    c.mailer.kick()
    return _accepted("verification_resend")


@router.post(
    "/sign-in",
    response_model=schemas.SessionOut | schemas.SignInChallengeOut,
    responses={
        **INVALID,
        **THROTTLED,
        401: {"description": f"`invalid_credentials` ({PROBLEM})"},
        403: {"description": f"`email_not_verified` or `account_disabled` ({PROBLEM})"},
    },
    summary="Sign in with email and password",
    description="Answers a session (token in the body, HttpOnly session cookie, device "
    "cookie) or, when the person has a second factor, a `sign_in_challenge` to complete with "
    "`POST /v1/auth/sign-in/second-factor`. Failures are throttled per account and per "
    "address with exponentially growing lockouts (429 with `Retry-After`).",
)
async def sign_in(body: schemas.SignInIn, request: Request, c: ContainerDep) -> Response:
    async with c.db.transaction() as conn:
        outcome = await service.sign_in(conn, c, request, email=body.email, password=body.password)
    c.mailer.kick()  # a lockout notice, or a new-device alert
    if isinstance(outcome, service.Refused):
        raise outcome.error
    if isinstance(outcome, service.SignInChallenge):
        return json_response(200, outcome.payload())
    return service.sign_in_response(outcome, c.settings)


@router.post(
    "/sign-out",
    status_code=204,
    responses={401: {"description": f"Not signed in ({PROBLEM})"}},
    summary="Sign out",
    description="Ends the current session at once and clears the session cookie.",
)
async def sign_out(
    request: Request,
    c: ContainerDep,
    principal: Annotated[Principal, Depends(Access("user"))],
) -> Response:
    async with c.db.transaction() as conn:
        await service.sign_out(conn, c, request, principal)
    response = Response(status_code=204)
    sessions.clear_session_cookie(response, c.settings)
    return response


@router.post(
    "/password-reset",
    status_code=202,
    response_model=schemas.AcceptedOut,
    responses={**INVALID, **THROTTLED},
    summary="Ask for a password reset link",
    description="Mails a single-use reset link (valid for an hour; it supersedes earlier "
    "ones) if the address has an account. The answer is always the same.",
)
async def request_password_reset(
    body: schemas.EmailIn, request: Request, c: ContainerDep
) -> Response:
    async with c.db.transaction() as conn:
        await service.request_password_reset(conn, c, request, body.email)
    c.mailer.kick()
    return _accepted("password_reset")


@router.post(
    "/password-reset/confirm",
    status_code=204,
    responses={**BAD_TOKEN, **INVALID, **THROTTLED},
    summary="Set a new password from a reset link",
    description="Sets the new password, ends every session of the account and mails a "
    "notice. A refused password leaves the link usable." + RULES_FOR_NEW_SECRETS,
)
async def confirm_password_reset(
    body: schemas.PasswordResetConfirmIn, request: Request, c: ContainerDep
) -> Response:
    async with c.db.transaction() as conn:
        await service.confirm_password_reset(
            conn, c, request, signed=body.token, new_password=body.new_password
        )
    c.mailer.kick()
    return Response(status_code=204)
