"""Second factors of people and staff: what is enrolled, proving one, and stepping up.

`prove` is the single place a presented factor (TOTP code, recovery code, passkey assertion,
payment PIN) is checked. It is throttled per identity and per IP address with exponential
lockout, so the sign-in second step, step-up and the staff sign-in share one defence. Enrolment
(adding and removing factors) lives in `finhub.identity.factors.enrolment`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from finhub.errors import FinhubError, TooManyAttempts
from finhub.identity import sessions, tokens
from finhub.identity.factors import passkeys, recovery, repository, totp
from finhub.identity.factors.crypto import Keyring, Sealed
from finhub.identity.factors.pin import pin_matches
from finhub.identity.factors.repository import Identity
from finhub.identity.principal import Principal
from finhub.kit.db.engine import Connection
from finhub.kit.throttle import Throttle, ThrottleRule
from finhub.notifications import inbox

if TYPE_CHECKING:
    from finhub.api import Container
    from finhub.config import Settings
    from finhub.notifications.mail import Mailer

Method = Literal["totp", "recovery_code", "passkey", "pin"]
SIGN_IN_METHODS: tuple[Method, ...] = ("totp", "recovery_code", "passkey")

# An identity gets five tries per window; an address guessing across many accounts more, since
# offices and mobile carriers put many people behind one address.
SECOND_FACTOR_RULE = ThrottleRule(scope="second_factor")
SECOND_FACTOR_IP_RULE = ThrottleRule(scope="second_factor", max_failures=25)
PIN_RULE = ThrottleRule(scope="pin")
PIN_IP_RULE = ThrottleRule(scope="pin", max_failures=25)
PASSKEY_CHALLENGE_TTL = timedelta(minutes=5)


class InvalidSecondFactor(FinhubError):
    status = 400
    code = "invalid_second_factor"
    title = "The second factor is not valid"


class CodeAlreadyUsed(InvalidSecondFactor):
    code = "code_already_used"
    title = "This code was used already"


class InvalidPin(InvalidSecondFactor):
    code = "invalid_pin"
    title = "The PIN is wrong"


class FactorNotEnrolled(FinhubError):
    status = 400
    code = "factor_not_enrolled"
    title = "That second factor is not set up"


@dataclass(frozen=True, slots=True)
class Proof:
    """A factor as presented: exactly one of the values, matching `method`."""

    method: Method
    code: str | None = None
    credential: dict[str, Any] | None = None
    pin: str | None = None


@dataclass(frozen=True, slots=True)
class FactorDeps:
    """What the factor services need from the app (a subset of the container)."""

    settings: Settings
    keyring: Keyring
    throttle: Throttle
    mailer: Mailer

    @classmethod
    def of(cls, c: Container) -> FactorDeps:
        keyring = keyring_for(c.secret_key, tuple(c.settings.retired_secret_keys))
        return cls(c.settings, keyring, c.throttle, c.mailer)


@lru_cache(maxsize=4)
def keyring_for(secret_key: str, retired: tuple[str, ...] = ()) -> Keyring:
    return Keyring(secret_key, retired)


async def second_factor_methods(conn: Connection, identity_id: str) -> list[str]:
    """The second factors `identity_id` (usr_… or stf_…) has enrolled, e.g. ["totp",
    "recovery_code", "passkey"]; empty when the password alone signs them in."""
    enrolled = await repository.enrolled(conn, identity_id)
    return [method for method in SIGN_IN_METHODS if enrolled[method]]


async def step_up_methods(conn: Connection, identity_id: str) -> list[str]:
    """The factors that can step up a session: the second factors plus the payment PIN."""
    enrolled = await repository.enrolled(conn, identity_id)
    return [method for method in (*SIGN_IN_METHODS, "pin") if enrolled[method]]


def throttle_keys(identity_id: str, ip: str | None) -> tuple[str, str | None]:
    return f"identity:{identity_id}", f"ip:{ip}" if ip else None


async def prove(
    conn: Connection,
    deps: FactorDeps,
    *,
    identity_id: str,
    proof: Proof,
    ip: str | None,
    now: datetime,
    passkey_purpose: str,
) -> None:
    """Check one presented factor, counting a failure against the identity and the address
    (a lock answers 429 before anything is checked). A used TOTP step, recovery code or passkey
    challenge is spent in the caller's transaction."""
    async with attempt(deps, identity_id=identity_id, ip=ip, now=now, pin=proof.method == "pin"):
        await _check(conn, deps, identity_id, proof, now, passkey_purpose)


