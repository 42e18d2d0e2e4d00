"""People's accounts: sign-up, email verification, sign-in, passwords, profile and sessions.

Every successful sign-in of a person, whatever proved who they are (password, password plus a
second factor, passkey), ends in `finish_sign_in`: it opens the session, recognises the device,
alerts on a new device or place and records the audit event. The endpoint then answers with
`sign_in_response`. Services never commit; the caller's transaction does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from finhub.api import Container
from finhub.audit.service import AuditContext, record
from finhub.config import Settings
from finhub.errors import Conflict, FinhubError, Forbidden, NotFound
from finhub.identity import consents, devices, passwords, repository, sessions, tokens
from finhub.identity.errors import (
    AccountDisabled,
    EmailNotVerified,
    InvalidCredentials,
    SessionNotFound,
    UnsupportedCurrency,
    WrongCurrentPassword,
)
from finhub.identity.factors import service as factor_service
from finhub.identity.principal import Principal
from finhub.identity.repository import User
from finhub.identity.schemas import ProfilePatch, SignUpIn
from finhub.identity.sessions import NewSession
from finhub.kit.clock import Clock
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.money import iso_currency
from finhub.kit.throttle import ThrottleRule

VERIFY_EMAIL = "verify_email"
PASSWORD_RESET = "password_reset"  # noqa: S105 (a token purpose)
SIGN_IN_CHALLENGE = "sign_in_challenge"
VERIFY_EMAIL_TTL = timedelta(hours=24)
PASSWORD_RESET_TTL = timedelta(hours=1)
SIGN_IN_CHALLENGE_TTL = timedelta(minutes=5)

# Per account: a handful of guesses, then a lockout that doubles each time (1 min, 2, 4, ... 1 h).
SIGN_IN_ACCOUNT = ThrottleRule(scope="sign_in_account", max_failures=5)
# Per address: more room, since many people can share one (offices, carrier NAT).
SIGN_IN_IP = ThrottleRule(scope="sign_in_ip", max_failures=30)
# Reset and resend requests count every request (each one sends a mail), failed or not.
PASSWORD_RESET_EMAIL = ThrottleRule(
    scope="password_reset", max_failures=5, window=timedelta(hours=1)
)
PASSWORD_RESET_IP = ThrottleRule(scope="password_reset", max_failures=20, window=timedelta(hours=1))
VERIFY_RESEND_EMAIL = ThrottleRule(
    scope="verify_email_resend", max_failures=5, window=timedelta(hours=1)
)
PASSWORD_CHANGE = ThrottleRule(scope="password_change", max_failures=5)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A person's freshly opened session and what the response must carry."""

    user_id: str
    session: NewSession
    device_cookie: str
    new_device: bool
    new_place: bool
    alerted: bool  # an alert mail was queued: call `c.mailer.kick()` after commit


def user_audit_context(request: Request, user_id: str) -> AuditContext:
    """The person as the actor, before a session principal exists (sign-in, reset, verify)."""
    return dataclasses.replace(
        AuditContext.from_request(request), actor_type="user", actor_id=user_id
    )


async def finish_sign_in(
    conn: Connection, c: Container, request: Request, *, user_id: str, aal: int, method: str
) -> SignedIn:
    """Open a person's session after they proved who they are.

    `aal` is 1 for a password alone and 2 with a second factor or passkey; `method` names how
    (`password`, `password+totp`, `passkey`, ...) for the audit trail. Call inside the sign-in's
    transaction, answer with `sign_in_response`, and call `c.mailer.kick()` after commit.
    """
    now = c.clock.now()
    device = devices.identify(request)
    sighting = await devices.record_sighting(conn, user_id, device, now)
    session = await sessions.start_session(
        conn,
        c.settings,
        now=now,
        aal=aal,
        user_id=user_id,
        ip=devices.client_ip(request),
        user_agent=device.user_agent,
        device_id=device.key,
    )
    if sighting.alert:
        await devices.alert_new_sign_in(conn, c, user_id, device, session)
    await record(
        conn,
        user_audit_context(request, user_id),
        "auth.sign_in",
        subject_user_id=user_id,
        object_type="session",
        object_id=session.id,
        details={
            "method": method,
            "aal": aal,
            "new_device": sighting.new_device,
            "new_place": sighting.new_place,
        },
    )
    return SignedIn(
        user_id=user_id,
        session=session,
        device_cookie=device.cookie,
        new_device=sighting.new_device,
        new_place=sighting.new_place,
        alerted=sighting.alert,
    )


