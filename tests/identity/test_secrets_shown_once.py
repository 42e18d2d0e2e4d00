"""Secrets shown once stay shown once: an `Idempotency-Key` replay answers without them, and
the idempotency store holds no copy."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.identity.factors.support import client_for, enable_totp, new_person


async def stored_bodies(db: Database, key: str) -> list[bytes]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT response_body FROM idempotency_keys WHERE key = %s", (key,)
        )
        return [bytes(row["response_body"]) for row in await cursor.fetchall()]


async def post_twice(client: AsyncClient, path: str, key: str, **kwargs: Any) -> tuple[Any, Any]:
    headers = {"Idempotency-Key": key}
    first = await client.post(path, headers=headers, **kwargs)
    second = await client.post(path, headers=headers, **kwargs)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert second.headers["Idempotent-Replayed"] == "true"
    return first.json(), second.json()


async def test_a_totp_seed_is_not_kept_for_replays(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    _, _, token = await new_person(db, settings, clock)
    async with client_for(app, token) as client:
        first, replay = await post_twice(client, "/v1/me/factors/totp", "totp-seed-once")
    assert first["secret"]
    assert first["otpauth_uri"]
    assert replay["id"] == first["id"]
    assert replay["secret"] is None
    assert replay["otpauth_uri"] is None
    [stored] = await stored_bodies(db, "totp-seed-once")
    assert first["secret"].encode() not in stored


async def test_recovery_codes_are_not_kept_for_replays(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    _, _, token = await new_person(db, settings, clock, aal=2)
    async with client_for(app, token) as client:
        await enable_totp(client, clock)
        first, replay = await post_twice(client, "/v1/me/factors/recovery-codes", "codes-once")
    assert len(first["codes"]) == 10
    assert replay["codes"] is None
    [stored] = await stored_bodies(db, "codes-once")
    assert all(code.encode() not in stored for code in first["codes"])


async def test_a_staff_enrolment_link_is_not_kept_for_replays(
    app_client: AsyncClient, db: Database
) -> None:
    body = {"email": "new-agent@staff.example.com", "display_name": "Agent", "roles": ["support"]}
    first, replay = await post_twice(app_client, "/v1/staff/members", "enrol-once", json=body)
    assert first["enrolment_url"]
    assert replay["enrolment_url"] is None
    [stored] = await stored_bodies(db, "enrol-once")
    assert first["enrolment_url"].encode() not in stored
