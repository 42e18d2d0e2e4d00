"""Sealing factor secrets: round trips, key rotation and tampering."""

from __future__ import annotations

import pytest

from finhub.config import Settings
from finhub.identity.factors import enrolment
from finhub.identity.factors.crypto import CannotOpen, Keyring, Sealed
from finhub.identity.factors.repository import find_identity, find_totp
from finhub.identity.factors.service import FactorDeps, reseal_totp_secrets
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.secrets import load_or_create_secret_key
from finhub.kit.throttle import Throttle
from finhub.notifications.mail import Mailer
from tests.factories import create_user


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


async def test_resealing_moves_stored_secrets_to_the_current_key(
    conn: Connection, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    app_key = load_or_create_secret_key(settings.data_dir, settings.secret_key)
    user_id = await create_user(conn)
    identity = await find_identity(conn, user_id)
    assert identity is not None
    deps = FactorDeps(settings, Keyring("old key"), Throttle(db), Mailer(db, settings))
    started = await enrolment.start_totp(conn, deps, identity, clock.now())
    rotated = Keyring("new key", retired_secret_keys=["old key", app_key])

    resealed = await reseal_totp_secrets(conn, rotated)

    assert resealed >= 1
    row = await find_totp(conn, user_id, confirmed=False)
    assert row is not None
    assert row.sealed.key_id == rotated.current_id
    secret = Keyring("new key").open(row.sealed, context=row.id).decode()
    assert secret == started.provisioning.secret
