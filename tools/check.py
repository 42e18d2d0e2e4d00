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


# The browser tests drive Debian's Chromium, with fonts for the Chinese and Thai pages.
BROWSER_PACKAGES = ("chromium", "fonts-wqy-microhei", "fonts-thai-tlwg")


def ensure_browser() -> None:
    """Install Chromium and the fonts where they are missing (Debian/Ubuntu)."""
    if os.environ.get("FINHUB_CHROMIUM"):
        return
    missing = [p for p in BROWSER_PACKAGES if not _installed(p)]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("$ apt-get install", *missing, flush=True)
    subprocess.run([*sudo, "apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", *missing], env=env, check=True)


def _installed(package: str) -> bool:
    if package == "chromium" and shutil.which("chromium"):
        return True
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return status.stdout.strip() == "install ok installed"


def main() -> int:
    ensure_browser()
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