def sign_in_response(signed_in: SignedIn, settings: Settings) -> Response:
    """The session as JSON (token, CSRF token, expiry) plus the session and device cookies."""
    response = sessions.session_response(signed_in.session, settings)
    devices.set_device_cookie(response, signed_in.device_cookie, settings)
    return response


# --- outcomes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignInChallenge:
    """The password was right; a second factor must follow."""

    user_id: str
    challenge_token: str
    methods: list[str]
    expires_at: datetime

    def payload(self) -> dict[str, Any]:
        return {
            "object": "sign_in_challenge",
            "status": "second_factor_required",
            "challenge_token": self.challenge_token,
            "methods": self.methods,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True, slots=True)
class Refused:
    """A refusal whose audit record must be kept: the endpoint commits, then raises `error`."""

    error: FinhubError


# --- emails and signed links ------------------------------------------------------------------


def normalise_email(email: str) -> str:
    return email.strip().lower()


class _ClockSigner(TimestampSigner):
    """Timestamps from the app's clock, so link expiry follows the same time as everything."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock.now().timestamp())


def _serializer(c: Container, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        c.secret_key, salt=purpose, signer=_ClockSigner, signer_kwargs={"clock": c.clock}
    )


def sign_link_token(c: Container, purpose: str, secret: str) -> str:
    """The single-use secret wrapped in a signature bound to its purpose: a link for one
    purpose can't be replayed against another, and tampered links fail before any lookup."""
    return _serializer(c, purpose).dumps(secret)


def unsign_link_token(c: Container, purpose: str, signed: str, max_age: timedelta) -> str:
    try:
        secret = _serializer(c, purpose).loads(signed, max_age=int(max_age.total_seconds()))
    except BadData as error:
        raise tokens.InvalidToken("The link is invalid, expired or already used.") from error
    if not isinstance(secret, str):
        raise tokens.InvalidToken("The link is invalid, expired or already used.")
    return secret


async def _issue_link(
    conn: Connection,
    c: Container,
    *,
    purpose: str,
    user_id: str,
    ttl: timedelta,
    path: str,
    data: dict[str, Any] | None = None,
    supersede: bool = True,
) -> str:
    """A fresh link that, with `supersede`, retires the person's earlier links of the same
    purpose."""
    now = c.clock.now()
    if supersede:
        await tokens.revoke_all(conn, purpose=purpose, subject_id=user_id, now=now)
    secret = await tokens.issue(
        conn, purpose=purpose, subject_id=user_id, ttl=ttl, now=now, data=data
    )
    return f"{c.settings.public_url}{path}?token={sign_link_token(c, purpose, secret)}"


async def _mail(conn: Connection, c: Container, to: str, subject: str, text: str, tag: str) -> None:
    await c.mailer.queue(conn, to=to, subject=subject, text=text, tag=tag)


# --- sign-up and email verification -----------------------------------------------------------


