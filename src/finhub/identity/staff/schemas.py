"""Request and response models of the staff endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StaffRole = Literal["support", "compliance", "operations", "admin"]
Email = Field(min_length=3, max_length=320, pattern=r"^[^\s@]+@[^\s@]+\.[^\s@]+$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignInIn(Strict):
    email: str = Email
    password: str = Field(min_length=1, max_length=1024)


class SecondFactorIn(Strict):
    challenge_token: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=64, description="A TOTP or recovery code.")
    method: Literal["totp", "recovery_code"] = "totp"


class MemberCreate(Strict):
    email: str = Email
    display_name: str = Field(min_length=1, max_length=200)
    roles: list[StaffRole] = Field(min_length=1, max_length=4)


class MemberPatch(Strict):
    roles: list[StaffRole] | None = Field(None, min_length=1, max_length=4)
    status: Literal["active", "disabled"] | None = None


class EnrolmentTokenIn(Strict):
    token: str = Field(min_length=1, max_length=200, description="From the enrolment link.")


class EnrolmentIn(EnrolmentTokenIn):
    password: str = Field(min_length=1, max_length=1024)
    code: str = Field(min_length=1, max_length=64, description="A code from the new app.")


class ChallengeOut(BaseModel):
    object: Literal["staff_sign_in_challenge"]
    status: Literal["second_factor_required"]
    challenge_token: str
    methods: list[str]
    expires_at: datetime


class MemberOut(BaseModel):
    object: Literal["staff_member"]
    id: str
    email: str
    display_name: str
    roles: list[StaffRole]
    status: Literal["active", "disabled"]
    created_at: datetime
    updated_at: datetime
    enrolment_url: str | None = Field(
        None, description="Only when created: the one-time link for the new member."
    )
    recovery_codes: list[str] | None = Field(None, description="Only at enrolment.")
