"""Recognising the device and place of a sign-in, to alert a person about new ones.

A browser gets a long-lived random `fh_device` cookie (HttpOnly) at its first sign-in; that
cookie names the device from then on. Clients that keep no cookies (scripts, some apps) are
recognised by their user agent and network instead. A place is the network of the address:
the /24 of an IPv4 address or the /48 of an IPv6 one, so a new address from the same provider
block is not a new place.

Only SHA-256 digests of the cookie are stored; a copied table names no device.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import Response

from finhub.config import Settings
from finhub.identity import repository
from finhub.kit.db.engine import Connection
from finhub.kit.secrets import new_secret
from finhub.notifications import inbox

if TYPE_CHECKING:
    from finhub.api import Container
    from finhub.identity.sessions import NewSession

DEVICE_COOKIE = "fh_device"
DEVICE_COOKIE_PREFIX = "fhd_"
# Browsers cap cookie lifetimes at 400 days (RFC 6265bis); the cookie is renewed at each sign-in.
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 3600
MAX_COOKIE_LENGTH = 100
IPV4_PREFIX = 24
IPV6_PREFIX = 48


@dataclass(frozen=True, slots=True)
class Device:
    """What a request says about where it comes from."""

    cookie: str  # the presented device cookie, or a fresh one to hand out
    cookie_presented: bool
    fingerprint_key: str  # user agent + network, for clients without cookies
    network: str | None
    user_agent: str | None

    @property
    def cookie_key(self) -> str:
        return _digest("cookie", self.cookie)

    @property
    def key(self) -> str:
        """The key this sign-in is recognised by (also kept on the session as `device_id`)."""
        return self.cookie_key if self.cookie_presented else self.fingerprint_key


@dataclass(frozen=True, slots=True)
class Sighting:
    new_device: bool
    new_place: bool
    first_sign_in: bool

    @property
    def alert(self) -> bool:
        """Alert on a new device or place, except at the very first sign-in of an account
        (every device is new then, and the person has just signed up)."""
        return not self.first_sign_in and (self.new_device or self.new_place)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def network_of(ip: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) around an address; None for no or an unparsable address."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def identify(request: Request) -> Device:
    user_agent = request.headers.get("user-agent")
    network = network_of(client_ip(request))
    presented = request.cookies.get(DEVICE_COOKIE)
    valid = (
        presented is not None
        and presented.startswith(DEVICE_COOKIE_PREFIX)
        and len(presented) <= MAX_COOKIE_LENGTH
    )
    return Device(
        cookie=presented if valid and presented else new_secret(DEVICE_COOKIE_PREFIX),
        cookie_presented=valid,
        fingerprint_key=_digest("fingerprint", f"{user_agent or ''}\n{network or ''}"),
        network=network,
        user_agent=(user_agent or "")[:512] or None,
    )


async def record_sighting(
    conn: Connection, user_id: str, device: Device, now: datetime
) -> Sighting:
    """Whether the device and place are new for this person, then remember both. The cookie
    and the fingerprint are both remembered, so a browser stays known whether or not it
    sends its cookie next time."""
    first_sign_in = not await repository.has_known_devices(conn, user_id)
    new_device = not await repository.is_known_device(conn, user_id, device.key)
    new_place = device.network is not None and not await repository.is_known_place(
        conn, user_id, device.network
    )
    await repository.remember_device(conn, user_id, device.cookie_key, device.user_agent, now)
    await repository.remember_device(conn, user_id, device.fingerprint_key, device.user_agent, now)
    if device.network is not None:
        await repository.remember_place(conn, user_id, device.network, now)
    return Sighting(new_device=new_device, new_place=new_place, first_sign_in=first_sign_in)


def set_device_cookie(response: Response, device_cookie: str, settings: Settings) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        device_cookie,
        max_age=DEVICE_COOKIE_MAX_AGE,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def describe(user_agent: str | None) -> str:
    """A short human description of a user agent for alerts."""
    if not user_agent:
        return "an unknown device"
    return user_agent if len(user_agent) <= 120 else user_agent[:117] + "..."


async def alert_new_sign_in(
    conn: Connection,
    c: Container,
    user_id: str,
    device: Device,
    session: NewSession,
) -> None:
    """Mail the person and put a note in their inbox about a sign-in from a new device or
    place, with what we know of it and what to do if it wasn't them."""
    user = await repository.get_user(conn, user_id)
    if user is None:
        return
    what = describe(device.user_agent)
    where = f"the network {device.network}" if device.network else "an unknown network"
    when = session.created_at.strftime("%Y-%m-%d %H:%M UTC")
    await c.mailer.queue(
        conn,
        to=user.email,
        subject="New sign-in to your finhub account",
        text=(
            f"Hello {user.display_name or user.email},\n\n"
            f"Your finhub account was signed in to at {when} from {what} on {where} "
            f".\n\n"
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


def _digest(label: str, value: str) -> str:
    return hashlib.sha256(f"{label}\0{value}".encode()).hexdigest()
