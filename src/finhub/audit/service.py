"""Recording audit events, and reading them back for the people and staff allowed to.

Call `record` inside the transaction of the change it describes, as its last statement: the
record takes the chain's head row lock until commit, so writing it last keeps that short.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from finhub.audit import repository
from finhub.audit.repository import EventFilter
from finhub.errors import NotFound
from finhub.identity.principal import Principal
from finhub.kit.db.engine import Connection, Row
from finhub.kit.ids import new_id

ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
OUTCOME = re.compile(r"^[a-z][a-z_]{0,31}$")
MAX_USER_AGENT = 512
MAX_TEXT = 200
REDACTED = "[redacted]"

# Keys whose values are secrets by name; audit details must never carry them (a caller's slip
# would otherwise be kept forever in an append-only table).
SECRET_KEYS = frozenset(
    {
        "password",
        "new_password",
        "current_password",
        "old_password",
        "passcode",
        "pin",
        "code",
        "otp",
        "totp",
        "secret",
        "token",
        "recovery_code",
        "recovery_codes",
        "api_key",
        "private_key",
        "cvv",
        "cvc",
        "card_number",
    }
)
SECRET_SUFFIXES = ("_password", "_secret", "_token", "_hash", "_pin", "_otp")
# Credentials finhub issues, recognisable by their prefix wherever they appear.
SECRET_PREFIXES = ("fh_live_", "fh_test_", "fhs_")


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who acted, from where: taken from the request (or a CLI/worker for system actions)."""

    actor_type: str  # user | staff | api_key | system | anonymous
    actor_id: str | None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @classmethod
    def from_request(cls, request: Request, principal: Principal | None = None) -> AuditContext:
        return cls(
            actor_type=principal.kind if principal else "anonymous",
            actor_id=principal.id if principal else None,
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            request_id=request.scope.get("finhub.request_id"),
        )

    @classmethod
    def system(cls, name: str) -> AuditContext:
        return cls(actor_type="system", actor_id=name)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One event to append, for `record_many`; the fields mean what `record`'s arguments do."""

    context: AuditContext
    action: str
    outcome: str = "success"
    subject_user_id: str | None = None
    organization_id: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    details: dict[str, Any] | None = None


async def record(
    conn: Connection,
    context: AuditContext,
    action: str,
    *,
    outcome: str = "success",
    subject_user_id: str | None = None,
    organization_id: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one event (e.g. `auth.sign_in`, `auth.sign_in_failed`, `api_key.created`,
    `ledger.transaction_posted`). `subject_user_id` is the person the event is about: they see
    it among their security events.

    One INSERT; the database assigns the sequence number and the hash chain. Values under
    secret-looking keys and finhub credentials are replaced by `[redacted]`."""
    await record_many(
        conn,
        [
            AuditEntry(
                context, action, outcome, subject_user_id, organization_id, object_type,
                object_id, before, after, details,
            )
        ],
    )  # fmt: skip


async def record_many(conn: Connection, entries: list[AuditEntry]) -> None:
    """Append several events with one INSERT, chained in the order given (a group commit
    records the events of all its payments at once)."""
    if entries:
        await repository.insert_events(conn, [_values(entry) for entry in entries])


def _values(entry: AuditEntry) -> dict[str, Any]:
    if not ACTION.match(entry.action) or len(entry.action) > 100:
        raise ValueError(f"audit action {entry.action!r} is not dotted lower_snake_case")
    if not OUTCOME.match(entry.outcome):
        raise ValueError(f"audit outcome {entry.outcome!r} is not lower_snake_case")
    context = entry.context
    ip, unparsed_client = _client_address(context.ip)
    details = entry.details
    if unparsed_client is not None:
        details = {**(details or {}), "client": unparsed_client}
    return {
        "id": new_id("evt"),
        "action": entry.action,
        "outcome": entry.outcome,
        "actor_type": context.actor_type,
        "actor_id": context.actor_id,
        "subject_user_id": entry.subject_user_id,
        "organization_id": entry.organization_id,
        "ip": ip,
        "user_agent": _clip(context.user_agent, MAX_USER_AGENT),
        "request_id": _clip(context.request_id, MAX_TEXT),
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "before": scrub(entry.before),
        "after": scrub(entry.after),
        "details": scrub(details),
    }


def scrub(value: Any) -> Any:
    """A copy of `value` with secrets replaced by `[redacted]` (recursively)."""
    if isinstance(value, dict):
        return {
            str(key): REDACTED if _is_secret_key(str(key)) else scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    if isinstance(value, str) and value.startswith(SECRET_PREFIXES):
        return REDACTED
    return value


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in SECRET_KEYS or lowered.endswith(SECRET_SUFFIXES)


def _client_address(raw: str | None) -> tuple[str | None, str | None]:
    """(an address the `inet` column takes, or None; the raw value when it isn't one)."""
    if raw is None:
        return None, None
    try:
        return str(ipaddress.ip_address(raw)), None
    except ValueError:
        return None, raw[:MAX_TEXT]


def _clip(value: str | None, length: int) -> str | None:
    return value[:length] if value is not None else None


# --- reading ----------------------------------------------------------------------------------


async def security_events(
    conn: Connection, user_id: str, where: EventFilter, *, limit: int, starting_after: str | None
) -> list[Row]:
    """The events about one person, newest first."""
    scoped = where.scoped_to_subject(user_id)
    return await repository.search_events(conn, scoped, limit=limit, starting_after=starting_after)


async def search_as_staff(
    conn: Connection,
    context: AuditContext,
    where: EventFilter,
    *,
    limit: int,
    starting_after: str | None,
) -> list[Row]:
    """Any events, newest first; the search itself is recorded (`audit.searched`)."""
    rows = await repository.search_events(conn, where, limit=limit, starting_after=starting_after)
    await record(
        conn,
        context,
        "audit.searched",
        details={"filters": where.described(), "starting_after": starting_after},
    )
    return rows


async def view_as_staff(conn: Connection, context: AuditContext, event_id: str) -> Row:
    """One event by id; the viewing is recorded (`audit.viewed`)."""
    row = await repository.get_event(conn, event_id)
    if row is None:
        raise NotFound("No audit event has this id.", code="audit_event_not_found")
    await record(conn, context, "audit.viewed", object_type="audit_event", object_id=event_id)
    return row
