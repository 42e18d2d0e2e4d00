"""The API key as the service sees it (never with its secret)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network
from typing import Literal

Mode = Literal["live", "test"]
KeyStatus = Literal["active", "expired", "revoked"]
Network = IPv4Network | IPv6Network
SECRET_PREFIXES: dict[str, str] = {"live": "fh_live_", "test": "fh_test_"}


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    user_id: str | None
    organization_id: str | None
    name: str
    mode: Mode
    scopes: list[str]
    allowed_ips: list[Network] | None
    secret_prefix: str
    secret_last4: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    rolled_at: datetime | None
    previous_secret_expires_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime) -> KeyStatus:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    @property
    def redacted(self) -> str:
        """How the key is shown once its secret is gone: `fh_live_Ab3x…Wq9z`."""
        return f"{self.secret_prefix}…{self.secret_last4}"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key together with its secret: only right after creation or a roll."""

    key: ApiKey
    secret: str


@dataclass(frozen=True, slots=True)
class NewKey:
    """What a caller asks for; validated by the service."""

    name: str
    mode: Mode
    scopes: list[str]
    organization_id: str | None = None
    allowed_ips: list[str] | None = None
    expires_at: datetime | None = None
