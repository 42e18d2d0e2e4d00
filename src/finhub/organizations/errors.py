"""The organisation rules a request can break, each a 4xx with a stable code."""

from __future__ import annotations

from finhub.errors import Conflict, Forbidden, NotFound


class OrganizationNotFound(NotFound):
    """No such organisation, or the caller is not in it: the two answer alike."""

    code = "organization_not_found"
    title = "Organisation not found"


class PermissionDenied(Forbidden):
    code = "permission_denied"
    title = "Your role does not allow this"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"
    title = "The API key lacks a scope"


class PeopleOnly(Forbidden):
    code = "wrong_principal_type"
    title = "Only a person can do this"


class RegistrationTaken(Conflict):
    code = "registration_number_taken"
    title = "Registration number already registered"


class LastOwner(Conflict):
    code = "last_owner"
    title = "An organisation needs an owner"


class OwnersOnly(Forbidden):
    code = "owner_required"
    title = "Only an owner can do this"


class RoleNotFound(NotFound):
    code = "role_not_found"
    title = "Role not found"


class RoleNameTaken(Conflict):
    code = "role_name_taken"
    title = "Role name already used"


class RoleInUse(Conflict):
    code = "role_in_use"
    title = "Role in use"


class BuiltInRoleImmutable(Conflict):
    code = "built_in_role"
    title = "Built-in roles can't be changed"


class MemberNotFound(NotFound):
    code = "member_not_found"
    title = "Member not found"


class AlreadyMember(Conflict):
    code = "already_member"
    title = "Already a member"


class InvitationNotFound(NotFound):
    code = "invitation_not_found"
    title = "Invitation not found"


class InvitationClosed(Conflict):
    code = "invitation_closed"
    title = "Invitation no longer open"


class InvitationEmailMismatch(Forbidden):
    code = "invitation_email_mismatch"
    title = "The invitation is for another email address"


class TeamNotFound(NotFound):
    code = "team_not_found"
    title = "Team not found"


class TeamNameTaken(Conflict):
    code = "team_name_taken"
    title = "Team name already used"
