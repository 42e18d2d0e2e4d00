"""Prefixed, sortable identifiers (`acct_01J…`), ULID-based like Stripe's ids."""

from __future__ import annotations

from ulid import ULID

PREFIXES = frozenset({"acct", "txn", "batch", "idem", "asset"})


def new_id(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{ULID()}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 27
