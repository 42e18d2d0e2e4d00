"""The API keys API's request and response shapes.

Responses are plain dicts built by `key_out` (and `issued_key_out`, the only one that carries a
secret); the Pydantic models document them in OpenAPI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from finhub.identity.api_keys.models import ApiKey, IssuedKey, Mode, NewKey
from finhub.identity.scopes import SCOPES

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=64)]
IpRange = Annotated[str, StringConstraints(min_length=2, max_length=64)]
OrganizationId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
SCOPE_LIST = ", ".join(f"`{scope}`" for scope in SCOPES)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="What the key is for, e.g. `billing export`.")
    mode: Mode = Field(description="`live` keys act on real money, `test` keys on the sandbox.")
    scopes: list[Scope] = Field(
        min_length=1, max_length=len(SCOPES), description=f"What the key may do: {SCOPE_LIST}."
    )
    organization_id: OrganizationId | None = Field(
        None, description="Issue the key for this organisation (needs `api_keys:manage`)."
    )
    allowed_ips: list[IpRange] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Addresses or CIDR ranges the key may be used from; omit for any.",
    )
    expires_at: AwareDatetime | None = Field(
        None, description="When the key stops working; omit for never."
    )

    def to_new_key(self) -> NewKey:
        return NewKey(
            name=self.name,
            mode=self.mode,
            scopes=self.scopes,
            organization_id=self.organization_id,
            allowed_ips=self.allowed_ips,
            expires_at=self.expires_at,
        )


class ApiKeyRoll(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expire_old_in_seconds: int = Field(
        0,
        ge=0,
        le=7 * 24 * 3600,
        description="How long the current secret keeps working after the roll (at most 7 "
        "days); 0 ends it at once.",
    )


class ApiKeyOwner(BaseModel):
    type: Literal["user", "organization"]
    id: str


class ApiKeyOut(BaseModel):
    object: Literal["api_key"] = "api_key"
    id: str = Field(description="`key_…`")
    name: str
    mode: Mode
    owner: ApiKeyOwner
    scopes: list[str]
    allowed_ips: list[str] | None
    redacted_secret: str = Field(description="Which secret this is: `fh_live_Ab3x…Wq9z`.")
    status: Literal["active", "expired", "revoked"]
    created_by: str = Field(description="The person who created the key.")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    rolled_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret replaced by the last roll keeps working."
    )
    revoked_at: datetime | None


class IssuedApiKeyOut(ApiKeyOut):
    secret: str | None = Field(
        description="The key's secret, shown in this response only; store it now. An "
        "`Idempotency-Key` replay of the request returns `null` here."
    )


def key_out(key: ApiKey, now: datetime) -> dict[str, Any]:
    owner = (
        {"type": "organization", "id": key.organization_id}
        if key.organization_id is not None
        else {"type": "user", "id": key.user_id}
    )
    return {
        "object": "api_key",
        "id": key.id,
        "name": key.name,
        "mode": key.mode,
        "owner": owner,
        "scopes": key.scopes,
        "allowed_ips": [str(n) for n in key.allowed_ips] if key.allowed_ips else None,
        "redacted_secret": key.redacted,
        "status": key.status(now),
        "created_by": key.created_by,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at,
        "rolled_at": key.rolled_at,
        "previous_secret_expires_at": key.previous_secret_expires_at,
        "revoked_at": key.revoked_at,
    }


def issued_key_out(issued: IssuedKey, now: datetime, *, with_secret: bool) -> dict[str, Any]:
    return {**key_out(issued.key, now), "secret": issued.secret if with_secret else None}
