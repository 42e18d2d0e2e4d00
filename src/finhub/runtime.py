"""The services a background job needs, set once per worker process."""

from __future__ import annotations

from dataclasses import dataclass

from finhub.kit.clock import Clock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService


@dataclass
class Runtime:
    db: Database
    clock: Clock
    ledger: LedgerService


_runtime: Runtime | None = None


def install_runtime(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime


def current_runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the finhub worker runtime is not installed")
    return _runtime
