"""People's accounts: sign-up, email verification, sign-in, passwords, profile and sessions.

Every successful sign-in of a person, whatever proved who they are (password, password plus a
second factor, passkey), ends in `finish_sign_in`: it opens the session, recognises the device,
alerts on a new device or place and records the audit event. The endpoint then answers with
`sign_in_response`. Services never commit; the caller's transaction does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from finhub.api import Container
from finhub.audit.service import AuditContext, record
from finhub.config import Settings
from finhub.identity import devices, repository, sessions
from finhub.identity.sessions import NewSession
from finhub.kit.db.engine import Connection
from finhub.notifications import inbox


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
        await _alert_new_sign_in(conn, c, user_id, device, devices.client_ip(request), session)
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


async def _alert_new_sign_in(
    conn: Connection,
    c: Container,
    user_id: str,
    device: devices.Device,
    ip: str | None,
    session: NewSession,
) -> None:
    user = await repository.get_user(conn, user_id)
    if user is None:
        return
    what = devices.describe(device.user_agent)
    where = f"the network {device.network}" if device.network else "an unknown network"
    when = session.created_at.strftime("%Y-%m-%d %H:%M UTC")
    await c.mailer.queue(
        conn,
        to=user.email,
        subject="New sign-in to your finhub account",
        text=(
            f"Hello {user.display_name or user.email},\n\n"
            f"Your finhub account was signed in to at {when} from {what} on {where} "
            f"(address {ip or 'unknown'}).\n\n"
            "If this was you, there is nothing to do. If it wasn't, reset your password at "
            f"{c.settings.public_url}/reset-password and sign out of your other devices in "
            "your security settings.\n"
        ),
        tag="security.new_sign_in",
    )
    await inbox.notify(
        conn,
        user_id=user_id,
        kind="security.new_sign_in",
        title="New sign-in to your account",
        body=f"Signed in at {when} from {what} on {where}. Not you? Reset your password.",
        data={"session_id": session.id, "network": device.network, "user_agent": what},
    )