async def sign_up(conn: Connection, c: Container, request: Request, body: SignUpIn) -> None:
    """Create a person awaiting verification and mail them a link. An address that already has
    an account gets a warning mail instead; the caller can't tell the two apart (same answer,
    and the password is hashed either way)."""
    consents.require_current("terms", body.accept_terms_version)
    consents.require_current("privacy", body.accept_privacy_version)
    password = passwords.check_new_password(
        body.password, email=body.email, display_name=body.display_name
    )
    password_hash = await passwords.hash_password(password)
    now = c.clock.now()
    email = normalise_email(body.email)
    user_id = new_id("usr")
    created = await repository.insert_user(
        conn,
        user_id=user_id,
        email=body.email.strip(),
        email_normalized=email,
        phone=body.phone,
        display_name=body.display_name,
        password_hash=password_hash,
        now=now,
    )
    if not created:
        await _warn_existing_account(conn, c, request, email, password_hash)
        return
    origin = consents.origin_of(request, c.clock.now())
    await consents.accept(conn, user_id, "terms", body.accept_terms_version, origin)
    await consents.accept(conn, user_id, "privacy", body.accept_privacy_version, origin)
    await consents.set_marketing(conn, user_id, body.marketing_opt_in, origin)
    user = await repository.get_user(conn, user_id)
    assert user is not None
    await send_verification(conn, c, user, password_hash=password_hash)
    await record(
        conn,
        user_audit_context(request, user_id),
        "auth.sign_up",
        subject_user_id=user_id,
        object_type="user",
        object_id=user_id,
        details={"marketing_opt_in": body.marketing_opt_in},
    )


async def _warn_existing_account(
    conn: Connection,
    c: Container,
    request: Request,
    email: str,
    password_hash: str | None = None,
) -> None:
    existing = await repository.find_user_by_email(conn, email)
    if existing is None:
        return
    if existing.status == "pending_verification":
        # The owner most likely lost the first mail: a fresh link helps more than a warning.
        # The link carries this sign-up's password, set only when the link is used: someone
        # who signed up first with another person's address can't keep a password of theirs
        # on the account its owner then verifies.
        await send_verification(conn, c, existing, password_hash=password_hash)
        return
    await _mail(
        conn,
        c,
        existing.email,
        "Someone tried to sign up with your address",
        "Someone just tried to create a finhub account with this email address, which already "
        "has one. If it was you, sign in instead, or reset your password at "
        f"{c.settings.public_url}/reset-password.\n\nIf it wasn't you, nothing has changed "
        "and there is nothing to do.\n",
        "auth.sign_up_existing",
    )
    await record(
        conn,
        AuditContext.from_request(request),
        "auth.sign_up",
        outcome="failure",
        subject_user_id=existing.id,
        details={"reason": "email_taken"},
    )


async def send_verification(
    conn: Connection, c: Container, user: User, *, password_hash: str | None = None
) -> None:
    data = {"email": user.email_normalized}
    if password_hash is not None:
        data["password_hash"] = password_hash
    link = await _issue_link(
        conn,
        c,
        purpose=VERIFY_EMAIL,
        user_id=user.id,
        ttl=VERIFY_EMAIL_TTL,
        path="/verify-email",
        data=data,
        # Each sign-up's link keeps working and sets that sign-up's password: a later sign-up
        # by someone else can't retire the owner's own link.
        supersede=password_hash is None,
    )
    await _mail(
        conn,
        c,
        user.email,
        "Confirm your email address",
        f"Welcome to finhub!\n\nConfirm your email address to activate your account:\n\n"
        f"{link}\n\nThe link works once, within 24 hours. If you didn't sign up, ignore "
        "this mail.\n",
        "auth.verify_email",
    )


async def resend_verification(conn: Connection, c: Container, request: Request, email: str) -> None:
    """Mail a new link if the address awaits verification; the same silence otherwise."""
    now = c.clock.now()
    email = normalise_email(email)
    keys = [f"email:{email}", f"ip:{devices.client_ip(request)}"]
    await c.throttle.check(VERIFY_RESEND_EMAIL, keys, now)
    await c.throttle.fail(VERIFY_RESEND_EMAIL, keys, now)
    user = await repository.find_user_by_email(conn, email)
    if user is not None and user.status == "pending_verification":
        await send_verification(conn, c, user)


