"""A software WebAuthn authenticator for tests: real ES256 keys, real "none" attestation and
real assertion signatures, so the server's verification runs exactly as with a device.

It keeps discoverable credentials per relying party, like a platform authenticator, and can be
cloned (`clone()`) to show that a copy's stale signature counter is caught.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_USER_PRESENT = 0x01
FLAG_USER_VERIFIED = 0x04
FLAG_ATTESTED_DATA = 0x40
AAGUID = bytes(16)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class StoredCredential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    origin: str
    credentials: dict[bytes, StoredCredential] = field(default_factory=dict)
    verifies_user: bool = True  # False: a security key that only checks presence

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        """`navigator.credentials.create()` for the JSON options the server sent."""
        rp_id = options["rp"]["id"]
        credential_id = os.urandom(32)
        key = ec.generate_private_key(ec.SECP256R1())
        stored = StoredCredential(credential_id, key, rp_id, unb64url(options["user"]["id"]))
        self.credentials[credential_id] = stored
        numbers = key.public_key().public_numbers()
        # COSE_Key: EC2 (1: 2), ES256 (3: -7), curve P-256 (-1: 1), x (-2), y (-3)
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        cose_key = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})
        attested = AAGUID + struct.pack(">H", len(credential_id)) + credential_id + cose_key
        auth_data = self._auth_data(rp_id, FLAG_ATTESTED_DATA, 0) + attested
        client_data = self._client_data("webauthn.create", options["challenge"])
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(self, options: dict[str, Any], *, origin: str | None = None) -> dict[str, Any]:
        """`navigator.credentials.get()`: signs with the first allowed (or any) credential of
        the relying party."""
        allowed = {unb64url(item["id"]) for item in options.get("allowCredentials") or []}
        stored = next(
            c
            for c in self.credentials.values()
            if c.rp_id == options["rpId"] and (not allowed or c.credential_id in allowed)
        )
        stored.sign_count += 1
        auth_data = self._auth_data(stored.rp_id, 0, stored.sign_count)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = stored.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(stored.credential_id),
            "rawId": b64url(stored.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(stored.user_handle),
            },
            "clientExtensionResults": {},
        }

    def clone(self) -> SoftAuthenticator:
        """A copy with the same keys and counters (what copying a key's secret would give)."""
        copies = {cid: dataclasses.replace(c) for cid, c in self.credentials.items()}
        return SoftAuthenticator(self.origin, copies)

    def _auth_data(self, rp_id: str, extra_flags: int, sign_count: int) -> bytes:
        flags = FLAG_USER_PRESENT | extra_flags
        if self.verifies_user:
            flags |= FLAG_USER_VERIFIED
        return (
            hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)
        )

    def _client_data(self, kind: str, challenge: str, origin: str | None = None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            }
        ).encode()
