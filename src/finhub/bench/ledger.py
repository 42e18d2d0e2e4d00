"""`finhub bench ledger` (being written)."""

from __future__ import annotations

from finhub.config import Settings


def run_ledger_benchmark(url: str, *, settings: Settings, seconds: float, concurrency: int) -> None:
    raise NotImplementedError