async def verify_email(conn: Connection, c: Container, request: Request, signed: str) -> User:
    """Use a verification link: activate the account, or switch to a new address."""
    secret = unsign_link_token(c, VERIFY_EMAIL, signed, VERIFY_EMAIL_TTL)
    token = await tokens.consume(conn, purpose=VERIFY_EMAIL, token=secret, now=c.clock.now())
    user = await repository.get_user(conn, token.subject_id, for_update=True)
    if user is None:
        raise tokens.InvalidToken("The link is invalid, expired or already used.")
    if token.data.get("new_email"):
        return await _switch_email(conn, c, request, user, token.data["new_email"])
    if token.data.get("email") != user.email_normalized:
        # The address changed after this link was sent.
        raise tokens.InvalidToken("The link is invalid, expired or already used.")
    if token.data.get("password_hash") and user.status == "pending_verification":
        await repository.set_password_hash(
            conn, user.id, token.data["password_hash"], c.clock.now()
        )
    await repository.mark_email_verified(conn, user.id, c.clock.now())
    await record(
        conn,
        user_audit_context(request, user.id),
        "auth.email_verified",
        subject_user_id=user.id,
        object_type="user",
        object_id=user.id,
    )
    verified = await repository.get_user(conn, user.id)
    assert verified is not None
    return verified


# --- sign-in and sign-out ---------------------------------------------------------------------


async def sign_in(
    conn: Connection, c: Container, request: Request, *, email: str, password: str
) -> SignedIn | SignInChallenge | Refused:
    """Check email and password. Unknown address and wrong password answer alike, after the
    same argon2 work; account state is only revealed to whoever knows the password."""
    now = c.clock.now()
    email = normalise_email(email)
    ip_key = devices.client_ip(request) or "unknown"
    await c.throttle.check(SIGN_IN_ACCOUNT, [email], now)
    await c.throttle.check(SIGN_IN_IP, [ip_key], now)
    user = await repository.find_user_by_email(conn, email)
    if user is None or not await passwords.verify_password(user.password_hash, password):
        if user is None:
            await passwords.verify_password(None, password)
        locked = await c.throttle.fail(SIGN_IN_ACCOUNT, [email], now)
        await c.throttle.fail(SIGN_IN_IP, [ip_key], now)
        if locked and user is not None:
            await _tell_locked_out(conn, c, request, user)
        return await _refuse_sign_in(
            conn,
            request,
            user,
            InvalidCredentials("The email address or password is not correct."),
        )
    await c.throttle.succeed(SIGN_IN_ACCOUNT, email)
    if user.status == "disabled":
        return await _refuse_sign_in(conn, request, user, AccountDisabled())
    if user.status == "pending_verification":
        return await _refuse_sign_in(
            conn,
            request,
            user,
            EmailNotVerified(
                "Confirm your email address with the link we sent "
                "(POST /v1/auth/verify-email/resend sends a new one)."
            ),
        )
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        upgraded = await passwords.hash_password(passwords.normalise(password))
        await repository.set_password_hash(conn, user.id, upgraded, now)
    methods = await factor_service.second_factor_methods(conn, user.id)
    if methods:
        return await _challenge(conn, c, user.id, methods)
    return await finish_sign_in(conn, c, request, user_id=user.id, aal=1, method="password")


async def _tell_locked_out(conn: Connection, c: Container, request: Request, user: User) -> None:
    """Repeated wrong passwords paused sign-in to the account: the owner hears of it, and it
    stays on record (committed with the refusal)."""
    await _mail(
        conn,
        c,
        user.email,
        "Sign-in to your finhub account is paused",
        "Someone entered a wrong password for your account several times, so signing in is "
        "paused for a while. If it wasn't you, your password is still safe; consider changing "
        f"it, and turning on a second factor, at {c.settings.public_url}.\n",
        "auth.locked_out",
    )
    await record(
        conn,
        AuditContext.from_request(request),
        "auth.locked_out",
        outcome="failure",
        subject_user_id=user.id,
        object_type="user",
        object_id=user.id,
    )


async def _challenge(
    conn: Connection, c: Container, user_id: str, methods: list[str]
) -> SignInChallenge:
    now = c.clock.now()
    token = await tokens.issue(
        conn,
        purpose=SIGN_IN_CHALLENGE,
        subject_id=user_id,
        ttl=SIGN_IN_CHALLENGE_TTL,
        now=now,
        data={"first_factor": "password", "methods": methods},
    )
    return SignInChallenge(user_id, token, methods, now + SIGN_IN_CHALLENGE_TTL)


