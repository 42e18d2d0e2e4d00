"""Prefixed, sortable identifiers (`acct_01J…`), ULID-based like Stripe's ids."""

from __future__ import annotations

from ulid import ULID

PREFIXES = frozenset(
    {
        # ledger
        "acct",
        "txn",
        "batch",
        "idem",
        "asset",
        # identity and access
        "usr",
        "stf",
        "ses",
        "tok",
        "cns",
        "fac",
        "pk",
        "org",
        "mem",
        "inv",
        "role",
        "team",
        "key",
        "evt",
        "mail",
        "ntf",
        # wallets and payments
        "wal",
        "pay",
        "act",
        "obx",
        "pye",
        "prq",
        "pob",
        "whe",
        "whd",
        "sch",
        "qte",
        "rate",
        "ctok",
        "card",
        "fee",
        "vib",
        "bcr",
        # helpdesk
        "tkt",
        "tkm",
    }
)


def new_id(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{ULID()}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 27
