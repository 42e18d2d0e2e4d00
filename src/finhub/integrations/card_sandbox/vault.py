"""The sandbox vault: card numbers sealed with AES-256-GCM under a key derived from the
secret it is given, bound to their token (associated data), and a keyed fingerprint so the
same card can be recognised without keeping its number readable."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


class Vault:
    def __init__(self, secret: str) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"card-sandbox/vault/v1"
        ).derive(secret.encode())
        self._fingerprint_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"card-sandbox/fingerprint/v1"
        ).derive(secret.encode())
        self.key_id = "k_" + hashlib.sha256(self._key).hexdigest()[:16]

    def seal(self, number: str, token: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self._key).encrypt(nonce, number.encode(), token.encode())

    def open(self, sealed: bytes, token: str) -> str:
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        return AESGCM(self._key).decrypt(nonce, body, token.encode()).decode()

    def fingerprint(self, number: str) -> str:
        return hmac.new(self._fingerprint_key, number.encode(), hashlib.sha256).hexdigest()[:32]