async def _refuse_sign_in(
    conn: Connection, request: Request, user: User | None, error: FinhubError
) -> Refused:
    await record(
        conn,
        AuditContext.from_request(request),
        "auth.sign_in_failed",
        outcome="failure",
        subject_user_id=user.id if user else None,
        details={"method": "password", "reason": error.code},
    )
    return Refused(error)


async def sign_out(conn: Connection, c: Container, request: Request, principal: Principal) -> None:
    user_id = person_id(principal)
    if principal.session_id is not None:
        await sessions.revoke(conn, principal.session_id, c.clock.now(), user_id)
    await record(
        conn,
        AuditContext.from_request(request, principal),
        "auth.sign_out",
        subject_user_id=user_id,
        object_type="session",
        object_id=principal.session_id,
    )


def person_id(principal: Principal) -> str:
    if principal.user_id is None:
        raise Forbidden("This needs a person's credentials.", code="wrong_principal_type")
    return principal.user_id


# --- passwords --------------------------------------------------------------------------------


async def request_password_reset(
    conn: Connection, c: Container, request: Request, email: str
) -> None:
    """Mail a reset link if the address has an account; answer the same either way. A new
    link supersedes earlier ones."""
    now = c.clock.now()
    email = normalise_email(email)
    await _count_reset_attempt(c, request, email, now)
    user = await repository.find_user_by_email(conn, email)
    if user is None or user.status == "disabled":
        return
    link = await _issue_link(
        conn,
        c,
        purpose=PASSWORD_RESET,
        user_id=user.id,
        ttl=PASSWORD_RESET_TTL,
        path="/reset-password",
    )
    await _mail(
        conn,
        c,
        user.email,
        "Reset your finhub password",
        f"Someone asked to reset the password of your finhub account. To choose a new one, "
        f"open:\n\n{link}\n\nThe link works once, within an hour, and replaces any earlier "
        "reset link. If you didn't ask, ignore this mail: your password stays as it is.\n",
        "auth.password_reset",
    )
    await record(
        conn,
        AuditContext.from_request(request),
        "auth.password_reset_requested",
        subject_user_id=user.id,
        object_type="user",
        object_id=user.id,
    )


async def _count_reset_attempt(c: Container, request: Request, email: str, now: datetime) -> None:
    ip_key = f"ip:{devices.client_ip(request)}"
    await c.throttle.check(PASSWORD_RESET_EMAIL, [f"email:{email}"], now)
    await c.throttle.check(PASSWORD_RESET_IP, [ip_key], now)
    await c.throttle.fail(PASSWORD_RESET_EMAIL, [f"email:{email}"], now)
    await c.throttle.fail(PASSWORD_RESET_IP, [ip_key], now)


async def confirm_password_reset(
    conn: Connection, c: Container, request: Request, *, signed: str, new_password: str
) -> None:
    """Set the new password from a reset link, end every session and tell the person."""
    now = c.clock.now()
    ip_key = f"ip:{devices.client_ip(request)}"
    await c.throttle.check(PASSWORD_RESET_IP, [ip_key], now)
    try:
        secret = unsign_link_token(c, PASSWORD_RESET, signed, PASSWORD_RESET_TTL)
        # Look before using: a refused new password must leave the link usable.
        token = await tokens.peek(conn, purpose=PASSWORD_RESET, token=secret, now=now)
    except tokens.InvalidToken:
        await c.throttle.fail(PASSWORD_RESET_IP, [ip_key], now)
        raise
    user = await repository.get_user(conn, token.subject_id, for_update=True)
    if user is None or user.status == "disabled":
        raise tokens.InvalidToken("The link is invalid, expired or already used.")
    password = passwords.check_new_password(
        new_password, email=user.email, display_name=user.display_name
    )
    password_hash = await passwords.hash_password(password)
    await tokens.consume(conn, purpose=PASSWORD_RESET, token=secret, now=now)
    await repository.set_password_hash(conn, user.id, password_hash, now)
    # Opening the link proved control of the mailbox, which is what verification asks.
    await repository.mark_email_verified(conn, user.id, now)
    revoked = await sessions.revoke_all(conn, now, user.id)
    await _password_notice(conn, c, user, "reset")
    await record(
        conn,
        user_audit_context(request, user.id),
        "auth.password_reset",
        subject_user_id=user.id,
        object_type="user",
        object_id=user.id,
        details={"revoked_sessions": revoked},
    )


