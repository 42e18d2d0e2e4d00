"""WebAuthn passkeys on py_webauthn: ceremony options and response verification.

The relying party is finhub at `settings.public_url`: its host is the RP id and the URL itself is
the only accepted origin. Challenges are one-time tokens (`finhub.identity.tokens`): the token's
secret *is* the challenge, so the challenge a browser signs leads straight back to its
server-side record, which is single-use and expires in minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    bytes_to_base64url,
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from finhub.config import Settings
from finhub.errors import FinhubError

RP_NAME = "finhub"
TIMEOUT_MS = 5 * 60 * 1000


class InvalidPasskey(FinhubError):
    status = 400
    code = "invalid_passkey"
    title = "The passkey response is not valid"


class PasskeyCounterRegressed(FinhubError):
    """The authenticator's signature counter went backwards: a sign of a cloned key."""

    status = 400
    code = "passkey_counter_regressed"
    title = "The passkey may have been cloned"
    identity_id: str | None = None  # whose passkey it is, for the audit trail and an alert
    passkey_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    transports: list[str]
    device_type: str
    backed_up: bool


def relying_party(settings: Settings) -> tuple[str, str]:
    """(rp id, origin) from `public_url`."""
    parts = urlsplit(settings.public_url)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def registration_options(
    settings: Settings,
    *,
    challenge: bytes,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    existing: list[bytes],
) -> dict[str, Any]:
    rp_id, _ = relying_party(settings)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in existing],
    )
    return options_to_json_dict(options)


def authentication_options(
    settings: Settings, *, challenge: bytes, allowed: list[bytes] | None = None
) -> dict[str, Any]:
    """Options for `navigator.credentials.get()`; no `allowed` list means any discoverable
    passkey for this site (sign-in without typing an email)."""
    rp_id, _ = relying_party(settings)
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in allowed or []],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json_dict(options)


def registration_challenge(credential: dict[str, Any]) -> bytes:
    """The challenge the authenticator signed, to find its server-side record."""
    try:
        parsed = parse_registration_credential_json(credential)
        return parse_client_data_json(parsed.response.client_data_json).challenge
    except (WebAuthnException, KeyError, TypeError, ValueError) as error:
        raise InvalidPasskey(f"The credential can't be read: {error}") from error


def parse_assertion(credential: dict[str, Any]) -> AuthenticationCredential:
    try:
        return parse_authentication_credential_json(credential)
    except (WebAuthnException, KeyError, TypeError, ValueError) as error:
        raise InvalidPasskey(f"The credential can't be read: {error}") from error


def assertion_challenge(assertion: AuthenticationCredential) -> bytes:
    try:
        return parse_client_data_json(assertion.response.client_data_json).challenge
    except (WebAuthnException, ValueError) as error:
        raise InvalidPasskey(f"The credential can't be read: {error}") from error


def verify_registration(
    settings: Settings, credential: dict[str, Any], challenge: bytes
) -> NewCredential:
    rp_id, origin = relying_party(settings)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            # A passkey counts as two factors (something held, something known or been), so
            # the device must have checked its PIN or biometric.
            require_user_verification=True,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError) as error:
        raise InvalidPasskey(f"The passkey could not be verified: {error}") from error
    transports = credential.get("response", {}).get("transports") or []
    known = {t.value for t in AuthenticatorTransport}
    return NewCredential(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=[t for t in transports if t in known],
        device_type=verified.credential_device_type.value,
        backed_up=verified.credential_backed_up,
    )


def verify_assertion(
    settings: Settings,
    assertion: AuthenticationCredential,
    *,
    challenge: bytes,
    public_key: bytes,
    sign_count: int,
) -> int:
    """Check the signature, then the counter; returns the authenticator's new counter.

    The counter is checked here, after the signature, rather than by py_webauthn (which checks
    it first): only a correctly signed response with an old counter is a sign of a copied key.
    """
    rp_id, origin = relying_party(settings)
    try:
        verified = verify_authentication_response(
            credential=assertion,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError) as error:
        raise InvalidPasskey(f"The passkey could not be verified: {error}") from error
    presented = verified.new_sign_count
    # Authenticators that don't count report 0 forever; any other value must grow.
    if (presented or sign_count) and presented <= sign_count:
        raise PasskeyCounterRegressed(
            "The passkey's signature counter went backwards; it may have been copied. "
            "Remove it and register a new one."
        )
    return presented


def encode_id(raw: bytes) -> str:
    return bytes_to_base64url(raw)
