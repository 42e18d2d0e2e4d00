"""Sealing factor secrets at rest: AES-256-GCM under keys derived from the app's secret key.

Each ciphertext is stored with the id of the key that sealed it. A key id is a fingerprint of
the derived key, so a keyring built from the current secret key plus retired ones can open old
rows while new rows are always sealed with the current key (rotation is: add the new secret key,
keep the old one in the ring, reseal, drop the old one). The row id is the associated data, so a
ciphertext copied onto another row does not open.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
HKDF_INFO = b"finhub/factor-secrets/v1"


class CannotOpen(Exception):
    """The key that sealed it left the keyring, or the ciphertext was altered or moved."""


@dataclass(frozen=True, slots=True)
class Sealed:
    key_id: str
    ciphertext: bytes  # nonce || AES-GCM output


def derive_key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        secret_key.encode()
    )


def key_id_of(key: bytes) -> str:
    return "k_" + hashlib.sha256(b"finhub key id" + key).hexdigest()[:16]


class Keyring:
    """The current key (seals) and retired ones (only open)."""

    def __init__(self, current_secret_key: str, retired_secret_keys: Sequence[str] = ()) -> None:
        current = derive_key(current_secret_key)
        self.current_id = key_id_of(current)
        self._keys = {key_id_of(key): key for key in map(derive_key, retired_secret_keys)}
        self._keys[self.current_id] = current

    def seal(self, plaintext: bytes, *, context: str) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._keys[self.current_id]).encrypt(nonce, plaintext, context.encode())
        return Sealed(self.current_id, nonce + sealed)

    def open(self, sealed: Sealed, *, context: str) -> bytes:
        key = self._keys.get(sealed.key_id)
        if key is None:
            raise CannotOpen(sealed.key_id)
        nonce, body = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
        try:
            return AESGCM(key).decrypt(nonce, body, context.encode())
        except InvalidTag as error:
            raise CannotOpen(sealed.key_id) from error

    def needs_reseal(self, sealed: Sealed) -> bool:
        return sealed.key_id != self.current_id
