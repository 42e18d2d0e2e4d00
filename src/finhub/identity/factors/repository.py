"""SQL for second factors. Every statement is filtered by the identity that owns the factor
(`identity_id`: a person's `usr_…` or a staff member's `stf_…`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from finhub.identity.factors.crypto import Sealed
from finhub.kit.db.engine import Connection


@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    email: str
    display_name: str
    password_hash: str | None
    status: str

    @property
    def is_staff(self) -> bool:
        return self.id.startswith("stf_")


@dataclass(frozen=True, slots=True)
class TotpRow:
    id: str
    sealed: Sealed
    last_used_step: int | None
    confirmed_at: datetime | None


def _owner(identity_id: str) -> tuple[str | None, str | None]:
    """(user_id, staff_id) for the owner columns."""
    if identity_id.startswith("stf_"):
        return None, identity_id
    return identity_id, None


async def find_identity(conn: Connection, identity_id: str) -> Identity | None:
    if identity_id.startswith("stf_"):
        sql = (
            "SELECT id, email, display_name, password_hash, status FROM staff_members WHERE id = %s"
        )
    else:
        sql = (
            "SELECT id, email, coalesce(display_name, '') AS display_name, password_hash, status"
            " FROM users WHERE id = %s"
        )
    cursor = await conn.execute(sql, (identity_id,))
    row = await cursor.fetchone()
    return Identity(**row) if row else None


async def enrolled(conn: Connection, identity_id: str) -> dict[str, bool]:
    cursor = await conn.execute(
        """
        SELECT EXISTS (SELECT 1 FROM totp_factors
                        WHERE identity_id = %(id)s AND confirmed_at IS NOT NULL) AS totp,
               EXISTS (SELECT 1 FROM recovery_codes
                        WHERE identity_id = %(id)s AND used_at IS NULL) AS recovery_code,
               EXISTS (SELECT 1 FROM passkeys WHERE identity_id = %(id)s) AS passkey,
               EXISTS (SELECT 1 FROM payment_pins WHERE identity_id = %(id)s) AS pin
        """,
        {"id": identity_id},
    )
    row = await cursor.fetchone()
    assert row is not None
    return dict(row)


# --- TOTP -------------------------------------------------------------------------------------


async def insert_totp(
    conn: Connection, *, factor_id: str, identity_id: str, sealed: Sealed, now: datetime
) -> None:
    user_id, staff_id = _owner(identity_id)
    await conn.execute(
        """
        INSERT INTO totp_factors (id, user_id, staff_id, secret_ciphertext, key_id, created_at)
        VALUES (%s, %s, %s, %s, %s, %s)
        """,
        (factor_id, user_id, staff_id, sealed.ciphertext, sealed.key_id, now),
    )


async def delete_pending_totp(conn: Connection, identity_id: str) -> None:
    await conn.execute(
        "DELETE FROM totp_factors WHERE identity_id = %s AND confirmed_at IS NULL", (identity_id,)
    )


async def find_totp(conn: Connection, identity_id: str, *, confirmed: bool) -> TotpRow | None:
    cursor = await conn.execute(
        """
        SELECT id, secret_ciphertext, key_id, last_used_step, confirmed_at FROM totp_factors
         WHERE identity_id = %s AND (confirmed_at IS NOT NULL) = %s
         ORDER BY created_at DESC LIMIT 1
        """,
        (identity_id, confirmed),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    return TotpRow(
        id=row["id"],
        sealed=Sealed(row["key_id"], row["secret_ciphertext"]),
        last_used_step=row["last_used_step"],
        confirmed_at=row["confirmed_at"],
    )


async def claim_totp_step(conn: Connection, identity_id: str, factor_id: str, step: int) -> bool:
    """Record `step` as used; False when it (or a later one) was used already (a replay).
    One statement, so two requests racing with the same code can't both win."""
    cursor = await conn.execute(
        """
        UPDATE totp_factors SET last_used_step = %(step)s
         WHERE id = %(id)s AND identity_id = %(identity)s
           AND (last_used_step IS NULL OR last_used_step < %(step)s)
        """,
        {"step": step, "id": factor_id, "identity": identity_id},
    )
    return cursor.rowcount == 1


