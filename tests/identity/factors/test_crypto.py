"""Sealing factor secrets: round trips, key rotation and tampering."""

from __future__ import annotations

import pytest

from finhub.identity.factors.crypto import CannotOpen, Keyring, Sealed


def test_a_sealed_secret_opens_with_its_context() -> None:
    keyring = Keyring("current key")
    sealed = keyring.seal(b"JBSWY3DPEHPK3PXP", context="fac_1")

    assert sealed.key_id == keyring.current_id
    assert b"JBSWY3DPEHPK3PXP" not in sealed.ciphertext
    assert keyring.open(sealed, context="fac_1") == b"JBSWY3DPEHPK3PXP"


def test_a_ciphertext_moved_to_another_row_does_not_open() -> None:
    keyring = Keyring("current key")
    sealed = keyring.seal(b"secret", context="fac_1")

    with pytest.raises(CannotOpen):
        keyring.open(sealed, context="fac_2")


def test_a_flipped_bit_does_not_open() -> None:
    keyring = Keyring("current key")
    sealed = keyring.seal(b"secret", context="fac_1")
    tampered = bytearray(sealed.ciphertext)
    tampered[-1] ^= 1

    with pytest.raises(CannotOpen):
        keyring.open(Sealed(sealed.key_id, bytes(tampered)), context="fac_1")


def test_rotation_opens_old_rows_and_seals_with_the_new_key() -> None:
    old = Keyring("old key")
    sealed = old.seal(b"secret", context="fac_1")
    rotated = Keyring("new key", retired_secret_keys=["old key"])

    assert rotated.needs_reseal(sealed)
    assert rotated.open(sealed, context="fac_1") == b"secret"
    resealed = rotated.seal(b"secret", context="fac_1")
    assert resealed.key_id == rotated.current_id != sealed.key_id
    with pytest.raises(CannotOpen):
        Keyring("new key").open(sealed, context="fac_1")
