"""Adding and removing second factors and the payment PIN.

Each change is audited (`factor.totp_enabled`, `factor.passkey_added`, ...) as the last
statement of its transaction and announced to the owner by email and in their inbox. Whether a
change needs a fresh step-up is decided by the endpoints (`needs_step_up`): once a second factor
exists, adding or removing one does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from finhub.audit.service import AuditContext, record
from finhub.errors import Conflict, Forbidden, NotFound, Unprocessable
from finhub.identity import passwords
from finhub.identity.factors import passkeys, recovery, repository, totp
from finhub.identity.factors.pin import check_pin_rules, hash_pin, pin_matches
from finhub.identity.factors.repository import Identity
from finhub.identity.factors.service import (
    FactorDeps,
    InvalidPin,
    InvalidSecondFactor,
    attempt,
    issue_passkey_challenge,
    second_factor_methods,
    spend_passkey_challenge,
    step_up_methods,
    tell,
)
from finhub.identity.principal import StepUpRequired
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    factor_id: str
    provisioning: totp.Provisioning


@dataclass(frozen=True, slots=True)
class EnabledTotp:
    factor_id: str
    recovery_codes: list[str]


async def needs_step_up(conn: Connection, identity_id: str) -> bool:
    """Adding or removing a factor needs step-up once anything can step up the session: a
    second factor or the payment PIN (else a password alone could add a factor of its own
    and use it to step up)."""
    return bool(await step_up_methods(conn, identity_id))


# --- TOTP -------------------------------------------------------------------------------------


async def start_totp(
    conn: Connection, deps: FactorDeps, identity: Identity, now: datetime
) -> TotpEnrolment:
    """A new secret, pending until a code from it is confirmed; replaces an unconfirmed one."""
    if await repository.find_totp(conn, identity.id, confirmed=True) is not None:
        raise Conflict(
            "An authenticator app is set up already; remove it first to replace it.",
            code="totp_already_enabled",
        )
    await repository.delete_pending_totp(conn, identity.id)
    factor_id = new_id("fac")
    secret = totp.new_secret()
    sealed = deps.keyring.seal(secret.encode(), context=factor_id)
    await repository.insert_totp(
        conn, factor_id=factor_id, identity_id=identity.id, sealed=sealed, now=now
    )
    return TotpEnrolment(factor_id, totp.provisioning(secret, identity.email))


async def confirm_totp(
    conn: Connection,
    deps: FactorDeps,
    ctx: AuditContext,
    identity: Identity,
    code: str,
    now: datetime,
) -> EnabledTotp:
    """Enable the pending secret once the app shows a matching code; answers fresh recovery
    codes (shown this once)."""
    if await repository.find_totp(conn, identity.id, confirmed=True) is not None:
        raise Conflict("An authenticator app is set up already.", code="totp_already_enabled")
    pending = await repository.find_totp(conn, identity.id, confirmed=False)
    if pending is None:
        raise Conflict(
            "Start with POST /v1/me/factors/totp to get a secret.", code="totp_not_started"
        )
    secret = deps.keyring.open(pending.sealed, context=pending.id).decode()
    step = totp.matching_step(secret, code, now)
    if step is None:
        raise InvalidSecondFactor("The code doesn't match; check the app's clock and retry.")
    await repository.claim_totp_step(conn, identity.id, pending.id, step)
    await repository.confirm_totp(conn, identity.id, pending.id, now)
    codes = await _new_recovery_codes(conn, identity.id, now)
    await tell(
        conn,
        deps,
        identity,
        kind="factor.totp_enabled",
        title="Two-step verification is on",
        body="An authenticator app now protects your finhub sign-in.",
    )
    await record(
        conn,
        ctx,
        "factor.totp_enabled",
        subject_user_id=_person(identity),
        object_type="totp_factor",
        object_id=pending.id,
    )
    return EnabledTotp(pending.id, codes)


async def provision_confirmed_totp(
    conn: Connection, deps: FactorDeps, identity: Identity, now: datetime
) -> TotpEnrolment:
    """A TOTP factor enabled at once, for an operator who scans the code on the spot (`finhub
    staff create`)."""
    enrolment = await start_totp(conn, deps, identity, now)
    await repository.confirm_totp(conn, identity.id, enrolment.factor_id, now)
    return enrolment


async def remove_totp(
    conn: Connection, deps: FactorDeps, ctx: AuditContext, identity: Identity, now: datetime
) -> str:
    if identity.is_staff:
        raise Forbidden(
            "Staff must keep an authenticator app; an admin can reset it.",
            code="second_factor_required",
        )
    factor_id = await repository.delete_totp(conn, identity.id)
    if factor_id is None:
        raise NotFound("No authenticator app is set up.", code="not_found")
    await _forget_recovery_codes_if_last(conn, identity.id)
    await tell(
        conn,
        deps,
        identity,
        kind="factor.totp_disabled",
        title="Your authenticator app was removed",
        body="Codes from your authenticator app no longer sign you in to finhub.",
    )
    await record(
        conn,
        ctx,
        "factor.totp_disabled",
        subject_user_id=_person(identity),
        object_type="totp_factor",
        object_id=factor_id,
    )
    return factor_id


# --- recovery codes ---------------------------------------------------------------------------


async def regenerate_recovery_codes(
    conn: Connection, deps: FactorDeps, ctx: AuditContext, identity: Identity, now: datetime
) -> list[str]:
    """Ten new codes; every older code stops working."""
    methods = await second_factor_methods(conn, identity.id)
    if "totp" not in methods and "passkey" not in methods:
        raise Conflict(
            "Recovery codes back up an authenticator app or a passkey; set one up first.",
            code="no_second_factor",
        )
    codes = await _new_recovery_codes(conn, identity.id, now)
    await tell(
        conn,
        deps,
        identity,
        kind="factor.recovery_codes_regenerated",
        title="New recovery codes",
        body="New recovery codes were made for your finhub account; the old ones no longer work.",
    )
    await record(
        conn,
        ctx,
        "factor.recovery_codes_regenerated",
        subject_user_id=_person(identity),
        object_type="recovery_codes",
        object_id=identity.id,
        details={"count": len(codes)},
    )
    return codes


async def _new_recovery_codes(conn: Connection, identity_id: str, now: datetime) -> list[str]:
    codes = recovery.new_codes()
    await repository.replace_recovery_codes(
        conn, identity_id, [recovery.code_hash(code) for code in codes], now
    )
    return codes


async def _forget_recovery_codes_if_last(conn: Connection, identity_id: str) -> None:
    """Recovery codes stand in for a factor; with none left they would be a second password."""
    methods = await second_factor_methods(conn, identity_id)
    if "totp" not in methods and "passkey" not in methods:
        await repository.delete_recovery_codes(conn, identity_id)


# --- passkeys ---------------------------------------------------------------------------------


async def passkey_registration_options(
    conn: Connection, deps: FactorDeps, identity: Identity, now: datetime
) -> dict[str, Any]:
    challenge = await issue_passkey_challenge(
        conn, purpose="passkey_registration", subject_id=identity.id, now=now
    )
    return passkeys.registration_options(
        deps.settings,
        challenge=challenge,
        user_handle=identity.id.encode(),
        user_name=identity.email,
        display_name=identity.display_name or identity.email,
        existing=await repository.credential_ids(conn, identity.id),
    )


async def register_passkey(
    conn: Connection,
    deps: FactorDeps,
    ctx: AuditContext,
    identity: Identity,
    *,
    credential: dict[str, Any],
    name: str,
    now: datetime,
) -> dict[str, Any]:
    challenge = passkeys.registration_challenge(credential)
    await spend_passkey_challenge(
        conn, challenge, purpose="passkey_registration", subject_id=identity.id, now=now
    )
    verified = passkeys.verify_registration(deps.settings, credential, challenge)
    row = await repository.insert_passkey(
        conn,
        passkey_id=new_id("pk"),
        identity_id=identity.id,
        values={
            "credential_id": verified.credential_id,
            "public_key": verified.public_key,
            "sign_count": verified.sign_count,
            "name": name,
            "aaguid": verified.aaguid,
            "transports": verified.transports,
            "device_type": verified.device_type,
            "backed_up": verified.backed_up,
        },
        now=now,
    )
    if row is None:
        raise Conflict("This passkey is registered already.", code="passkey_exists")
    await tell(
        conn,
        deps,
        identity,
        kind="factor.passkey_added",
        title="A passkey was added",
        body=f'The passkey "{name}" can now sign you in to finhub.',
    )
    await record(
        conn,
        ctx,
        "factor.passkey_added",
        subject_user_id=_person(identity),
        object_type="passkey",
        object_id=row["id"],
        after={"name": name, "aaguid": verified.aaguid},
    )
    return row


async def rename_passkey(
    conn: Connection, ctx: AuditContext, identity: Identity, passkey_id: str, name: str
) -> dict[str, Any]:
    before = await repository.get_passkey(conn, identity.id, passkey_id)
    row = await repository.rename_passkey(conn, identity.id, passkey_id, name)
    if before is None or row is None:
        raise NotFound("No such passkey.")
    await record(
        conn,
        ctx,
        "factor.passkey_renamed",
        subject_user_id=_person(identity),
        object_type="passkey",
        object_id=passkey_id,
        before={"name": before["name"]},
        after={"name": name},
    )
    return row


async def remove_passkey(
    conn: Connection,
    deps: FactorDeps,
    ctx: AuditContext,
    identity: Identity,
    passkey_id: str,
) -> dict[str, Any]:
    row = await repository.delete_passkey(conn, identity.id, passkey_id)
    if row is None:
        raise NotFound("No such passkey.")
    await _forget_recovery_codes_if_last(conn, identity.id)
    await tell(
        conn,
        deps,
        identity,
        kind="factor.passkey_removed",
        title="A passkey was removed",
        body=f'The passkey "{row["name"]}" no longer signs you in to finhub.',
    )
    await record(
        conn,
        ctx,
        "factor.passkey_removed",
        subject_user_id=_person(identity),
        object_type="passkey",
        object_id=passkey_id,
        before={"name": row["name"]},
    )
    return row


# --- payment PIN ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PinChange:
    pin: str
    current_pin: str | None
    password: str | None
    stepped_up: bool  # the session proved a second factor within the step-up window
    ip: str | None


async def set_pin(
    conn: Connection,
    deps: FactorDeps,
    ctx: AuditContext,
    identity: Identity,
    change: PinChange,
    now: datetime,
) -> bool:
    """Set or change the payment PIN; True when it replaced one. Changing needs the current
    PIN; the first PIN needs a fresh step-up, or the password from someone without a second
    factor."""
    check_pin_rules(change.pin)
    existing = await repository.pin_hash(conn, identity.id)
    if existing is not None:
        await _require_current_pin(deps, identity, existing, change, now)
    else:
        await _require_reauthentication(conn, deps, identity, change, now)
    await repository.save_pin(conn, identity.id, await hash_pin(change.pin), now)
    action = "factor.pin_changed" if existing else "factor.pin_set"
    await tell(
        conn,
        deps,
        identity,
        kind=action,
        title="Your payment PIN was changed" if existing else "Your payment PIN is set",
        body="Your finhub payment PIN was " + ("changed." if existing else "set."),
    )
    await record(conn, ctx, action, subject_user_id=_person(identity), object_type="payment_pin")
    return existing is not None


async def _require_current_pin(
    deps: FactorDeps, identity: Identity, existing: str, change: PinChange, now: datetime
) -> None:
    if change.current_pin is None:
        raise Unprocessable("Send `current_pin` to change the PIN.", code="current_pin_required")
    current_pin = change.current_pin
    await _guarded(
        deps,
        identity.id,
        change.ip,
        now,
        lambda: pin_matches(existing, current_pin),
        InvalidPin("The current PIN is wrong."),
    )


async def _require_reauthentication(
    conn: Connection, deps: FactorDeps, identity: Identity, change: PinChange, now: datetime
) -> None:
    if change.stepped_up:
        return
    if await second_factor_methods(conn, identity.id):
        raise StepUpRequired(
            "Confirm it's you with a second factor (POST /v1/auth/step-up), then set the PIN.",
            methods=["totp", "passkey", "recovery_code"],
        )
    if change.password is None:
        raise Unprocessable(
            "Send your account `password` to set the first PIN.", code="password_required"
        )
    password = change.password
    await _guarded(
        deps,
        identity.id,
        change.ip,
        now,
        lambda: passwords.verify_password(identity.password_hash, password),
        InvalidSecondFactor("The password is wrong.", code="invalid_credentials"),
    )


async def _guarded(
    deps: FactorDeps,
    identity_id: str,
    ip: str | None,
    now: datetime,
    verify: Callable[[], Awaitable[bool]],
    failure: InvalidSecondFactor,
) -> None:
    """Run `verify` under the PIN throttle: refused while locked, a mismatch counts."""
    async with attempt(deps, identity_id=identity_id, ip=ip, now=now, pin=True):
        if not await verify():
            raise failure


async def remove_pin(
    conn: Connection, deps: FactorDeps, ctx: AuditContext, identity: Identity
) -> None:
    if not await repository.delete_pin(conn, identity.id):
        raise NotFound("No payment PIN is set.")
    await tell(
        conn,
        deps,
        identity,
        kind="factor.pin_removed",
        title="Your payment PIN was removed",
        body="Your finhub payment PIN was removed.",
    )
    await record(
        conn,
        ctx,
        "factor.pin_removed",
        subject_user_id=_person(identity),
        object_type="payment_pin",
    )


def _person(identity: Identity) -> str | None:
    return None if identity.is_staff else identity.id
