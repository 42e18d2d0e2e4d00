"""Request and response shapes of the organisations API.

Responses are built as plain dicts by the `*_out` functions; the Pydantic models document them
in OpenAPI and the tests check the dicts against them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from finhub.kit.db.engine import Row
from finhub.organizations.countries import is_country_code
from finhub.organizations.permissions import BUILT_IN_ROLES, PERMISSIONS, ROLE_DESCRIPTIONS


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain the NUL character")
    return value


def _country(value: str) -> str:
    if not is_country_code(value):
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return value


def _registration(value: str) -> str:
    if not any(char.isascii() and char.isalnum() for char in value):
        raise ValueError("a registration number needs at least one letter or digit")
    return value


def _role(value: str) -> str:
    if value in BUILT_IN_ROLES or value.startswith("role_"):
        return value
    raise ValueError(f"a built-in role ({', '.join(BUILT_IN_ROLES)}) or a custom role id")


def _permissions(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - PERMISSIONS.keys())
    if unknown:
        raise ValueError(f"unknown permissions: {', '.join(unknown)}")
    return sorted(set(value))


def _role_name(value: str) -> str:
    if value.lower() in BUILT_IN_ROLES:
        raise ValueError("that name belongs to a built-in role")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(_no_nul)
]
Country = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, min_length=2, max_length=2),
    AfterValidator(_country),
    Field(description="ISO 3166-1 alpha-2 code, e.g. `DE`.", examples=["DE"]),
]
RegistrationNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_no_nul),
    AfterValidator(_registration),
]
RoleRef = Annotated[
    str,
    StringConstraints(min_length=1, max_length=40),
    AfterValidator(_role),
    Field(description="A built-in role name or a custom role id (`role_…`).", examples=["maker"]),
]
PermissionList = Annotated[
    list[Annotated[str, StringConstraints(max_length=40)]],
    Field(min_length=1, max_length=len(PERMISSIONS)),
    AfterValidator(_permissions),
]
RoleName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_no_nul),
    AfterValidator(_role_name),
]
TeamName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_nul),
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z]+_[0-9A-Z]+$")]
# Deliverability is proven by the invitation mail itself; this only refuses what can't be an
# address at all.
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
    AfterValidator(_no_nul),
    Field(examples=["ada@example.com"]),
]
Token = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Fields a PATCH may leave out but not set to null.
    not_nullable: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _sent_fields_not_null(self) -> Self:
        for name in self.not_nullable:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} can't be null")
        return self


class OrganizationCreate(Input):
    legal_name: Name
    registration_number: RegistrationNumber
    country: Country
    display_name: Name | None = None


class OrganizationUpdate(Input):
    """The registration number and country identify the legal entity, so they can't change."""

    not_nullable = ("legal_name",)

    legal_name: Name | None = None
    display_name: Name | None = None


class MemberUpdate(Input):
    role: RoleRef


class RoleCreate(Input):
    name: RoleName
    permissions: PermissionList
    description: Description | None = None


class RoleUpdate(Input):
    not_nullable = ("name", "permissions")
    name: RoleName | None = None
    permissions: PermissionList | None = None
    description: Description | None = None


class TeamCreate(Input):
    name: TeamName
    description: Description | None = None


class TeamUpdate(Input):
    not_nullable = ("name",)
    name: TeamName | None = None
    description: Description | None = None


class TeamMemberAdd(Input):
    member_id: Id


class InvitationCreate(Input):
    email: Email
    role: RoleRef
    team_ids: Annotated[list[Id], Field(max_length=50)] = []


class InvitationToken(Input):
    token: Token


# --- responses --------------------------------------------------------------------------------


class OrganizationOut(BaseModel):
    object: Literal["organization"]
    id: str
    legal_name: str
    display_name: str | None
    registration_number: str
    country: str
    created_at: datetime
    updated_at: datetime


class MemberOut(BaseModel):
    object: Literal["organization_member"]
    id: str
    organization_id: str
    user_id: str
    email: str
    display_name: str | None
    role: str = Field(description="A built-in role name or a custom role id.")
    role_name: str
    team_ids: list[str]
    joined_at: datetime
    updated_at: datetime


