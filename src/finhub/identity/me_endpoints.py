"""The signed-in person's own account under `/v1/me`: profile, email, password, sessions and
consents.

API keys may read the profile, sessions and consents (`profile:read`) and change the profile
(`profile:write`); the password, the email address and sessions only change from a person's own
session, and a new email or phone number needs a fresh second factor.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from finhub.api import ContainerDep, IdempotentDep, json_response
from finhub.identity import consents, schemas, service, sessions
from finhub.identity.principal import Access, Principal, require_fresh_second_factor
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload

router = APIRouter(prefix="/v1/me", tags=["me"])

PROBLEM = "problem+json with a stable `code`."
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": f"Missing or invalid credentials ({PROBLEM})"},
    403: {"description": f"Not a person's credentials, or a missing scope ({PROBLEM})"},
    422: {"description": f"Invalid request ({PROBLEM})"},
}
STEP_UP: dict[int | str, dict[str, Any]] = {
    403: {"description": f"`step_up_required`: confirm a second factor first ({PROBLEM})"}
}

Reader = Annotated[Principal, Depends(Access("user", "api_key", scopes=("profile:read",)))]
Writer = Annotated[Principal, Depends(Access("user", "api_key", scopes=("profile:write",)))]
Person = Annotated[Principal, Depends(Access("user"))]
SteppedUpPerson = Annotated[Principal, Depends(Access("user", step_up=True))]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
SessionPath = Annotated[str, Path(max_length=64, description="The session's id (`ses_…`).")]


@router.get(
    "",
    response_model=schemas.ProfileOut,
    responses=ERRORS,
    summary="Your profile",
    description="The account of the signed-in person (or of an API key's owner), with the "
    "second factors enrolled.",
)
async def get_me(c: ContainerDep, principal: Reader) -> Response:
    async with c.db.connection() as conn:
        payload = await service.profile(conn, service.person_id(principal))
    return json_response(200, payload)


@router.patch(
    "",
    response_model=schemas.ProfileOut,
    responses={**ERRORS, **STEP_UP},
    summary="Change your profile",
    description="Change the display name, language (`en`, `zh-Hans`, `th`), home currency "
    "(ISO 4217) or phone number. A phone change (or removal, with null) needs a fresh second "
    "factor (`step_up_required`).",
)
async def patch_me(
    body: schemas.ProfilePatch, request: Request, c: ContainerDep, principal: Writer
) -> Response:
    if "phone" in body.model_fields_set:
        require_fresh_second_factor(request, principal)
    async with c.db.transaction() as conn:
        payload = await service.update_profile(conn, c, request, principal, body)
    return json_response(200, payload)


@router.post(
    "/password",
    response_model=schemas.PasswordChangedOut,
    responses={
        **ERRORS,
        403: {"description": f"`invalid_credentials`: the current password is wrong ({PROBLEM})"},
        429: {"description": f"Too many wrong current passwords; see `Retry-After` ({PROBLEM})"},
    },
    summary="Change your password",
    description="Checks the current password, sets the new one (12 to 128 characters, not a "
    "common or breached password), signs out every other session and mails a notice.",
)
async def change_password(
    body: schemas.PasswordChangeIn, request: Request, c: ContainerDep, principal: Person
) -> Response:
    async with c.db.transaction() as conn:
        outcome = await service.change_password(
            conn,
            c,
            request,
            principal,
            current_password=body.current_password,
            new_password=body.new_password,
        )
    if isinstance(outcome, service.Refused):
        raise outcome.error
    c.mailer.kick()
    return json_response(
        200, {"object": "password_change", "status": "changed", "revoked_sessions": outcome}
    )


@router.post(
    "/email",
    status_code=202,
    response_model=schemas.AcceptedOut,
    responses={**ERRORS, **STEP_UP},
    summary="Change your email address",
    description="Mails a confirmation link to the new address; the account switches when "
    "the link is used (`POST /v1/auth/verify-email`), and the old address gets a notice. "
    "Needs a fresh second factor. The answer is the same whether or not the new address "
    "is taken.",
)
async def change_email(
    body: schemas.EmailChangeIn, request: Request, c: ContainerDep, principal: SteppedUpPerson
) -> Response:
    async with c.db.transaction() as conn:
        await service.request_email_change(conn, c, request, principal, body.new_email)
    c.mailer.kick()
    return json_response(
        202,
        {
            "object": "email_change",
            "status": "accepted",
            "message": "If the address can be used, a confirmation link is on its way to it.",
        },
    )


@router.get(
    "/sessions",
    response_model=Page[schemas.SessionInfoOut],
    responses=ERRORS,
    summary="Your signed-in sessions",
    description="Live sessions, newest first; `current` marks the one making this request.",
)
async def list_sessions(
    c: ContainerDep,
    principal: Reader,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    user_id = service.person_id(principal)
    async with c.db.connection() as conn:
        live = await sessions.list_sessions(conn, c.clock.now(), user_id)
    if starting_after is not None:
        ids = [info.id for info in live]
        live = live[ids.index(starting_after) + 1 :] if starting_after in ids else []
    return json_response(
        200,
        page_payload(
            live[: limit + 1],
            limit,
            lambda info: service.session_item(info, principal.session_id),
            lambda info: info.id,
        ),
    )


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    responses={**ERRORS, 404: {"description": f"No such session of yours ({PROBLEM})"}},
    summary="Sign out one session",
    description="Ends one of your sessions at once (another device, or this one).",
)
async def revoke_session(
    session_id: SessionPath, request: Request, c: ContainerDep, principal: Person
) -> Response:
    async with c.db.transaction() as conn:
        await service.revoke_session(conn, c, request, principal, session_id)
    return Response(status_code=204)


@router.post(
    "/sessions/revoke-others",
    response_model=schemas.RevokedOut,
    responses=ERRORS,
    summary="Sign out your other devices",
    description="Ends every session except the one making this request.",
)
async def revoke_other_sessions(request: Request, c: ContainerDep, principal: Person) -> Response:
    async with c.db.transaction() as conn:
        revoked = await service.revoke_other_sessions(conn, c, request, principal)
    return json_response(200, {"object": "session_revocation", "revoked_sessions": revoked})


@router.get(
    "/consents",
    response_model=schemas.ConsentsOut,
    responses=ERRORS,
    summary="Your consents",
    description="The terms and privacy versions you accepted and the current ones, and your "
    "marketing choice.",
)
async def get_consents(c: ContainerDep, principal: Reader) -> Response:
    async with c.db.connection() as conn:
        payload = await consents.summary(conn, service.person_id(principal))
    return json_response(200, payload)


@router.post(
    "/consents",
    response_model=schemas.ConsentsOut,
    responses=ERRORS,
    summary="Change your consents",
    description="Opt in to or out of marketing, or accept the current terms or privacy "
    "version (`consent_version_mismatch` for any other). Every change is kept as a record.",
)
async def update_consents(
    body: schemas.ConsentsIn,
    request: Request,
    c: ContainerDep,
    principal: Person,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        payload = await consents.update(conn, c, request, principal, body)
        return await idem.respond(conn, 200, payload)