async def change_password(
    conn: Connection,
    c: Container,
    request: Request,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
) -> int | Refused:
    """Change the password after checking the current one; other sessions end. Returns how
    many sessions were revoked."""
    user_id = person_id(principal)
    now = c.clock.now()
    await c.throttle.check(PASSWORD_CHANGE, [user_id], now)
    user = await repository.get_user(conn, user_id, for_update=True)
    assert user is not None
    if not await passwords.verify_password(user.password_hash, current_password):
        await c.throttle.fail(PASSWORD_CHANGE, [user_id], now)
        await record(
            conn,
            AuditContext.from_request(request, principal),
            "auth.password_change_failed",
            outcome="failure",
            subject_user_id=user_id,
            details={"reason": "invalid_credentials"},
        )
        return Refused(WrongCurrentPassword("The current password is not correct."))
    await c.throttle.succeed(PASSWORD_CHANGE, user_id)
    password = passwords.check_new_password(
        new_password, email=user.email, display_name=user.display_name
    )
    await repository.set_password_hash(conn, user_id, await passwords.hash_password(password), now)
    revoked = await sessions.revoke_all(conn, now, user_id, keep=principal.session_id)
    await _password_notice(conn, c, user, "changed")
    await record(
        conn,
        AuditContext.from_request(request, principal),
        "auth.password_changed",
        subject_user_id=user_id,
        object_type="user",
        object_id=user_id,
        details={"revoked_sessions": revoked},
    )
    return revoked


async def _password_notice(conn: Connection, c: Container, user: User, how: str) -> None:
    await _mail(
        conn,
        c,
        user.email,
        "Your finhub password was changed",
        f"The password of your finhub account was {how} at "
        f"{c.clock.now():%Y-%m-%d %H:%M} UTC, and your other devices were signed out.\n\n"
        "If this wasn't you, reset your password now at "
        f"{c.settings.public_url}/reset-password and contact support.\n",
        "auth.password_changed",
    )


# --- profile ----------------------------------------------------------------------------------


async def profile(conn: Connection, user_id: str) -> dict[str, Any]:
    user = await repository.get_user(conn, user_id)
    if user is None:
        raise NotFound("No such person.")
    return {
        "object": "user",
        "id": user.id,
        "email": user.email,
        "phone": user.phone,
        "display_name": user.display_name,
        "status": user.status,
        "email_verified": user.email_verified_at is not None,
        "kyc_tier": user.kyc_tier,
        "locale": user.locale,
        "home_currency": user.home_currency,
        "second_factor_methods": await factor_service.second_factor_methods(conn, user.id),
        "created_at": user.created_at,
    }


async def update_profile(
    conn: Connection, c: Container, request: Request, principal: Principal, patch: ProfilePatch
) -> dict[str, Any]:
    """Change the fields sent; the endpoint has already required step-up for a phone change."""
    user_id = person_id(principal)
    changes = patch.model_dump(include=patch.model_fields_set)
    for field in ("display_name", "locale", "home_currency"):
        if field in changes and changes[field] is None:
            del changes[field]  # only the phone can be removed
    if "home_currency" in changes and iso_currency(changes["home_currency"]) is None:
        raise UnsupportedCurrency(f"{changes['home_currency']} is not an ISO 4217 currency.")
    user = await repository.get_user(conn, user_id, for_update=True)
    assert user is not None
    before = {field: getattr(user, field) for field in changes}
    await repository.update_profile(conn, user_id, changes, c.clock.now())
    if changes:
        await record(
            conn,
            AuditContext.from_request(request, principal),
            "user.profile_updated",
            subject_user_id=user_id,
            object_type="user",
            object_id=user_id,
            before=before,
            after=changes,
        )
    return await profile(conn, user_id)


