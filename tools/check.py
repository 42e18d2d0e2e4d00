"""Run every check finhub has: ruff (lint + format), mypy --strict and the whole pytest suite.

    uv run tools/check.py            # everything
    uv run tools/check.py -k ledger  # extra arguments go to pytest
"""

from __future__ import annotations

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
    return subprocess.run(pytest, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