FAILURES = (InvalidSecondFactor, passkeys.InvalidPasskey, passkeys.PasskeyCounterRegressed)


@asynccontextmanager
async def attempt(
    deps: FactorDeps, *, identity_id: str, ip: str | None, now: datetime, pin: bool = False
) -> AsyncIterator[None]:
    """One throttled try: refused with 429 while the identity or the address is locked; a
    wrong factor raised inside counts against both, a success clears the identity's count."""
    rule, ip_rule = (PIN_RULE, PIN_IP_RULE) if pin else (SECOND_FACTOR_RULE, SECOND_FACTOR_IP_RULE)
    identity_key, ip_key = throttle_keys(identity_id, ip)
    await deps.throttle.check(rule, [key for key in (identity_key, ip_key) if key], now)
    try:
        yield
    except FAILURES:
        await deps.throttle.fail(rule, [identity_key], now)
        if ip_key:
            await deps.throttle.fail(ip_rule, [ip_key], now)
        raise
    await deps.throttle.succeed(rule, identity_key)


async def is_locked(deps: FactorDeps, identity_id: str, now: datetime) -> bool:
    try:
        await deps.throttle.check(SECOND_FACTOR_RULE, [throttle_keys(identity_id, None)[0]], now)
    except TooManyAttempts:
        return True
    return False


async def _check(
    conn: Connection,
    deps: FactorDeps,
    identity_id: str,
    proof: Proof,
    now: datetime,
    passkey_purpose: str,
) -> None:
    if proof.method == "totp":
        await check_totp(conn, deps.keyring, identity_id, proof.code or "", now)
    elif proof.method == "recovery_code":
        await check_recovery_code(conn, identity_id, proof.code or "", now)
    elif proof.method == "passkey":
        await check_passkey(
            conn,
            deps.settings,
            proof.credential or {},
            purpose=passkey_purpose,
            identity_id=identity_id,
            now=now,
        )
    else:
        await check_pin(conn, identity_id, proof.pin or "")


async def check_totp(
    conn: Connection, keyring: Keyring, identity_id: str, code: str, now: datetime
) -> None:
    factor = await repository.find_totp(conn, identity_id, confirmed=True)
    if factor is None:
        raise FactorNotEnrolled("No authenticator app is set up.")
    secret = keyring.open(factor.sealed, context=factor.id).decode()
    step = totp.matching_step(secret, code, now)
    if step is None:
        raise InvalidSecondFactor("The code is wrong or has expired.")
    if not await repository.claim_totp_step(conn, identity_id, factor.id, step):
        raise CodeAlreadyUsed("This code was used already; wait for the next one.")


async def check_recovery_code(conn: Connection, identity_id: str, code: str, now: datetime) -> None:
    if not await repository.use_recovery_code(conn, identity_id, recovery.code_hash(code), now):
        raise InvalidSecondFactor("The recovery code is wrong or was used already.")


async def check_pin(conn: Connection, identity_id: str, pin: str) -> None:
    hashed = await repository.pin_hash(conn, identity_id)
    if hashed is None:
        raise FactorNotEnrolled("No payment PIN is set.")
    if not await pin_matches(hashed, pin):
        raise InvalidPin("The PIN is wrong.")


async def issue_passkey_challenge(
    conn: Connection, *, purpose: str, subject_id: str, now: datetime
) -> bytes:
    """A single-use challenge: the token's secret is the challenge itself."""
    token = await tokens.issue(
        conn, purpose=purpose, subject_id=subject_id, ttl=PASSKEY_CHALLENGE_TTL, now=now
    )
    return token.encode()