async def request_email_change(
    conn: Connection, c: Container, request: Request, principal: Principal, new_email: str
) -> None:
    """Mail a confirmation link to the new address; the switch happens when it is opened. A
    taken address gets a warning mail instead, and the caller can't tell the difference."""
    user_id = person_id(principal)
    normalised = normalise_email(new_email)
    user = await repository.get_user(conn, user_id)
    assert user is not None
    if await repository.email_taken(conn, normalised):
        if normalised != user.email_normalized:
            await _warn_existing_account(conn, c, request, normalised)
        return
    link = await _issue_link(
        conn,
        c,
        purpose=VERIFY_EMAIL,
        user_id=user_id,
        ttl=VERIFY_EMAIL_TTL,
        path="/verify-email",
        data={"new_email": new_email.strip()},
    )
    await _mail(
        conn,
        c,
        new_email.strip(),
        "Confirm your new email address",
        "Confirm that this address should become the email address of your finhub account:"
        f"\n\n{link}\n\nThe link works once, within 24 hours. If you didn't ask for this, "
        "ignore this mail.\n",
        "auth.email_change",
    )
    await record(
        conn,
        AuditContext.from_request(request, principal),
        "user.email_change_requested",
        subject_user_id=user_id,
        object_type="user",
        object_id=user_id,
    )


async def _switch_email(
    conn: Connection, c: Container, request: Request, user: User, new_email: str
) -> User:
    now = c.clock.now()
    switched = await repository.change_email(
        conn, user.id, email=new_email, email_normalized=normalise_email(new_email), now=now
    )
    if not switched:
        raise Conflict("That address now belongs to another account.", code="email_taken")
    # Reset links went to the old address: they must not outlive the change.
    await tokens.revoke_all(conn, purpose=PASSWORD_RESET, subject_id=user.id, now=now)
    await _mail(
        conn,
        c,
        user.email,
        "Your finhub email address was changed",
        f"The email address of your finhub account was changed to {new_email} at "
        f"{now:%Y-%m-%d %H:%M} UTC. If this wasn't you, contact support right away.\n",
        "auth.email_changed",
    )
    await record(
        conn,
        user_audit_context(request, user.id),
        "user.email_changed",
        subject_user_id=user.id,
        object_type="user",
        object_id=user.id,
        before={"email": user.email},
        after={"email": new_email},
    )
    changed = await repository.get_user(conn, user.id)
    assert changed is not None
    return changed


# --- sessions and consents --------------------------------------------------------------------


def session_item(info: sessions.SessionInfo, current_session_id: str | None) -> dict[str, Any]:
    return {
        "object": "session",
        "id": info.id,
        "current": info.id == current_session_id,
        "aal": info.aal,
        "ip": info.ip,
        "user_agent": info.user_agent,
        "created_at": info.created_at,
        "last_seen_at": info.last_seen_at,
        "expires_at": info.expires_at,
    }


async def revoke_session(
    conn: Connection, c: Container, request: Request, principal: Principal, session_id: str
) -> None:
    user_id = person_id(principal)
    if not await sessions.revoke(conn, session_id, c.clock.now(), user_id):
        raise SessionNotFound(f"No session {session_id}.")
    await record(
        conn,
        AuditContext.from_request(request, principal),
        "auth.session_revoked",
        subject_user_id=user_id,
        object_type="session",
        object_id=session_id,
    )


async def revoke_other_sessions(
    conn: Connection, c: Container, request: Request, principal: Principal
) -> int:
    user_id = person_id(principal)
    revoked = await sessions.revoke_all(conn, c.clock.now(), user_id, keep=principal.session_id)
    await record(
        conn,
        AuditContext.from_request(request, principal),
        "auth.other_sessions_revoked",
        subject_user_id=user_id,
        details={"revoked_sessions": revoked},
    )
    return revoked
