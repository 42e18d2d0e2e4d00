"""Rotating the secret key: TOTP secrets sealed under the old key keep working while it is
retired, and `finhub secret-key reseal` moves them to the new key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from finhub import cli
from finhub.config import Settings, get_settings
from finhub.identity.factors.crypto import Keyring, Sealed
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.secrets import load_or_create_secret_key
from finhub.webhooks.signing import open_secret
from tests.identity.factors.support import client_for, enable_totp, new_person


async def test_reseal_moves_totp_secrets_to_the_current_key(
    app: Any,
    db: Database,
    settings: Settings,
    clock: OffsetClock,
    data_dir: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, _, token = await new_person(db, settings, clock)
    async with client_for(app, token) as client:
        secret, _ = await enable_totp(client, clock)
        endpoint = await client.post(
            "/v1/webhook-endpoints",
            json={"url": "https://93.184.215.14/rotation", "event_types": ["payment.*"]},
        )
        assert endpoint.status_code == 201, endpoint.text
    old_key = load_or_create_secret_key(data_dir, None)
    new_key = "a-new-secret-key-" + "x" * 40

    monkeypatch.setattr(cli, "configure_logging", lambda **_: None)

    async def reseal(current_key: str, retired_key: str) -> Result:
        env = {
            "FINHUB_DATA_DIR": str(data_dir),
            "FINHUB_DATABASE_URL": database_url,
            "FINHUB_SECRET_KEY": current_key,
            "FINHUB_RETIRED_SECRET_KEYS": f'["{retired_key}"]',
        }
        get_settings.cache_clear()
        try:
            # The command runs its own event loop, so not on this test's.
            return await asyncio.to_thread(
                lambda: CliRunner().invoke(cli.app, ["secret-key", "reseal"], env=env)
            )
        finally:
            get_settings.cache_clear()

    result = await reseal(new_key, old_key)
    try:
        assert result.exit_code == 0, result.output
        await assert_sealed_under(db, Keyring(new_key), secret, result.output)
        await assert_webhook_secret_under(db, Keyring(new_key), endpoint.json())
    finally:  # every factor in the shared test database goes back to the app's key
        assert (await reseal(old_key, new_key)).exit_code == 0


async def assert_sealed_under(db: Database, current: Keyring, secret: str, output: str) -> None:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, key_id, secret_ciphertext FROM totp_factors WHERE confirmed_at IS NOT NULL"
        )
        rows = await cursor.fetchall()
    assert rows, "the person's TOTP factor"
    assert {row["key_id"] for row in rows} == {current.current_id}
    opened = {
        current.open(Sealed(row["key_id"], row["secret_ciphertext"]), context=row["id"])
        for row in rows
    }
    assert secret.encode() in opened
    resealed = int(output.split(" secrets sealed again")[0].split()[-1])
    assert resealed >= len(rows) + 1  # every TOTP seed and at least the webhook secret


async def assert_webhook_secret_under(db: Database, current: Keyring, endpoint: Any) -> None:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT secret_key_id, secret_sealed FROM webhook_endpoints WHERE id = %s",
            (endpoint["id"],),
        )
        row = await cursor.fetchone()
    assert row is not None
    sealed = Sealed(row["secret_key_id"], row["secret_sealed"])
    assert open_secret(current, endpoint["id"], sealed) == endpoint["secret"]
