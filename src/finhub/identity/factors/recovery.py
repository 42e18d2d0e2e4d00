"""Recovery codes: ten single-use codes shown once, for when the authenticator is lost.

A code is 16 base32 characters (80 random bits) written in four groups, `abcd-efgh-ijkl-mnop`.
With that much entropy a plain SHA-256 of the normalised code is safe to store and cheap to
look up.
"""

from __future__ import annotations

import base64
import secrets

from finhub.kit.secrets import secret_hash

CODE_COUNT = 10
CODE_BYTES = 10  # 80 bits → 16 base32 characters
GROUP = 4


def new_codes(count: int = CODE_COUNT) -> list[str]:
    return [_format(_random_base32()) for _ in range(count)]


def _random_base32() -> str:
    return base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode()


def normalise(code: str) -> str:
    """Case, spaces and dashes don't matter when typing a code back."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def code_hash(code: str) -> bytes:
    return secret_hash(normalise(code))


def _format(raw: str) -> str:
    raw = raw.lower()
    return "-".join(raw[i : i + GROUP] for i in range(0, len(raw), GROUP))
