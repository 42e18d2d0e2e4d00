"""Run every check finhub has: ruff (lint + format), mypy --strict and the whole pytest suite.

    uv run tools/check.py            # everything
    uv run tools/check.py -k ledger  # extra arguments go to pytest

With `FINHUB_EXTRA_TEST_SERVER=postgresql://…` the ledger tests run a second time on that
server too (CI uses it to cover PostgreSQL 15 next to the embedded server).
"""

from __future__ import annotations

import os
import subprocess
import sys

STEPS = [
    ["ruff", "check", "src", "tests", "benchmarks", "migrations", "tools"],
    ["ruff", "format", "--check", "src", "tests", "benchmarks", "migrations", "tools"],
    ["mypy"],
]


def main() -> int:
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
