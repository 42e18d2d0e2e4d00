"""Signing secrets and signatures per the Standard Webhooks spec (standardwebhooks library).

A secret is `whsec_` plus 32 random bytes in base64, the form the spec's verifiers accept. It
is sealed at rest (AES-GCM under the app's secret key, the row id as associated data), because
signing needs it back; the plain secret is shown once, when made.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

from finhub.identity.factors.crypto import Keyring, Sealed
from finhub.kit.db.engine import Connection

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def seal_secret(keyring: Keyring, endpoint_id: str, secret: str) -> Sealed:
    return keyring.seal(secret.encode(), context=_context(endpoint_id))


def open_secret(keyring: Keyring, endpoint_id: str, sealed: Sealed) -> str:
    return keyring.open(sealed, context=_context(endpoint_id)).decode()


def signature_headers(
    message_id: str, timestamp: datetime, body: str, signing_secrets: list[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers; one `v1,…` signature per secret (during a secret
    roll both the new and the previous secret sign, separated by a space)."""
    signatures = [
        Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
        for secret in signing_secrets
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def _context(endpoint_id: str) -> str:
    return f"webhook_endpoint:{endpoint_id}"


async def reseal_endpoint_secrets(conn: Connection, keyring: Keyring) -> int:
    """After a secret-key rotation, seal every endpoint's signing secret (and a previous one
    still in its overlap) under the current key; returns how many secrets moved."""
    cursor = await conn.execute(
        """
        SELECT id, secret_key_id, secret_sealed, previous_secret_key_id, previous_secret_sealed
          FROM webhook_endpoints
         WHERE secret_key_id <> %(current)s OR previous_secret_key_id <> %(current)s
         FOR UPDATE
        """,
        {"current": keyring.current_id},
    )
    moved = 0
    for row in await cursor.fetchall():
        current = Sealed(row["secret_key_id"], row["secret_sealed"])
        fresh = seal_secret(keyring, row["id"], open_secret(keyring, row["id"], current))
        previous = None
        if row["previous_secret_sealed"] is not None:
            old = Sealed(row["previous_secret_key_id"], row["previous_secret_sealed"])
            previous = seal_secret(keyring, row["id"], open_secret(keyring, row["id"], old))
        await conn.execute(
            """
            UPDATE webhook_endpoints
               SET secret_key_id = %s, secret_sealed = %s,
                   previous_secret_key_id = %s, previous_secret_sealed = %s
             WHERE id = %s
            """,
            (
                fresh.key_id,
                fresh.ciphertext,
                previous.key_id if previous else None,
                previous.ciphertext if previous else None,
                row["id"],
            ),
        )
        moved += 1 + (previous is not None)
    return moved
