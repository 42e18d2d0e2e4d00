"""Where webhooks may go: public HTTPS destinations only (DESIGN.md §4).

A webhook URL is chosen by a customer, so without care it is a way to make finhub's servers
call into their own network (server-side request forgery). A URL is refused when its host is,
or resolves to, any address that is not globally routable: private, loopback, link-local,
multicast, reserved, shared (CGNAT) and unspecified ranges, in IPv4 and IPv6, including IPv4
addresses embedded in IPv6 (mapped, 6to4, Teredo, NAT64).

The check runs when an endpoint is saved and again before every delivery, because a name can
resolve somewhere else later (DNS rebinding); the delivery then connects to the very address
that was checked, so nothing can switch it in between.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from pydantic_settings import BaseSettings, SettingsConfigDict

from finhub.config import Settings
from finhub.webhooks.errors import DestinationRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses `host` resolves to (empty or an OSError when it doesn't)."""
        ...


class SystemResolver:
    """The operating system's resolver."""

    async def resolve(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return sorted({str(info[4][0]) for info in infos})


class WebhookSettings(BaseSettings):
    """Development switches of this module (`FINHUB_WEBHOOKS_*`); production ignores them."""

    model_config = SettingsConfigDict(env_prefix="FINHUB_WEBHOOKS_", extra="ignore")

    allow_loopback: bool = False


@dataclass(frozen=True, slots=True)
class Target:
    """A checked destination: the URL as given and the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str

    @property
    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address."""
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if ":" in self.address else self.address
        return parts._replace(netloc=f"{host}:{self.port}").geturl()

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """What outbound webhook traffic may reach. `allow_http` and `allow_loopback` exist for
    development and tests and are never on in production."""

    resolver: Resolver = field(default_factory=SystemResolver)
    allow_http: bool = False
    allow_loopback: bool = False

    @classmethod
    def for_settings(
        cls, settings: Settings, resolver: Resolver | None = None, *, allow_loopback: bool = False
    ) -> EgressPolicy:
        production = settings.environment == "production"
        loopback = allow_loopback or WebhookSettings().allow_loopback
        return cls(
            resolver=resolver or SystemResolver(),
            allow_http=not production,
            allow_loopback=loopback and not production,
        )

    def check_form(self, url: str) -> tuple[str, str, int]:
        """Scheme, host and port of an acceptable URL, without looking the host up."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme != "https" and not (scheme == "http" and self.allow_http):
            raise DestinationRefused("Webhook URLs must use https.", code="webhook_url_not_https")
        if parts.username is not None or parts.password is not None:
            raise DestinationRefused("Webhook URLs can't carry credentials.")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as error:
            raise DestinationRefused("The URL's port is not valid.") from error
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise DestinationRefused("The URL has no host.")
        if host in LOOPBACK_NAMES and not self.allow_loopback:
            raise _private(host)
        return scheme, host, port

    async def check(self, url: str) -> Target:
        """The destination to connect to; raises `DestinationRefused` if any address the host
        has is not public (one private answer is enough to refuse: the client could pick it)."""
        scheme, host, port = self.check_form(url)
        addresses = await self._addresses(host, port)
        for address in addresses:
            if not self._allowed(ipaddress.ip_address(address)):
                raise _private(host)
        return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])

    async def _addresses(self, host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        try:
            found = await self.resolver.resolve(host, port)
        except OSError as error:
            raise DestinationRefused(
                f"The host {host} could not be resolved.", code="webhook_url_unresolvable"
            ) from error
        if not found:
            raise DestinationRefused(
                f"The host {host} could not be resolved.", code="webhook_url_unresolvable"
            )
        return [str(ipaddress.ip_address(address.split("%")[0])) for address in found]

    def _allowed(self, address: IPAddress) -> bool:
        if self.allow_loopback and address.is_loopback:
            return True
        return is_public(address)


def is_public(address: IPAddress) -> bool:
    """Whether `address` is globally routable unicast, looking through IPv6 forms that carry
    an IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _private(host: str) -> DestinationRefused:
    return DestinationRefused(
        f"{host} is, or resolves to, an address that is not public.",
        code="webhook_url_not_public",
    )
