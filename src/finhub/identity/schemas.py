"""Request and response models of sign-up, sign-in, passwords and `/v1/me`."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Long enough that a too-long password reaches the password rules and gets its own clear code
# (`password_too_long`), short enough to bound the work of hashing a hostile body.
PASSWORD_FIELD_MAX = 1024
EMAIL_MAX = 254
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"
Locale = Literal["en", "zh-Hans", "th"]


def _email(value: str) -> str:
    value = value.strip()
    if not EMAIL_PATTERN.match(value):
        raise ValueError("not an email address")
    return value


Email = Annotated[
    str,
    Field(min_length=3, max_length=EMAIL_MAX, description="An email address."),
    AfterValidator(_email),
]
Password = Annotated[str, Field(min_length=1, max_length=PASSWORD_FIELD_MAX)]
Phone = Annotated[
    str, Field(pattern=PHONE_PATTERN, description="E.164, e.g. `+66812345678`.", max_length=16)
]
DisplayName = Annotated[str, Field(min_length=1, max_length=100)]
Version = Annotated[str, Field(min_length=1, max_length=32)]
LinkToken = Annotated[
    str, Field(min_length=1, max_length=512, description="From the emailed link.")
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignUpIn(StrictModel):
    email: Email
    phone: Phone | None = None
    password: Password = Field(description="12 to 128 characters; any characters are allowed.")
    display_name: DisplayName | None = None
    accept_terms_version: Version = Field(description="The current terms version.")
    accept_privacy_version: Version = Field(description="The current privacy policy version.")
    marketing_opt_in: bool = False


class EmailIn(StrictModel):
    email: Email


class TokenIn(StrictModel):
    token: LinkToken


class SignInIn(StrictModel):
    email: Email
    password: Password


class PasswordResetConfirmIn(StrictModel):
    token: LinkToken
    new_password: Password


class PasswordChangeIn(StrictModel):
    current_password: Password
    new_password: Password


class ProfilePatch(StrictModel):
    display_name: DisplayName | None = None
    locale: Locale | None = None
    home_currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$", description="An ISO 4217 code, e.g. `EUR`."
    )
    phone: Phone | None = Field(
        None, description="Changing (or removing, with null) it needs a fresh second factor."
    )


class EmailChangeIn(StrictModel):
    new_email: Email


class ConsentsIn(StrictModel):
    marketing_opt_in: bool | None = None
    accept_terms_version: Version | None = None
    accept_privacy_version: Version | None = None


# --- responses (documentation; handlers build the JSON themselves) ----------------------------


class AcceptedOut(BaseModel):
    object: str = Field(description="What was accepted, e.g. `sign_up`.")
    status: str
    message: str


class SessionOut(BaseModel):
    object: Literal["session"]
    id: str
    access_token: str
    token_type: Literal["Bearer"]
    csrf_token: str
    aal: int
    created_at: datetime
    expires_at: datetime
    idle_expires_at: datetime


class SignInChallengeOut(BaseModel):
    object: Literal["sign_in_challenge"]
    status: Literal["second_factor_required"]
    challenge_token: str = Field(description="Pass to `POST /v1/auth/sign-in/second-factor`.")
    methods: list[str]
    expires_at: datetime


class EmailVerifiedOut(BaseModel):
    object: Literal["email_verification"]
    status: Literal["verified"]
    email: str


class ProfileOut(BaseModel):
    object: Literal["user"]
    id: str
    email: str
    phone: str | None
    display_name: str | None
    status: str
    email_verified: bool
    kyc_tier: str
    locale: str
    home_currency: str
    second_factor_methods: list[str]
    created_at: datetime


class SessionInfoOut(BaseModel):
    object: Literal["session"]
    id: str
    current: bool
    aal: int
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


class PasswordChangedOut(BaseModel):
    object: Literal["password_change"]
    status: Literal["changed"]
    revoked_sessions: int


class RevokedOut(BaseModel):
    object: Literal["session_revocation"]
    revoked_sessions: int


class ConsentStateOut(BaseModel):
    accepted_version: str | None
    accepted_at: datetime | None
    current_version: str
    up_to_date: bool


class MarketingOut(BaseModel):
    opted_in: bool
    updated_at: datetime | None


class ConsentsOut(BaseModel):
    object: Literal["consents"]
    terms: ConsentStateOut
    privacy: ConsentStateOut
    marketing: MarketingOut