class RoleOut(BaseModel):
    object: Literal["organization_role"]
    id: str
    organization_id: str
    name: str
    description: str | None
    permissions: list[str]
    created_at: datetime
    updated_at: datetime


class PermissionOut(BaseModel):
    id: str
    description: str


class BuiltInRoleOut(BaseModel):
    id: str
    description: str
    permissions: list[str]


class PermissionMatrixOut(BaseModel):
    object: Literal["permission_matrix"]
    id: str = Field(description="The organisation's id.")
    permissions: list[PermissionOut]
    roles: list[BuiltInRoleOut] = Field(description="The built-in roles.")


class TeamOut(BaseModel):
    object: Literal["organization_team"]
    id: str
    organization_id: str
    name: str
    description: str | None
    member_count: int
    created_at: datetime
    updated_at: datetime


class InvitationOut(BaseModel):
    object: Literal["organization_invitation"]
    id: str
    organization_id: str
    email: str
    role: str | None = Field(description="Null once a custom role it named is deleted.")
    role_name: str | None
    team_ids: list[str]
    status: Literal["pending", "accepted", "revoked", "expired"]
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class InvitationPreviewOut(BaseModel):
    object: Literal["organization_invitation_preview"]
    id: str
    organization_id: str
    organization_name: str
    email: str
    role: str | None
    role_name: str | None
    expires_at: datetime


class DeletedOut(BaseModel):
    object: str
    id: str
    deleted: Literal[True]


def organization_out(row: Row) -> dict[str, Any]:
    return {
        "object": "organization",
        "id": row["id"],
        "legal_name": row["legal_name"],
        "display_name": row["display_name"],
        "registration_number": row["registration_number"],
        "country": row["country"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def member_out(row: Row) -> dict[str, Any]:
    return {
        "object": "organization_member",
        "id": row["id"],
        "organization_id": row["organization_id"],
        "user_id": row["user_id"],
        "email": row["email"],
        "display_name": row["display_name"],
        "role": row["role"],
        "role_name": row["role_name"],
        "team_ids": list(row["team_ids"]),
        "joined_at": row["joined_at"],
        "updated_at": row["updated_at"],
    }


def role_out(row: Row) -> dict[str, Any]:
    return {
        "object": "organization_role",
        "id": row["id"],
        "organization_id": row["organization_id"],
        "name": row["name"],
        "description": row["description"],
        "permissions": sorted(row["permissions"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def permission_matrix_out(organization_id: str, roles: dict[str, frozenset[str]]) -> dict[str, Any]:
    return {
        "object": "permission_matrix",
        "id": organization_id,
        "permissions": [{"id": key, "description": text} for key, text in PERMISSIONS.items()],
        "roles": [
            {
                "id": role,
                "description": ROLE_DESCRIPTIONS[role],
                "permissions": [p for p in PERMISSIONS if p in roles[role]],
            }
            for role in BUILT_IN_ROLES
        ],
    }


def team_out(row: Row) -> dict[str, Any]:
    return {
        "object": "organization_team",
        "id": row["id"],
        "organization_id": row["organization_id"],
        "name": row["name"],
        "description": row["description"],
        "member_count": row["member_count"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def invitation_status(row: Row, now: datetime) -> str:
    if row["status"] == "pending" and row["expires_at"] <= now:
        return "expired"
    return str(row["status"])


def invitation_out(row: Row, now: datetime) -> dict[str, Any]:
    return {
        "object": "organization_invitation",
        "id": row["id"],
        "organization_id": row["organization_id"],
        "email": row["email"],
        "role": row["role"],
        "role_name": row["role_name"],
        "team_ids": list(row["team_ids"]),
        "status": invitation_status(row, now),
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
        "accepted_at": row["accepted_at"],
        "revoked_at": row["revoked_at"],
    }


def invitation_preview_out(row: Row, organization: Row) -> dict[str, Any]:
    return {
        "object": "organization_invitation_preview",
        "id": row["id"],
        "organization_id": row["organization_id"],
        "organization_name": organization["display_name"] or organization["legal_name"],
        "email": row["email"],
        "role": row["role"],
        "role_name": row["role_name"],
        "expires_at": row["expires_at"],
    }


def deleted_out(object_type: str, object_id: str) -> dict[str, Any]:
    return {"object": object_type, "id": object_id, "deleted": True}
