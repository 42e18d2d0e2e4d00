"""The sandbox's webhook signatures: HMAC-SHA256 over `<timestamp>.<body>` with the shared
secret, sent as `Sandbox-Signature: t=<unix seconds>,v1=<hex>` (the scheme card processors
use). A receiver rejects a bad signature and a timestamp outside the tolerance, which makes a
captured message useless for a replay later on."""

from __future__ import annotations

import hashlib
import hmac

from finhub.payments.topups.ports import WebhookSignatureInvalid

SIGNATURE_HEADER = "Sandbox-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Raise `WebhookSignatureInvalid` unless `header` signs `body` recently enough."""
    if not header:
        raise WebhookSignatureInvalid(f"The {SIGNATURE_HEADER} header is missing.")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookSignatureInvalid(f"The {SIGNATURE_HEADER} header is malformed.")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise WebhookSignatureInvalid("The signature does not match the message.")
    if abs(now - timestamp) > tolerance:
        raise WebhookSignatureInvalid(
            "The signature's timestamp is outside the tolerance (a replayed message?).",
            code="webhook_timestamp_out_of_tolerance",
        )
