"""`finhub audit verify` and `finhub audit head`, run as real processes on the test database.

The tampering here is committed (the command reads in its own process), so it is undone in a
`finally`: the row gets its original value back and the trigger is switched on again.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from finhub.audit.service import AuditContext, record
from finhub.kit.db import Database


async def finhub(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FINHUB_DATABASE_URL": database_url,
        "FINHUB_DATA_DIR": str(data_dir),
        "FINHUB_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "finhub.cli", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )


async def set_action(db: Database, seq: int, action: str) -> None:
    async with db.transaction() as conn:
        await conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        await conn.execute("UPDATE audit_events SET action = %s WHERE seq = %s", (action, seq))
        await conn.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")


async def test_verify_and_head_from_the_command_line(
    db: Database, database_url: str, data_dir: Path
) -> None:
    async with db.transaction() as conn:
        await record(conn, AuditContext.system("test"), "test.cli_target")
    async with db.connection() as conn:
        cursor = await conn.execute("SELECT seq FROM audit_chain_head")
        row = await cursor.fetchone()
    assert row is not None
    target = row["seq"]

    head = await finhub(database_url, data_dir, "audit", "head")
    assert head.returncode == 0, head.stderr
    anchor = head.stdout.strip()
    assert anchor.startswith(f"{target}:")

    intact = await finhub(database_url, data_dir, "audit", "verify", "--expect-head", anchor)
    assert intact.returncode == 0, intact.stderr
    assert f"audit chain intact: {target} records" in intact.stdout

    await set_action(db, target, "test.cli_rewritten")
    try:
        broken = await finhub(database_url, data_dir, "audit", "verify")
    finally:
        await set_action(db, target, "test.cli_target")
    assert broken.returncode == 1
    assert f"audit chain broken at seq {target}" in broken.stderr

    restored = await finhub(database_url, data_dir, "audit", "verify")
    assert restored.returncode == 0, restored.stderr


async def test_a_malformed_anchor_is_a_usage_error(database_url: str, data_dir: Path) -> None:
    result = await finhub(database_url, data_dir, "audit", "verify", "--expect-head", "nonsense")
    assert result.returncode == 2
    assert "SEQ:HASH" in result.stderr