async def confirm_totp(conn: Connection, identity_id: str, factor_id: str, now: datetime) -> bool:
    cursor = await conn.execute(
        "UPDATE totp_factors SET confirmed_at = %s"
        " WHERE id = %s AND identity_id = %s AND confirmed_at IS NULL",
        (now, factor_id, identity_id),
    )
    return cursor.rowcount == 1


async def delete_totp(conn: Connection, identity_id: str) -> str | None:
    cursor = await conn.execute(
        "DELETE FROM totp_factors WHERE identity_id = %s RETURNING id, confirmed_at",
        (identity_id,),
    )
    rows = await cursor.fetchall()
    return next((row["id"] for row in rows if row["confirmed_at"] is not None), None)


async def totp_to_reseal(conn: Connection, current_key_id: str) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        "SELECT id, identity_id, secret_ciphertext, key_id FROM totp_factors"
        " WHERE key_id <> %s FOR UPDATE",
        (current_key_id,),
    )
    return await cursor.fetchall()


async def reseal_totp(conn: Connection, factor_id: str, sealed: Sealed) -> None:
    await conn.execute(
        "UPDATE totp_factors SET secret_ciphertext = %s, key_id = %s WHERE id = %s",
        (sealed.ciphertext, sealed.key_id, factor_id),
    )


# --- recovery codes ---------------------------------------------------------------------------


async def replace_recovery_codes(
    conn: Connection, identity_id: str, hashes: list[bytes], now: datetime
) -> None:
    await delete_recovery_codes(conn, identity_id)
    user_id, staff_id = _owner(identity_id)
    async with conn.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO recovery_codes (user_id, staff_id, code_hash, created_at)"
            " VALUES (%s, %s, %s, %s)",
            [(user_id, staff_id, code_hash, now) for code_hash in hashes],
        )


async def use_recovery_code(
    conn: Connection, identity_id: str, code_hash: bytes, now: datetime
) -> bool:
    cursor = await conn.execute(
        "UPDATE recovery_codes SET used_at = %s"
        " WHERE identity_id = %s AND code_hash = %s AND used_at IS NULL",
        (now, identity_id, code_hash),
    )
    return cursor.rowcount == 1


async def unused_recovery_codes(conn: Connection, identity_id: str) -> int:
    cursor = await conn.execute(
        "SELECT count(*) AS n FROM recovery_codes WHERE identity_id = %s AND used_at IS NULL",
        (identity_id,),
    )
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def delete_recovery_codes(conn: Connection, identity_id: str) -> None:
    await conn.execute("DELETE FROM recovery_codes WHERE identity_id = %s", (identity_id,))


# --- passkeys ---------------------------------------------------------------------------------

PASSKEY_COLUMNS = (
    "id, identity_id, credential_id, public_key, sign_count, name, aaguid, transports,"
    " device_type, backed_up, created_at, last_used_at"
)


async def insert_passkey(
    conn: Connection,
    *,
    passkey_id: str,
    identity_id: str,
    values: dict[str, Any],
    now: datetime,
) -> dict[str, Any] | None:
    """The new passkey, or None when the credential is registered already."""
    user_id, staff_id = _owner(identity_id)
    cursor = await conn.execute(
        f"""
        INSERT INTO passkeys (id, user_id, staff_id, credential_id, public_key, sign_count, name,
                              aaguid, transports, device_type, backed_up, created_at)
        VALUES (%(id)s, %(user_id)s, %(staff_id)s, %(credential_id)s, %(public_key)s,
                %(sign_count)s, %(name)s, %(aaguid)s, %(transports)s, %(device_type)s,
                %(backed_up)s, %(now)s)
        ON CONFLICT (credential_id) DO NOTHING
        RETURNING {PASSKEY_COLUMNS}
        """,
        {"id": passkey_id, "user_id": user_id, "staff_id": staff_id, "now": now, **values},
    )
    return await cursor.fetchone()


