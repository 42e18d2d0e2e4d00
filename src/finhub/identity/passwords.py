"""Password rules and hashing (NIST SP 800-63B, OWASP ASVS 4.0 level 2).

Rules: 12 to 128 characters counted after Unicode NFKC normalisation (so a password typed on
another keyboard still matches); every character is allowed, spaces and emoji included; no
composition rules (no "one digit, one symbol"); refused when it is a known common or breached
password (`data/common-passwords.txt.gz`, compared case-insensitively), made of one or two
repeated characters, or built from the person's own email address or name.

Hashing: argon2id through argon2-cffi with OWASP's recommended parameters (19 MiB of memory,
2 iterations, 1 lane; about 35 ms on one core), which keeps sign-in throughput reasonable on a
small server while making offline guessing expensive. When these parameters change, hashes are
upgraded at the next successful sign-in (`needs_rehash`). Hashing runs in a worker thread: the
library releases the GIL, so the event loop keeps serving other requests meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import re
import unicodedata
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from finhub.identity.errors import (
    PasswordContainsPersonalInfo,
    PasswordTooCommon,
    PasswordTooLong,
    PasswordTooShort,
)

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_DISTINCT_CHARACTERS = 3
MIN_PERSONAL_TOKEN = 4  # shorter names and local parts are too likely to occur by chance
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1
BLOCKLIST_FILE = "common-passwords.txt.gz"

HASHER = PasswordHasher(
    time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM
)


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_new_password(
    password: str, *, email: str | None = None, display_name: str | None = None
) -> str:
    """The normalised password if it may be used, else a 422 with the reason's code."""
    normalised = normalise(password)
    if len(normalised) < MIN_LENGTH:
        raise PasswordTooShort(f"Use at least {MIN_LENGTH} characters.", min_length=MIN_LENGTH)
    if len(normalised) > MAX_LENGTH:
        raise PasswordTooLong(f"Use at most {MAX_LENGTH} characters.", max_length=MAX_LENGTH)
    folded = normalised.lower()
    if folded in blocklist() or len(set(folded)) < MIN_DISTINCT_CHARACTERS:
        raise PasswordTooCommon(
            "This password is too common or appears in known data breaches; choose another "
            "(a few unrelated words make a strong one)."
        )
    if _contains_personal_info(folded, email, display_name):
        raise PasswordContainsPersonalInfo("Don't use your email address or name in a password.")
    return normalised


@cache
def blocklist() -> frozenset[str]:
    data = resources.files("finhub.identity").joinpath("data", BLOCKLIST_FILE).read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").splitlines())


def _contains_personal_info(folded: str, email: str | None, display_name: str | None) -> bool:
    """Whether the password contains the email address, its local part, the name, or any
    word of them (`ada.lovelace@…` refuses `lovelace-forever-2024`)."""
    if email and email.lower() in folded:
        return True
    compact = _alphanumeric(folded)
    personal = [email.lower().partition("@")[0] if email else "", (display_name or "").lower()]
    tokens = set()
    for text in personal:
        tokens.add(_alphanumeric(text))
        tokens.update(_alphanumeric(word) for word in re.split(r"[^\w]|_", text))
    return any(len(token) >= MIN_PERSONAL_TOKEN and token in compact for token in tokens)


def _alphanumeric(text: str) -> str:
    return "".join(character for character in text if character.isalnum())


async def hash_password(normalised: str) -> str:
    return await asyncio.to_thread(HASHER.hash, normalised)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches. With no hash (an unknown email, an account without a
    password) a dummy hash is checked anyway, so the answer takes the same time."""
    candidate = normalise(password)
    if password_hash is None:
        await asyncio.to_thread(_verify, dummy_hash(), candidate)
        return False
    return await asyncio.to_thread(_verify, password_hash, candidate)


def needs_rehash(password_hash: str) -> bool:
    try:
        return HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@cache
def dummy_hash() -> str:
    return HASHER.hash("an unguessable placeholder that no account uses")


def _verify(password_hash: str, candidate: str) -> bool:
    try:
        return HASHER.verify(password_hash, candidate)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        # An unusable stored hash (e.g. "!unusable") matches nothing; check the dummy hash so
        # the time taken is the same.
        with contextlib.suppress(VerificationError):
            HASHER.verify(dummy_hash(), candidate)
        return False
