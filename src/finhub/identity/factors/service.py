"""Second factors of people and staff."""

from __future__ import annotations

from finhub.kit.db.engine import Connection


async def second_factor_methods(conn: Connection, identity_id: str) -> list[str]:
    """The second factors `identity_id` (usr_… or stf_…) has enrolled, e.g. ["totp",
    "recovery_code", "passkey"]; empty when the password alone signs them in."""
    return []
