"""Request and response models of the second-factor endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from finhub.identity.factors import passkeys

Code = Field(min_length=1, max_length=64, description="A six-digit code or a recovery code.")
ChallengeToken = Field(
    min_length=1, max_length=200, description="The `challenge_token` from `POST /v1/auth/sign-in`."
)
Credential = Field(description="The WebAuthn credential as JSON (`PublicKeyCredential.toJSON()`).")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CodeIn(Strict):
    code: str = Code


class FactorProof(Strict):
    """One factor: `code` for totp and recovery_code, `credential` for passkey, `pin` for pin."""

    code: str | None = Field(None, min_length=1, max_length=64)
    credential: dict[str, Any] | None = Field(
        None, description="The WebAuthn assertion as JSON (`PublicKeyCredential.toJSON()`)."
    )
    pin: str | None = Field(None, min_length=1, max_length=32)

    @model_validator(mode="after")
    def _one_value(self) -> FactorProof:
        method = getattr(self, "method", None)
        needed = {"totp": "code", "recovery_code": "code", "passkey": "credential", "pin": "pin"}
        field = needed.get(str(method))
        if field and getattr(self, field) is None:
            raise ValueError(f"`{field}` is required for the method {method}")
        return self


class SecondFactorSignIn(FactorProof):
    challenge_token: str = ChallengeToken
    method: Literal["totp", "recovery_code", "passkey"]


class ChallengeIn(Strict):
    challenge_token: str = ChallengeToken


class StepUpIn(FactorProof):
    method: Literal["totp", "recovery_code", "passkey", "pin"]


class PasskeySignIn(Strict):
    credential: dict[str, Any] = Credential


class PasskeyCreate(Strict):
    credential: dict[str, Any] = Credential
    name: str = Field("Passkey", min_length=1, max_length=100, description="A label to tell it by.")


class PasskeyRename(Strict):
    name: str = Field(min_length=1, max_length=100)


class PinIn(Strict):
    pin: str = Field(min_length=1, max_length=32, description="Six digits.")
    current_pin: str | None = Field(
        None, min_length=1, max_length=32, description="Needed to change an existing PIN."
    )
    password: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="The account password, to set the first PIN without a second factor.",
    )


class TotpEnrolmentOut(BaseModel):
    object: Literal["totp_enrolment"]
    id: str
    secret: str | None = Field(
        description="Base32; for typing into an app that can't scan. Shown once: null when an "
        "`Idempotency-Key` replays the answer (start again for a new secret)."
    )
    otpauth_uri: str | None = Field(description="Null on a replay, like `secret`.")
    qr_svg: str | None = Field(description="The QR code as a `data:image/svg+xml` URI.")
    qr_png: str | None = Field(description="The QR code as a `data:image/png` URI.")


class TotpFactorOut(BaseModel):
    object: Literal["totp_factor"]
    id: str
    status: Literal["active", "deleted"]
    recovery_codes: list[str] | None = Field(
        None, description="Shown once, when the factor is enabled."
    )


class RecoveryCodesOut(BaseModel):
    object: Literal["recovery_codes"]
    id: str
    codes: list[str] | None = Field(
        description="Ten single-use codes; shown only this once (null when an "
        "`Idempotency-Key` replays the answer)."
    )


class SecondFactorsOut(BaseModel):
    object: Literal["second_factors"]
    id: str
    methods: list[str] = Field(description="Second factors that complete a sign-in.")
    step_up_methods: list[str]
    totp_enabled: bool
    recovery_codes_remaining: int
    pin_set: bool


class WebAuthnOptionsOut(BaseModel):
    object: Literal["passkey_registration_options", "passkey_authentication_options"]
    id: str
    public_key: dict[str, Any] = Field(
        description="For `navigator.credentials.create()` / `.get()` (JSON form)."
    )


class PasskeyOut(BaseModel):
    object: Literal["passkey"]
    id: str
    name: str
    credential_id: str
    aaguid: str
    transports: list[str]
    device_type: str
    backed_up: bool
    created_at: datetime
    last_used_at: datetime | None


class DeletedOut(BaseModel):
    object: str
    id: str
    deleted: Literal[True]


class StepUpOut(BaseModel):
    object: Literal["step_up"]
    id: str = Field(description="The session's id.")
    method: str
    stepped_up_at: datetime
    expires_at: datetime


class PinOut(BaseModel):
    object: Literal["payment_pin"]
    id: str
    status: Literal["set", "deleted"]


def passkey_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "passkey",
        "id": row["id"],
        "name": row["name"],
        "credential_id": passkeys.encode_id(row["credential_id"]),
        "aaguid": row["aaguid"],
        "transports": list(row["transports"]),
        "device_type": row["device_type"],
        "backed_up": row["backed_up"],
        "created_at": row["created_at"],
        "last_used_at": row["last_used_at"],
    }
