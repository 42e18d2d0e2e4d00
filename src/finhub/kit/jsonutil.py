"""JSON encoding that keeps 128-bit integers exact.

orjson is fast but stops at 64-bit integers; ledger amounts go up to 2^128 - 1, so a payload
with a larger integer falls back to the standard library, which handles any int.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(payload: Any) -> bytes:
    try:
        return orjson.dumps(payload, default=_default)
    except orjson.JSONEncodeError:
        return json.dumps(payload, default=_default, separators=(",", ":")).encode()
