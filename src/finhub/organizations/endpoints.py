"""REST endpoints of organisations under `/v1/organizations`: the organisation, its members,
custom roles, teams and invitations.

Endpoints parse the request and say who may call them; the services decide, from the caller's
role read fresh from the database, what they may do in the organisation. An organisation the
caller is not in answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from finhub.api import ContainerDep, IdempotentDep, json_response
from finhub.audit.service import AuditContext
from finhub.identity.principal import Access, Principal
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload
from finhub.organizations import invitations, members, roles, schemas, service, teams
from finhub.organizations.access import Caller

router = APIRouter(prefix="/v1/organizations", tags=["organizations"])

PEOPLE = Access("user")
READ = Access("user", "api_key", scopes=("organizations:read",))
WRITE = Access("user", "api_key", scopes=("organizations:write",))
Person = Annotated[Principal, Depends(PEOPLE)]
Reader = Annotated[Principal, Depends(READ)]
Writer = Annotated[Principal, Depends(WRITE)]

OrganizationPath = Annotated[str, Path(max_length=64, description="The organisation (`org_…`).")]
MemberPath = Annotated[str, Path(max_length=64, description="The member (`mem_…`).")]
RolePath = Annotated[str, Path(max_length=64, description="The custom role (`role_…`).")]
TeamPath = Annotated[str, Path(max_length=64, description="The team (`team_…`).")]
InvitationPath = Annotated[str, Path(max_length=64, description="The invitation (`inv_…`).")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
After = Annotated[str | None, Query(max_length=64, description="The last id of the previous page.")]


def _problem(description: str) -> dict[str, str]:
    return {"description": f"{description} (problem+json)."}


AUTH: dict[int | str, dict[str, Any]] = {
    401: _problem("Missing or invalid credentials"),
    403: _problem(
        "The credentials can't be used here, the API key lacks the scope, or the caller's "
        "role lacks the permission"
    ),
    404: _problem("No such organisation (or object in it), or the caller is not a member"),
}
INVALID: dict[int | str, dict[str, Any]] = {422: _problem("Invalid request")}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _problem("Conflicts with the organisation's current state")
}
CHANGES: dict[int | str, dict[str, Any]] = {**AUTH, **INVALID}
WRITES: dict[int | str, dict[str, Any]] = {**CHANGES, **CONFLICT}
PERSON: dict[int | str, dict[str, Any]] = {
    401: AUTH[401],
    403: _problem("Only a signed-in person can do this (`wrong_principal_type`)"),
}


def _caller(request: Request, principal: Principal, c: ContainerDep) -> Caller:
    return Caller(principal, AuditContext.from_request(request, principal), c.clock.now())


# --- organisations ----------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    response_model=schemas.OrganizationOut,
    responses={**PERSON, **CONFLICT, **INVALID},
    summary="Create an organisation",
    description="A signed-in person registers an organisation (legal name, registration "
    "number, ISO 3166-1 country) and becomes its first owner. A registration number is "
    "unique per country (409 `registration_number_taken`).",
)
async def create_organization(
    body: schemas.OrganizationCreate,
    request: Request,
    principal: Person,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        row = await service.create_organization(conn, _caller(request, principal, c), body)
        return await idem.respond(conn, 201, schemas.organization_out(row))


@router.get(
    "",
    response_model=Page[schemas.OrganizationOut],
    responses={401: AUTH[401], 403: AUTH[403]},
    summary="List my organisations",
    description="The organisations the caller is a member of, newest first. An "
    "organisation's API key sees its own organisation.",
)
async def list_organizations(
    principal: Reader, c: ContainerDep, limit: Limit = DEFAULT_LIMIT, starting_after: After = None
) -> Response:
    async with c.db.connection() as conn:
        rows = await service.list_organizations(
            conn, principal, limit=limit + 1, starting_after=starting_after
        )
    return json_response(200, page_payload(rows, limit, schemas.organization_out, _id))


@router.post(
    "/invitations/preview",
    response_model=schemas.InvitationPreviewOut,
    responses={
        400: _problem("The token is invalid, expired, revoked or used (`invalid_token`)"),
        422: _problem("Invalid request"),
    },
    summary="Preview an invitation",
    description="Shows which organisation and role an invitation token offers, without "
    "using it up, so the invited person can sign up or sign in before accepting. The token "
    "travels in the body, never in a URL.",
)
async def preview_invitation(body: schemas.InvitationToken, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        invitation, organization = await invitations.preview(conn, body.token, c.clock.now())
    return json_response(200, schemas.invitation_preview_out(invitation, organization))


@router.post(
    "/invitations/accept",
    status_code=201,
    response_model=schemas.MemberOut,
    responses={
        **PERSON,
        **CONFLICT,
        **INVALID,
        400: _problem("The token is invalid, expired, revoked or used (`invalid_token`)"),
        403: _problem(
            "Not a signed-in person, or the person's verified email is not the invited one "
            "(`invitation_email_mismatch`)"
        ),
    },
    summary="Accept an invitation",
    description="The signed-in person whose verified email address was invited becomes a "
    "member with the invited role (and teams). The token works once.",
)
async def accept_invitation(
    body: schemas.InvitationToken,
    request: Request,
    principal: Person,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        member = await invitations.accept(conn, _caller(request, principal, c), body.token)
        return await idem.respond(conn, 201, schemas.member_out(member))


@router.get(
    "/{organization_id}",
    response_model=schemas.OrganizationOut,
    responses=AUTH,
    summary="Get an organisation",
    description="Any member may see the organisation's details.",
)
async def get_organization(
    organization_id: OrganizationPath, principal: Reader, c: ContainerDep
) -> Response:
    async with c.db.connection() as conn:
        row = await service.get_organization(conn, principal, organization_id)
    return json_response(200, schemas.organization_out(row))


@router.patch(
    "/{organization_id}",
    response_model=schemas.OrganizationOut,
    responses=CHANGES,
    summary="Change an organisation",
    description="Change the legal or display name (`org:manage`). The registration number "
    "and country identify the legal entity and can't change.",
)
async def update_organization(
    organization_id: OrganizationPath,
    body: schemas.OrganizationUpdate,
    request: Request,
    principal: Writer,
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        row = await service.update_organization(
            conn, _caller(request, principal, c), organization_id, body
        )
    return json_response(200, schemas.organization_out(row))


@router.get(
    "/{organization_id}/permissions",
    response_model=schemas.PermissionMatrixOut,
    responses=AUTH,
    summary="The permissions matrix",
    description="Every permission and which built-in roles hold it. Custom roles are listed "
    "under `/roles`.",
)
async def get_permissions(
    organization_id: OrganizationPath, principal: Reader, c: ContainerDep
) -> Response:
    async with c.db.connection() as conn:
        matrix = await service.permission_matrix(conn, principal, organization_id)
    return json_response(200, schemas.permission_matrix_out(organization_id, matrix))


# --- members ----------------------------------------------------------------------------------


@router.get(
    "/{organization_id}/members",
    response_model=Page[schemas.MemberOut],
    responses=AUTH,
    summary="List members",
    description="Newest first, with each member's role and teams (`members:read`).",
)
async def list_members(
    organization_id: OrganizationPath,
    principal: Reader,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: After = None,
) -> Response:
    async with c.db.connection() as conn:
        rows = await members.list_members(
            conn, principal, organization_id, limit=limit + 1, starting_after=starting_after
        )
    return json_response(200, page_payload(rows, limit, schemas.member_out, _id))


@router.get(
    "/{organization_id}/members/{member_id}",
    response_model=schemas.MemberOut,
    responses=AUTH,
    summary="Get a member",
    description="`members:read`.",
)
async def get_member(
    organization_id: OrganizationPath, member_id: MemberPath, principal: Reader, c: ContainerDep
) -> Response:
    async with c.db.connection() as conn:
        row = await members.get_member(conn, principal, organization_id, member_id)
    return json_response(200, schemas.member_out(row))


@router.patch(
    "/{organization_id}/members/{member_id}",
    response_model=schemas.MemberOut,
    responses=WRITES,
    summary="Change a member's role",
    description="`members:manage`. Takes effect on the member's next request. Nobody grants a "
    "role holding permissions they lack; only an owner makes or unmakes an owner (403 "
    "`owner_required`); the last owner can't be demoted (409 `last_owner`).",
)
async def update_member(
    organization_id: OrganizationPath,
    member_id: MemberPath,
    body: schemas.MemberUpdate,
    request: Request,
    principal: Writer,
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        row = await members.change_role(
            conn, _caller(request, principal, c), organization_id, member_id, body.role
        )
    return json_response(200, schemas.member_out(row))


@router.delete(
    "/{organization_id}/members/{member_id}",
    response_model=schemas.DeletedOut,
    responses={**AUTH, **CONFLICT},
    summary="Remove a member, or leave",
    description="Removing someone else needs `members:manage` (an owner only by an owner); "
    "any member may remove themselves to leave. The last owner can't be removed or leave "
    "(409 `last_owner`).",
)
async def delete_member(
    organization_id: OrganizationPath,
    member_id: MemberPath,
    request: Request,
    principal: Writer,
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        await members.remove_member(
            conn, _caller(request, principal, c), organization_id, member_id
        )
    return json_response(200, schemas.deleted_out("organization_member", member_id))


# --- custom roles -----------------------------------------------------------------------------


@router.post(
    "/{organization_id}/roles",
    status_code=201,
    response_model=schemas.RoleOut,
    responses=WRITES,
    summary="Create a custom role",
    description="A named set of permissions (`roles:manage`), within the creator's own "
    "permissions. Names are unique per organisation and can't be a built-in role's.",
)
async def create_role(
    organization_id: OrganizationPath,
    body: schemas.RoleCreate,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        row = await roles.create_role(conn, _caller(request, principal, c), organization_id, body)
        return await idem.respond(conn, 201, schemas.role_out(row))


@router.get(
    "/{organization_id}/roles",
    response_model=Page[schemas.RoleOut],
    responses=AUTH,
    summary="List custom roles",
    description="Newest first (`members:read`). The built-in roles are in `/permissions`.",
)
async def list_roles(
    organization_id: OrganizationPath,
    principal: Reader,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: After = None,
) -> Response:
    async with c.db.connection() as conn:
        rows = await roles.list_roles(
            conn, principal, organization_id, limit=limit + 1, starting_after=starting_after
        )
    return json_response(200, page_payload(rows, limit, schemas.role_out, _id))


@router.get(
    "/{organization_id}/roles/{role_id}",
    response_model=schemas.RoleOut,
    responses=AUTH,
    summary="Get a custom role",
    description="`members:read`.",
)
async def get_role(
    organization_id: OrganizationPath, role_id: RolePath, principal: Reader, c: ContainerDep
) -> Response:
    async with c.db.connection() as conn:
        row = await roles.get_role(conn, principal, organization_id, role_id)
    return json_response(200, schemas.role_out(row))


@router.patch(
    "/{organization_id}/roles/{role_id}",
    response_model=schemas.RoleOut,
    responses=WRITES,
    summary="Change a custom role",
    description="Rename it or change its permissions (`roles:manage`); members holding it "
    "get the new permissions on their next request.",
)
async def update_role(
    organization_id: OrganizationPath,
    role_id: RolePath,
    body: schemas.RoleUpdate,
    request: Request,
    principal: Writer,
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        row = await roles.update_role(
            conn, _caller(request, principal, c), organization_id, role_id, body
        )
    return json_response(200, schemas.role_out(row))


@router.delete(
    "/{organization_id}/roles/{role_id}",
    response_model=schemas.DeletedOut,
    responses=WRITES,
    summary="Delete a custom role",
    description="`roles:manage`. A role that members hold or open invitations offer can't be "
    "deleted (409 `role_in_use`).",
)
async def delete_role(
    organization_id: OrganizationPath,
    role_id: RolePath,
    request: Request,
    principal: Writer,
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        await roles.delete_role(conn, _caller(request, principal, c), organization_id, role_id)
    return json_response(200, schemas.deleted_out("organization_role", role_id))


# --- invitations ------------------------------------------------------------------------------


@router.post(
    "/{organization_id}/invitations",
    status_code=201,
    response_model=schemas.InvitationOut,
    responses=WRITES,
    summary="Invite someone by email",
    description="`members:manage`. Mails a single-use link valid for 7 days; the invitation "
    "names the role (and optionally teams) the person gets on accepting. A new invitation to "
    "the same address replaces the open one.",
)
async def create_invitation(
    organization_id: OrganizationPath,
    body: schemas.InvitationCreate,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    caller = _caller(request, principal, c)
    async with c.db.transaction() as conn:
        invitation, _token = await invitations.invite(
            conn, caller, organization_id, body, mailer=c.mailer, public_url=c.settings.public_url
        )
        response = await idem.respond(conn, 201, schemas.invitation_out(invitation, caller.now))
    c.mailer.kick()
    return response


@router.get(
    "/{organization_id}/invitations",
    response_model=Page[schemas.InvitationOut],
    responses=AUTH,
    summary="List invitations",
    description="Newest first (`members:read`); filter by stored status.",
)
async def list_invitations(
    organization_id: OrganizationPath,
    principal: Reader,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: After = None,
    status: Literal["pending", "accepted", "revoked"] | None = None,
) -> Response:
    now = c.clock.now()
    async with c.db.connection() as conn:
        rows = await invitations.list_invitations(
            conn,
            principal,
            organization_id,
            status=status,
            limit=limit + 1,
            starting_after=starting_after,
        )
    payload = page_payload(rows, limit, lambda row: schemas.invitation_out(row, now), _id)
    return json_response(200, payload)


@router.get(
    "/{organization_id}/invitations/{invitation_id}",
    response_model=schemas.InvitationOut,
    responses=AUTH,
    summary="Get an invitation",
    description="`members:read`.",
)
async def get_invitation(
    organization_id: OrganizationPath,
    invitation_id: InvitationPath,
    principal: Reader,
    c: ContainerDep,
) -> Response:
    async with c.db.connection() as conn:
        row = await invitations.get_invitation(conn, principal, organization_id, invitation_id)
    return json_response(200, schemas.invitation_out(row, c.clock.now()))


@router.delete(
    "/{organization_id}/invitations/{invitation_id}",
    response_model=schemas.InvitationOut,
    responses=WRITES,
    summary="Revoke an invitation",
    description="`members:manage`. Its link stops working at once; an invitation that is "
    "accepted or revoked already answers 409 `invitation_closed`.",
)
async def revoke_invitation(
    organization_id: OrganizationPath,
    invitation_id: InvitationPath,
    request: Request,
    principal: Writer,
    c: ContainerDep,
) -> Response:
    caller = _caller(request, principal, c)
    async with c.db.transaction() as conn:
        row = await invitations.revoke(conn, caller, organization_id, invitation_id)
    return json_response(200, schemas.invitation_out(row, caller.now))


# --- teams ------------------------------------------------------------------------------------


@router.post(
    "/{organization_id}/teams",
    status_code=201,
    response_model=schemas.TeamOut,
    responses=WRITES,
    summary="Create a team",
    description="A department grouping members (`teams:manage`); names are unique per "
    "organisation.",
)
async def create_team(
    organization_id: OrganizationPath,
    body: schemas.TeamCreate,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        row = await teams.create_team(conn, _caller(request, principal, c), organization_id, body)
        return await idem.respond(conn, 201, schemas.team_out(row))


@router.get(
    "/{organization_id}/teams",
    response_model=Page[schemas.TeamOut],
    responses=AUTH,
    summary="List teams",
    description="Newest first (`members:read`).",
)
async def list_teams(
    organization_id: OrganizationPath,
    principal: Reader,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: After = None,
) -> Response:
    async with c.db.connection() as conn:
        rows = await teams.list_teams(
            conn, principal, organization_id, limit=limit + 1, starting_after=starting_after
        )
    return json_response(200, page_payload(rows, limit, schemas.team_out, _id))


@router.get(
    "/{organization_id}/teams/{team_id}",
    response_model=schemas.TeamOut,
    responses=AUTH,
    summary="Get a team",
    description="`members:read`.",
)
async def get_team(
    organization_id: OrganizationPath, team_id: TeamPath, principal: Reader, c: ContainerDep
) -> Response:
    async with c.db.connection() as conn:
        row = await teams.get_team(conn, principal, organization_id, team_id)
    return json_response(200, schemas.team_out(row))


@router.patch(
    "/{organization_id}/teams/{team_id}",
    response_model=schemas.TeamOut,
    responses=WRITES,
    summary="Change a team",
    description="Rename it or change its description (`teams:manage`).",
)
async def update_team(
    organization_id: OrganizationPath,
    team_id: TeamPath,
    body: schemas.TeamUpdate,
    request: Request,
    principal: Writer,
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        row = await teams.update_team(
            conn, _caller(request, principal, c), organization_id, team_id, body
        )
    return json_response(200, schemas.team_out(row))


@router.delete(
    "/{organization_id}/teams/{team_id}",
    response_model=schemas.DeletedOut,
    responses=AUTH,
    summary="Delete a team",
    description="`teams:manage`. Its members stay in the organisation.",
)
async def delete_team(
    organization_id: OrganizationPath,
    team_id: TeamPath,
    request: Request,
    principal: Writer,
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        await teams.delete_team(conn, _caller(request, principal, c), organization_id, team_id)
    return json_response(200, schemas.deleted_out("organization_team", team_id))


@router.get(
    "/{organization_id}/teams/{team_id}/members",
    response_model=Page[schemas.MemberOut],
    responses=AUTH,
    summary="List a team's members",
    description="Newest member first (`members:read`).",
)
async def list_team_members(
    organization_id: OrganizationPath,
    team_id: TeamPath,
    principal: Reader,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: After = None,
) -> Response:
    async with c.db.connection() as conn:
        rows = await teams.list_team_members(
            conn,
            principal,
            organization_id,
            team_id,
            limit=limit + 1,
            starting_after=starting_after,
        )
    return json_response(200, page_payload(rows, limit, schemas.member_out, _id))


@router.post(
    "/{organization_id}/teams/{team_id}/members",
    status_code=201,
    response_model=schemas.MemberOut,
    responses=CHANGES,
    summary="Add a member to a team",
    description="`teams:manage`. The member must belong to the organisation (404 "
    "`member_not_found`). Adding someone already in the team answers 200.",
)
async def add_team_member(
    organization_id: OrganizationPath,
    team_id: TeamPath,
    body: schemas.TeamMemberAdd,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        member, added = await teams.add_team_member(
            conn, _caller(request, principal, c), organization_id, team_id, body.member_id
        )
        return await idem.respond(conn, 201 if added else 200, schemas.member_out(member))


@router.delete(
    "/{organization_id}/teams/{team_id}/members/{member_id}",
    response_model=schemas.DeletedOut,
    responses=AUTH,
    summary="Remove a member from a team",
    description="`teams:manage`. The member stays in the organisation.",
)
async def remove_team_member(
    organization_id: OrganizationPath,
    team_id: TeamPath,
    member_id: MemberPath,
    request: Request,
    principal: Writer,
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        await teams.remove_team_member(
            conn, _caller(request, principal, c), organization_id, team_id, member_id
        )
    return json_response(200, schemas.deleted_out("organization_team_member", member_id))


def _id(row: Any) -> str:
    return str(row["id"])
