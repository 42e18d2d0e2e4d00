"""Staff: the back-office identity, separate from people.

Staff always sign in with two factors: the password answers a challenge, never a session, and
only a TOTP code (or a recovery code) completes it. A member without a confirmed authenticator
can't sign in at all. Roles (support, compliance, operations, admin) are read from the table on
every request, so a change takes effect on the member's next request; disabling also revokes
their sessions. Every change is audited as the last statement of its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from finhub.audit.service import AuditContext, record
from finhub.errors import Conflict, Forbidden, NotFound, Unprocessable
from finhub.identity import passwords, sessions, tokens
from finhub.identity.errors import InvalidCredentials
from finhub.identity.factors import enrolment
from finhub.identity.factors.repository import find_identity
from finhub.identity.factors.service import FactorDeps, Proof, prove, second_factor_methods
from finhub.identity.principal import STAFF_ROLES
from finhub.identity.staff import repository
from finhub.identity.staff.repository import StaffRow
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.throttle import Throttle, ThrottleRule

SIGN_IN_CHALLENGE = "staff_sign_in_challenge"
SIGN_IN_CHALLENGE_TTL = timedelta(minutes=5)
ENROLMENT = "staff_enrolment"
ENROLMENT_TTL = timedelta(days=3)
UNUSABLE_PASSWORD = "!unusable"  # noqa: S105 (matches no password; set at enrolment)
SIGN_IN_ACCOUNT = ThrottleRule(scope="staff_sign_in")
SIGN_IN_IP = ThrottleRule(scope="staff_sign_in", max_failures=25)


@dataclass(frozen=True, slots=True)
class NewMember:
    member: StaffRow
    totp: enrolment.TotpEnrolment | None  # the authenticator, set up at once (CLI)
    enrolment_token: str | None  # the one-time link token (API), the member sets up both


@dataclass(frozen=True, slots=True)
class Challenge:
    token: str
    expires_at: datetime


def member_payload(member: StaffRow) -> dict[str, Any]:
    return {
        "object": "staff_member",
        "id": member.id,
        "email": member.email,
        "display_name": member.display_name,
        "roles": sorted(member.roles),
        "status": member.status,
        "created_at": member.created_at,
        "updated_at": member.updated_at,
    }


def check_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - set(STAFF_ROLES))
    if unknown or not roles:
        raise Unprocessable(
            f"Roles are one or more of {', '.join(STAFF_ROLES)}.",
            code="invalid_staff_role",
            unknown_roles=unknown,
        )
    return sorted(set(roles))


async def create_member(
    conn: Connection,
    deps: FactorDeps,
    ctx: AuditContext,
    *,
    email: str,
    display_name: str,
    roles: list[str],
    password: str | None,
    now: datetime,
) -> NewMember:
    """With a password (the CLI) the member gets a confirmed authenticator at once; without
    (the API) an enrolment token with which they choose a password and set up the app."""
    roles = check_roles(roles)
    if password is not None:
        normalised = passwords.check_new_password(password, email=email, display_name=display_name)
        password_hash = await passwords.hash_password(normalised)
    else:
        password_hash = UNUSABLE_PASSWORD
    member = await repository.insert(
        conn,
        staff_id=new_id("stf"),
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        roles=roles,
        now=now,
    )
    if member is None:
        raise Conflict("A staff member with this email exists already.", code="staff_exists")
    totp = token = None
    if password is not None:
        identity = await find_identity(conn, member.id)
        assert identity is not None
        totp = await enrolment.provision_confirmed_totp(conn, deps, identity, now)
    else:
        token = await tokens.issue(
            conn, purpose=ENROLMENT, subject_id=member.id, ttl=ENROLMENT_TTL, now=now
        )
    await record(
        conn,
        ctx,
        "staff.created",
        object_type="staff_member",
        object_id=member.id,
        after={"email": email, "roles": roles},
    )
    return NewMember(member, totp, token)


# --- enrolment --------------------------------------------------------------------------------


async def start_enrolment(
    conn: Connection, deps: FactorDeps, token: str, now: datetime
) -> enrolment.TotpEnrolment:
    """The authenticator secret for a new member (a fresh one each call until confirmed)."""
    grant = await tokens.peek(conn, purpose=ENROLMENT, token=token, now=now)
    identity = await find_identity(conn, grant.subject_id)
    if identity is None or identity.status != "active":
        raise tokens.InvalidToken("The token is invalid, expired or already used.")
    return await enrolment.start_totp(conn, deps, identity, now)


async def finish_enrolment(
    conn: Connection,
    deps: FactorDeps,
    ctx: AuditContext,
    *,
    token: str,
    password: str,
    code: str,
    now: datetime,
) -> tuple[StaffRow, list[str]]:
    """Set the password and confirm the authenticator; answers the recovery codes."""
    grant = await tokens.peek(conn, purpose=ENROLMENT, token=token, now=now)
    member = await repository.get(conn, grant.subject_id, lock=True)
    identity = await find_identity(conn, grant.subject_id)
    if member is None or identity is None or member.status != "active":
        raise tokens.InvalidToken("The token is invalid, expired or already used.")
    normalised = passwords.check_new_password(
        password, email=member.email, display_name=member.display_name
    )
    enabled = await enrolment.confirm_totp(conn, deps, ctx, identity, code, now)
    await tokens.consume(conn, purpose=ENROLMENT, token=token, now=now)
    await repository.set_password(conn, member.id, await passwords.hash_password(normalised), now)
    await record(conn, ctx, "staff.enrolled", object_type="staff_member", object_id=member.id)
    return member, enabled.recovery_codes


# --- sign-in ----------------------------------------------------------------------------------


async def sign_in(
    conn: Connection,
    throttle: Throttle,
    *,
    email: str,
    password: str,
    ip: str | None,
    now: datetime,
) -> Challenge:
    """Check the password; the answer is always a challenge for the second factor. Unknown
    addresses, wrong passwords, disabled members and members without an authenticator all
    answer the same `invalid_credentials`, in the same time (argon2 runs every time)."""
    account_key, ip_key = f"email:{email.lower()}", f"ip:{ip}"
    await throttle.check(SIGN_IN_ACCOUNT, [account_key, ip_key], now)
    member = await repository.by_email(conn, email)
    matches = await passwords.verify_password(member.password_hash if member else None, password)
    if member is None or not matches:
        await throttle.fail(SIGN_IN_ACCOUNT, [account_key], now)
        await throttle.fail(SIGN_IN_IP, [ip_key], now)
        raise InvalidCredentials("The email address or password is not correct.")
    await throttle.succeed(SIGN_IN_ACCOUNT, account_key)
    if member.status != "active" or "totp" not in await second_factor_methods(conn, member.id):
        raise InvalidCredentials("The email address or password is not correct.")
    token = await tokens.issue(
        conn, purpose=SIGN_IN_CHALLENGE, subject_id=member.id, ttl=SIGN_IN_CHALLENGE_TTL, now=now
    )
    return Challenge(token, now + SIGN_IN_CHALLENGE_TTL)


async def complete_sign_in(
    conn: Connection,
    deps: FactorDeps,
    *,
    challenge_token: str,
    proof: Proof,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> tuple[StaffRow, sessions.NewSession]:
    """Exchange the challenge and a second factor for a staff session. A wrong code counts
    against the throttle and leaves the challenge usable until it expires."""
    challenge = await tokens.peek(conn, purpose=SIGN_IN_CHALLENGE, token=challenge_token, now=now)
    await prove(
        conn,
        deps,
        identity_id=challenge.subject_id,
        proof=proof,
        ip=ip,
        now=now,
        passkey_purpose="passkey_second_factor",
    )
    await tokens.consume(conn, purpose=SIGN_IN_CHALLENGE, token=challenge_token, now=now)
    member = await repository.get(conn, challenge.subject_id)
    if member is None or member.status != "active":
        raise tokens.InvalidToken("The token is invalid, expired or already used.")
    session = await sessions.start_session(
        conn, deps.settings, now=now, aal=2, staff_id=member.id, ip=ip, user_agent=user_agent
    )
    return member, session


async def challenge_subject(conn: Connection, challenge_token: str, now: datetime) -> str | None:
    """Whose challenge it is (for auditing a failure), or None when it isn't valid."""
    try:
        grant = await tokens.peek(conn, purpose=SIGN_IN_CHALLENGE, token=challenge_token, now=now)
    except tokens.InvalidToken:
        return None
    return grant.subject_id


