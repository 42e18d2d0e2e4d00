"""TOTP (RFC 6238) on pyotp: secrets, provisioning URIs and QR codes, and code matching.

Codes are six digits over 30-second steps. A code from the current step or one step either side
is accepted (clock drift between phone and server); the caller records the matched step so the
same code, or any older one, can't be used again.
"""

from __future__ import annotations

import hmac
import io
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno

ISSUER = "finhub"
DRIFT_STEPS = 1
CODE_DIGITS = 6


@dataclass(frozen=True, slots=True)
class Provisioning:
    secret: str
    uri: str
    qr_svg: str  # data: URI
    qr_png: str  # data: URI


def new_secret() -> str:
    """160 random bits in base32, the length authenticator apps expect."""
    return pyotp.random_base32(32)


def provisioning(secret: str, account: str) -> Provisioning:
    uri = pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)
    qr = segno.make(uri, error="m")
    return Provisioning(
        secret=secret,
        uri=uri,
        qr_svg=qr.svg_data_uri(scale=4),
        qr_png=qr.png_data_uri(scale=4),
    )


def terminal_qr(uri: str) -> str:
    """The QR code drawn with terminal characters (for `finhub staff create`)."""
    out = io.StringIO()
    segno.make(uri, error="m").terminal(out=out, compact=True)
    return out.getvalue()


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code equals `code` (newest first), or None."""
    code = code.strip().replace(" ", "")
    if len(code) != CODE_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current + DRIFT_STEPS, current - DRIFT_STEPS - 1, -1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def code_at(secret: str, when: datetime) -> str:
    """The code an authenticator app shows at `when`."""
    return pyotp.TOTP(secret).at(when)