async def spend_passkey_challenge(
    conn: Connection, challenge: bytes, *, purpose: str, subject_id: str | None, now: datetime
) -> str:
    """Use the server-side record of `challenge`; returns the subject it was issued to."""
    try:
        token = await tokens.consume(
            conn, purpose=purpose, token=challenge.decode("ascii", errors="replace"), now=now
        )
    except tokens.InvalidToken as error:
        raise passkeys.InvalidPasskey("The challenge is unknown, used or expired.") from error
    if subject_id is not None and token.subject_id != subject_id:
        raise passkeys.InvalidPasskey("The challenge was issued to someone else.")
    return token.subject_id


async def check_passkey(
    conn: Connection,
    settings: Settings,
    credential: dict[str, Any],
    *,
    purpose: str,
    identity_id: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Verify an assertion against its challenge and the stored key; `identity_id` None means
    whoever's discoverable passkey it is (password-less sign-in). Returns the passkey row."""
    assertion = passkeys.parse_assertion(credential)
    challenge = passkeys.assertion_challenge(assertion)
    await spend_passkey_challenge(conn, challenge, purpose=purpose, subject_id=identity_id, now=now)
    stored = await repository.find_passkey_by_credential(
        conn, assertion.raw_id, identity_id=identity_id
    )
    if stored is None:
        raise passkeys.InvalidPasskey("This passkey is not registered.")
    handle = assertion.response.user_handle
    if handle is not None and handle != stored["identity_id"].encode():
        raise passkeys.InvalidPasskey("The passkey belongs to another account.")
    try:
        count = passkeys.verify_assertion(
            settings,
            assertion,
            challenge=challenge,
            public_key=stored["public_key"],
            sign_count=stored["sign_count"],
        )
    except passkeys.PasskeyCounterRegressed as error:
        error.identity_id, error.passkey_id = stored["identity_id"], stored["id"]
        raise
    await repository.record_passkey_use(conn, stored["id"], count, now)
    return stored


async def step_up(
    conn: Connection,
    deps: FactorDeps,
    principal: Principal,
    proof: Proof,
    now: datetime,
) -> datetime:
    """Prove a factor on the caller's session; returns when the step-up expires."""
    assert principal.session_id is not None
    await prove(
        conn,
        deps,
        identity_id=principal.id,
        proof=proof,
        ip=principal.ip,
        now=now,
        passkey_purpose="passkey_step_up",
    )
    await sessions.mark_second_factor(conn, principal.session_id, now)
    return now + timedelta(minutes=deps.settings.step_up_minutes)


def is_stepped_up(settings: Settings, principal: Principal, now: datetime) -> bool:
    fresh_after = now - timedelta(minutes=settings.step_up_minutes)
    return principal.stepped_up_at is not None and principal.stepped_up_at >= fresh_after


async def tell(
    conn: Connection, deps: FactorDeps, identity: Identity, *, kind: str, title: str, body: str
) -> None:
    """Tell the owner about a change to their security: by email, and in the inbox of a person.
    The caller kicks the mailer after commit."""
    await deps.mailer.queue(
        conn,
        to=identity.email,
        subject=title,
        text=f"{body}\n\nIf this wasn't you, secure your account now and contact support.\n",
        tag=kind,
    )
    if not identity.is_staff:
        await inbox.notify(conn, user_id=identity.id, kind=kind, title=title, body=body)


async def reseal_totp_secrets(conn: Connection, keyring: Keyring) -> int:
    """After a key rotation, seal every TOTP secret still under a retired key with the current
    one (the retired key must still be in `keyring`); returns how many were resealed."""
    rows = await repository.totp_to_reseal(conn, keyring.current_id)
    for row in rows:
        sealed = Sealed(row["key_id"], row["secret_ciphertext"])
        secret = keyring.open(sealed, context=row["id"])
        await repository.reseal_totp(conn, row["id"], keyring.seal(secret, context=row["id"]))
    return len(rows)


async def require_identity(conn: Connection, identity_id: str) -> Identity:
    identity = await repository.find_identity(conn, identity_id)
    if identity is None:
        raise FactorNotEnrolled("The account no longer exists.")
    return identity