async def list_passkeys(
    conn: Connection, identity_id: str, *, limit: int, starting_after: str | None
) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        f"""
        SELECT {PASSKEY_COLUMNS} FROM passkeys
         WHERE identity_id = %(identity)s AND (%(after)s::text IS NULL OR id > %(after)s)
         ORDER BY id LIMIT %(limit)s
        """,
        {"identity": identity_id, "after": starting_after, "limit": limit},
    )
    return await cursor.fetchall()


async def credential_ids(conn: Connection, identity_id: str) -> list[bytes]:
    cursor = await conn.execute(
        "SELECT credential_id FROM passkeys WHERE identity_id = %s ORDER BY id", (identity_id,)
    )
    return [row["credential_id"] async for row in cursor]


async def get_passkey(conn: Connection, identity_id: str, passkey_id: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        f"SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE identity_id = %s AND id = %s",
        (identity_id, passkey_id),
    )
    return await cursor.fetchone()


async def find_passkey_by_credential(
    conn: Connection, credential_id: bytes, *, identity_id: str | None = None
) -> dict[str, Any] | None:
    """The passkey with this credential id (of `identity_id` when given), locked for the
    counter update."""
    cursor = await conn.execute(
        f"""
        SELECT {PASSKEY_COLUMNS} FROM passkeys
         WHERE credential_id = %(credential)s
           AND (%(identity)s::text IS NULL OR identity_id = %(identity)s)
         FOR UPDATE
        """,
        {"credential": credential_id, "identity": identity_id},
    )
    return await cursor.fetchone()


async def record_passkey_use(
    conn: Connection, passkey_id: str, sign_count: int, now: datetime
) -> None:
    await conn.execute(
        "UPDATE passkeys SET sign_count = %s, last_used_at = %s WHERE id = %s",
        (sign_count, now, passkey_id),
    )


async def rename_passkey(
    conn: Connection, identity_id: str, passkey_id: str, name: str
) -> dict[str, Any] | None:
    cursor = await conn.execute(
        f"UPDATE passkeys SET name = %s WHERE identity_id = %s AND id = %s"
        f" RETURNING {PASSKEY_COLUMNS}",
        (name, identity_id, passkey_id),
    )
    return await cursor.fetchone()


async def delete_passkey(
    conn: Connection, identity_id: str, passkey_id: str
) -> dict[str, Any] | None:
    cursor = await conn.execute(
        f"DELETE FROM passkeys WHERE identity_id = %s AND id = %s RETURNING {PASSKEY_COLUMNS}",
        (identity_id, passkey_id),
    )
    return await cursor.fetchone()


# --- payment PIN ------------------------------------------------------------------------------


async def pin_hash(conn: Connection, identity_id: str) -> str | None:
    cursor = await conn.execute(
        "SELECT pin_hash FROM payment_pins WHERE identity_id = %s", (identity_id,)
    )
    row = await cursor.fetchone()
    return row["pin_hash"] if row else None


async def save_pin(conn: Connection, identity_id: str, hashed: str, now: datetime) -> None:
    user_id, staff_id = _owner(identity_id)
    await conn.execute(
        """
        INSERT INTO payment_pins (user_id, staff_id, pin_hash, created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (identity_id) DO UPDATE SET pin_hash = excluded.pin_hash,
                                                updated_at = excluded.updated_at
        """,
        (user_id, staff_id, hashed, now, now),
    )


async def delete_pin(conn: Connection, identity_id: str) -> bool:
    cursor = await conn.execute("DELETE FROM payment_pins WHERE identity_id = %s", (identity_id,))
    return cursor.rowcount == 1
