"""API keys: issue, list, roll, revoke and authenticate.

A key belongs to a person or to an organisation. Its secret is `fh_live_…` or `fh_test_…` plus
256 random bits, shown once (at creation and at each roll) and stored as SHA-256 only
(`finhub.kit.secrets`). People manage keys from a session; an organisation's keys need the
`api_keys:manage` permission there. Authenticating a request is one indexed lookup by hash.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from finhub.audit.service import AuditContext, record
from finhub.errors import Conflict, FinhubError, NotFound, Unprocessable
from finhub.identity.api_keys import repository
from finhub.identity.api_keys.models import (
    SECRET_PREFIXES,
    ApiKey,
    IssuedKey,
    Mode,
    Network,
    NewKey,
)
from finhub.identity.principal import Principal
from finhub.identity.scopes import SCOPES
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.secrets import new_secret, secret_hash
from finhub.organizations.service import require_permission, require_scopes_within_role

MANAGE_PERMISSION = "api_keys:manage"
MAX_ROLL_GRACE = timedelta(days=7)
# Writing `last_used_at` on every request would turn each authenticated read into a write.
MARK_USED_EVERY = timedelta(minutes=1)
DISPLAYED_SECRET_CHARS = 4  # shown after the mode prefix, and again at the end


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
    title = "No such API key"


# --- managing keys ----------------------------------------------------------------------------


async def create_key(
    conn: Connection, audit: AuditContext, principal: Principal, new: NewKey, *, now: datetime
) -> IssuedKey:
    """Issue a key for the calling person, or for `new.organization_id` if they may manage
    that organisation's keys."""
    user_id = _person(principal)
    scopes = _known_scopes(new.scopes)
    if new.organization_id is not None:
        await require_permission(conn, principal, new.organization_id, MANAGE_PERMISSION)
        await require_scopes_within_role(conn, principal, new.organization_id, scopes)
    networks = _networks(new.allowed_ips)
    if new.expires_at is not None and new.expires_at <= now:
        raise Unprocessable("`expires_at` must be in the future.", code="invalid_expiry")
    secret = new_secret(SECRET_PREFIXES[new.mode])
    key = await repository.insert_key(
        conn,
        key_id=new_id("key"),
        user_id=None if new.organization_id else user_id,
        organization_id=new.organization_id,
        name=new.name,
        mode=new.mode,
        scopes=scopes,
        allowed_ips=networks,
        secret_hash=secret_hash(secret),
        secret_prefix=_display_prefix(secret, new.mode),
        secret_last4=secret[-DISPLAYED_SECRET_CHARS:],
        created_by=user_id,
        now=now,
        expires_at=new.expires_at,
    )
    await _audit(audit, conn, "api_key.created", key, after=audit_view(key, now))
    return IssuedKey(key, secret)


async def list_keys(
    conn: Connection,
    principal: Principal,
    *,
    organization_id: str | None,
    mode: Mode | None,
    limit: int,
    starting_after: str | None,
) -> list[ApiKey]:
    """The person's own keys, or an organisation's keys when they may manage them."""
    user_id = _person(principal)
    if organization_id is not None:
        await require_permission(conn, principal, organization_id, MANAGE_PERMISSION)
        return await repository.list_keys(
            conn,
            organization_id=organization_id,
            mode=mode,
            limit=limit,
            starting_after=starting_after,
        )
    return await repository.list_keys(
        conn, user_id=user_id, mode=mode, limit=limit, starting_after=starting_after
    )


async def get_key(
    conn: Connection, principal: Principal, key_id: str, *, lock: bool = False
) -> ApiKey:
    """One of the caller's keys; another owner's key answers 404 like a missing one."""
    key = await repository.find_visible_key(conn, key_id, user_id=_person(principal), lock=lock)
    if key is None:
        raise ApiKeyNotFound()
    if key.organization_id is not None:
        try:
            await require_permission(conn, principal, key.organization_id, MANAGE_PERMISSION)
        except NotFound:
            raise ApiKeyNotFound() from None
    return key


async def roll_key(
    conn: Connection,
    audit: AuditContext,
    principal: Principal,
    key_id: str,
    *,
    expire_old_in: timedelta,
    now: datetime,
) -> IssuedKey:
    """Give the key a new secret. The old one keeps working for `expire_old_in` (at most
    seven days) so that clients can switch over; zero ends it at once."""
    if not timedelta(0) <= expire_old_in <= MAX_ROLL_GRACE:
        raise Unprocessable(
            "`expire_old_in_seconds` must be between 0 and 604800 (7 days).",
            code="invalid_grace_period",
        )
    key = await get_key(conn, principal, key_id, lock=True)
    _require_usable(key, now)
    if key.organization_id is not None:  # its new secret goes to the caller
        await require_scopes_within_role(conn, principal, key.organization_id, key.scopes)
    secret = new_secret(SECRET_PREFIXES[key.mode])
    old_until = now + expire_old_in
    if key.expires_at is not None:
        old_until = min(old_until, key.expires_at)
    rolled = await repository.replace_secret(
        conn,
        key.id,
        secret_hash=secret_hash(secret),
        secret_prefix=_display_prefix(secret, key.mode),
        secret_last4=secret[-DISPLAYED_SECRET_CHARS:],
        previous_secret_expires_at=old_until,
        now=now,
    )
    details: dict[str, object] = {
        "previous_last4": key.secret_last4,
        "new_last4": rolled.secret_last4,
        "old_secret_valid_until": old_until.isoformat(),
    }
    await _audit(audit, conn, "api_key.rolled", rolled, details=details)
    return IssuedKey(rolled, secret)


