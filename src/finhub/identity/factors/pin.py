"""The payment PIN: six digits that confirm a payment or step up a session.

Six digits are only a million guesses, so the hash is argon2id (the password hasher's
parameters) and the attempts are throttled with lockout; the obvious PINs (one repeated digit,
a run up or down) are refused outright. Hashing runs in a worker thread, as for passwords.
"""

from __future__ import annotations

import asyncio
from itertools import pairwise

from argon2.exceptions import InvalidHashError, VerificationError

from finhub.errors import Unprocessable
from finhub.identity.passwords import HASHER

PIN_LENGTH = 6


class WeakPin(Unprocessable):
    code = "pin_too_weak"
    title = "The PIN is too easy to guess"


def check_pin_rules(pin: str) -> None:
    if len(pin) != PIN_LENGTH or not pin.isascii() or not pin.isdigit():
        raise Unprocessable(f"The PIN must be {PIN_LENGTH} digits.", code="invalid_pin_format")
    if len(set(pin)) == 1:
        raise WeakPin("A PIN of one repeated digit is too easy to guess.")
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(pin)}
    if steps in ({1}, {9}):
        raise WeakPin("A run of consecutive digits is too easy to guess.")


async def hash_pin(pin: str) -> str:
    return await asyncio.to_thread(HASHER.hash, pin)


async def pin_matches(pin_hash: str, pin: str) -> bool:
    return await asyncio.to_thread(_verify, pin_hash, pin)


def _verify(pin_hash: str, pin: str) -> bool:
    try:
        return HASHER.verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False
