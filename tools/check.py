"""Run every check finhub has: ruff (lint + format), mypy --strict and the whole pytest suite.

    uv run tools/check.py            # everything
    uv run tools/check.py -k ledger  # extra arguments go to pytest

With `FINHUB_EXTRA_TEST_SERVER=postgresql://…` the ledger tests run a second time on that
server too (CI uses it to cover PostgreSQL 15 next to the embedded server).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

STEPS = [
    ["ruff", "check", "src", "tests", "benchmarks", "migrations", "tools"],
    ["ruff", "format", "--check", "src", "tests", "benchmarks", "migrations", "tools"],
    ["mypy"],
]


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium; install it where it is missing."""
    if os.environ.get("FINHUB_CHROMIUM") or shutil.which("chromium"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("$ apt-get install chromium", flush=True)
    subprocess.run([*sudo, "apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "chromium"], env=env, check=True)


def main() -> int:
    ensure_chromium()
    for step in STEPS:
        print("$", " ".join(step), flush=True)
        if subprocess.run(step, check=False).returncode != 0:
            return 1
    pytest = ["pytest", *sys.argv[1:]]
    print("$", " ".join(pytest), flush=True)
    status = subprocess.run(pytest, check=False).returncode
    extra_server = os.environ.get("FINHUB_EXTRA_TEST_SERVER")
    if status == 0 and extra_server:
        print(f"$ pytest tests/ledger  (on {extra_server})", flush=True)
        env = {**os.environ, "FINHUB_TEST_DATABASE_URL": extra_server}
        status = subprocess.run(["pytest", "-q", "tests/ledger"], env=env, check=False).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