async def revoke_key(
    conn: Connection, audit: AuditContext, principal: Principal, key_id: str, *, now: datetime
) -> ApiKey:
    """Revoke at once (both secrets, if a roll's grace period is running). Revoking a revoked
    key changes nothing."""
    key = await get_key(conn, principal, key_id, lock=True)
    if key.revoked_at is not None:
        return key
    revoked = await repository.mark_revoked(conn, key.id, now=now, by=_person(principal))
    await _audit(
        audit,
        conn,
        "api_key.revoked",
        revoked,
        before=audit_view(key, now),
        after=audit_view(revoked, now),
    )
    return revoked


# --- authenticating requests ------------------------------------------------------------------


async def authenticate_api_key(
    conn: Connection, token: str, *, ip: str | None, now: datetime
) -> Principal | None:
    """The principal of a live key presented from an allowed address, else None.

    A known key refused for a reason its owner should hear of (revoked, expired, a replaced
    secret, an address outside its allow-list) is audited as `api_key.rejected`; an unknown
    secret is not, as anyone can make those up."""
    match = await repository.match_secret(conn, secret_hash(token))
    if match is None:
        return None
    reason = _refusal(match, ip, now)
    if reason is not None:
        await _audit_rejection(conn, match, reason, ip)
        return None
    if match.last_used_at is None or now - match.last_used_at >= MARK_USED_EVERY:
        stale_before = now - MARK_USED_EVERY
        await repository.mark_used(conn, match.id, now=now, stale_before=stale_before, ip=ip)
    return Principal(
        kind="api_key",
        id=match.id,
        user_id=match.user_id,
        organization_id=match.organization_id,
        scopes=frozenset(match.scopes),
        live_mode=match.mode == "live",
        ip=ip,
    )


def _refusal(match: repository.SecretMatch, ip: str | None, now: datetime) -> str | None:
    if match.revoked_at is not None:
        return "revoked"
    if match.expires_at is not None and match.expires_at <= now:
        return "expired"
    if not match.is_current_secret and (
        match.previous_secret_expires_at is None or match.previous_secret_expires_at <= now
    ):
        return "rolled_secret"
    if match.user_id is not None and match.owner_status != "active":
        return "owner_inactive"
    if match.allowed_ips is not None and not ip_allowed(ip, match.allowed_ips):
        return "ip_not_allowed"
    return None


def ip_allowed(ip: str | None, networks: list[Network]) -> bool:
    """Whether `ip` is inside one of `networks` (an IPv4-mapped IPv6 address counts as its
    IPv4 address)."""
    if ip is None:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks if network.version == address.version)


async def _audit_rejection(
    conn: Connection, match: repository.SecretMatch, reason: str, ip: str | None
) -> None:
    context = AuditContext(actor_type="api_key", actor_id=match.id, ip=ip)
    async with conn.transaction():
        await record(
            conn,
            context,
            "api_key.rejected",
            outcome="failure",
            subject_user_id=match.user_id,
            organization_id=match.organization_id,
            object_type="api_key",
            object_id=match.id,
            details={"reason": reason, "ip": ip},
        )


# --- rules and helpers ------------------------------------------------------------------------


def _person(principal: Principal) -> str:
    """Keys are managed by people, from a session (the endpoints accept nothing else)."""
    if principal.kind != "user" or principal.user_id is None:
        raise FinhubError(
            "API keys are managed by people.", code="wrong_principal_type", status=403
        )
    return principal.user_id


def _known_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - SCOPES.keys())
    if unknown:
        raise Unprocessable(
            f"Unknown scope {', '.join(unknown)}.",
            code="unknown_scope",
            unknown_scopes=unknown,
            known_scopes=sorted(SCOPES),
        )
    return sorted(set(scopes))


def _networks(allowed_ips: list[str] | None) -> list[Network] | None:
    """Parse the allow-list strictly: `10.0.0.5/24` is refused rather than read as
    `10.0.0.0/24`, since either reading may be a mistake about who gets in."""
    if allowed_ips is None:
        return None
    networks: list[Network] = []
    for value in allowed_ips:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=True))
        except ValueError:
            raise Unprocessable(
                f"{value!r} is not an IP address or a CIDR range without host bits "
                "(e.g. 203.0.113.7, 203.0.113.0/24, 2001:db8::/32).",
                code="invalid_ip_range",
                value=value,
            ) from None
    return networks


def _require_usable(key: ApiKey, now: datetime) -> None:
    status = key.status(now)
    if status != "active":
        raise Conflict(f"The API key is {status}; create a new one.", code=f"api_key_{status}")


def _display_prefix(secret: str, mode: Mode) -> str:
    return secret[: len(SECRET_PREFIXES[mode]) + DISPLAYED_SECRET_CHARS]


def audit_view(key: ApiKey, now: datetime) -> dict[str, object]:
    """The key as the audit trail keeps it: what and whose, never the secret."""
    return {
        "name": key.name,
        "mode": key.mode,
        "scopes": key.scopes,
        "allowed_ips": [str(n) for n in key.allowed_ips] if key.allowed_ips else None,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "last4": key.secret_last4,
        "status": key.status(now),
    }


async def _audit(
    context: AuditContext,
    conn: Connection,
    action: str,
    key: ApiKey,
    *,
    before: dict[str, object] | None = None,
    after: dict[str, object] | None = None,
    details: dict[str, object] | None = None,
) -> None:
    # A personal key's events are its owner's security events; an organisation key's are
    # those of the person who acted on it (and the organisation's).
    acting_person = context.actor_id if context.actor_type == "user" else None
    await record(
        conn,
        context,
        action,
        subject_user_id=key.user_id or acting_person,
        organization_id=key.organization_id,
        object_type="api_key",
        object_id=key.id,
        before=before,
        after=after,
        details=details,
    )