# --- management -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberChange:
    roles: list[str] | None
    status: str | None


async def change_member(
    conn: Connection,
    ctx: AuditContext,
    *,
    actor_id: str,
    staff_id: str,
    change: MemberChange,
    now: datetime,
) -> StaffRow:
    """Change roles or status. An admin can't take their own admin role or disable
    themselves (the last admin could lock everyone out); disabling revokes every session."""
    before = await repository.get(conn, staff_id, lock=True)
    if before is None:
        raise NotFound("No such staff member.")
    roles = check_roles(change.roles) if change.roles is not None else sorted(before.roles)
    status = change.status or before.status
    if staff_id == actor_id and ("admin" not in roles or status != "active"):
        raise Forbidden(
            "You can't remove your own admin role or disable yourself; ask another admin.",
            code="cannot_demote_self",
        )
    after = await repository.update(conn, staff_id, roles=roles, status=status, now=now)
    if status == "disabled" and before.status != "disabled":
        await sessions.revoke_all(conn, now, staff_id)
    if sorted(before.roles) != roles:
        await record(
            conn,
            ctx,
            "staff.roles_changed",
            object_type="staff_member",
            object_id=staff_id,
            before={"roles": sorted(before.roles)},
            after={"roles": roles},
        )
    if before.status != status:
        await record(
            conn,
            ctx,
            "staff.disabled" if status == "disabled" else "staff.enabled",
            object_type="staff_member",
            object_id=staff_id,
            before={"status": before.status},
            after={"status": status},
        )
    return after
