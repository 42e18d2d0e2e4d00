"""`finhub backup` and `finhub restore`: pg_dump's custom format, restored atomically.

The client tools come from the embedded PostgreSQL wheel (the newest major version, which can
dump any older server), or from `FINHUB_PG_BIN_DIR` when a server needs its own.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from finhub.errors import FinhubError
from finhub.kit.db.embedded import pg_tool


class BackupError(FinhubError):
    status = 500
    code = "backup_failed"
    title = "Backup or restore failed"


def _tool(name: str) -> tuple[Path, dict[str, str]]:
    override = os.environ.get("FINHUB_PG_BIN_DIR")
    if override:
        return Path(override) / name, dict(os.environ)
    return pg_tool(name)


def _run(name: str, *args: str) -> None:
    executable, env = _tool(name)
    result = subprocess.run([str(executable), *args], env=env, capture_output=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{name} failed: {result.stderr.decode(errors='replace').strip()}")


def dump(url: str, file: Path) -> None:
    """A consistent snapshot of every table (pg_dump runs in one repeatable-read transaction)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    _run(
        "pg_dump",
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        f"--file={file}",
        f"--dbname={url}",
    )


def restore(url: str, file: Path) -> None:
    """Replace the database's objects with the backup's, all in one transaction.

    `--clean --single-transaction` drops and recreates every object of the dump and loads its
    rows atomically: a failed restore leaves the previous data untouched.
    """
    if not file.exists():
        raise BackupError(f"{file} does not exist")
    _run(
        "pg_restore",
        "--clean",
        "--if-exists",
        "--single-transaction",
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        f"--dbname={url}",
        str(file),
    )
