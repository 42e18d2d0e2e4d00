"""Webhook endpoints: the rules for making, changing and removing them, and reading their
delivery log. Never commits; every call is scoped to the owner (`user:usr_…`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from finhub.audit.service import AuditContext, record
from finhub.identity.factors.crypto import Keyring
from finhub.kit.db.engine import Connection, Row
from finhub.kit.ids import new_id
from finhub.webhooks import repository, schemas
from finhub.webhooks.errors import DeliveryNotFound, EndpointNotFound
from finhub.webhooks.repository import DeliveryFilter
from finhub.webhooks.signing import new_signing_secret, seal_secret
from finhub.webhooks.ssrf import EgressPolicy


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is acting: the owner whose endpoints these are, and how to audit it."""

    owner: str
    user_id: str | None
    audit: AuditContext


async def create_endpoint(
    conn: Connection,
    caller: Caller,
    body: schemas.EndpointCreate,
    *,
    keyring: Keyring,
    egress: EgressPolicy,
    now: datetime,
) -> tuple[Row, str]:
    """The new endpoint and its signing secret (shown to the caller once)."""
    await egress.check(body.url)
    endpoint_id = new_id("whe")
    secret = new_signing_secret()
    sealed = seal_secret(keyring, endpoint_id, secret)
    row = await repository.insert_endpoint(
        conn,
        {
            "id": endpoint_id,
            "owner": caller.owner,
            "url": body.url,
            "description": body.description,
            "event_types": _unique(body.event_types),
            "secret_key_id": sealed.key_id,
            "secret_sealed": sealed.ciphertext,
            "now": now,
        },
    )
    await _audit(conn, caller, "webhook_endpoint.created", row)
    return row, secret


async def list_endpoints(
    conn: Connection, caller: Caller, *, limit: int, starting_after: str | None
) -> list[Row]:
    return await repository.list_endpoints(
        conn, caller.owner, limit=limit, starting_after=starting_after
    )


async def get_endpoint(conn: Connection, caller: Caller, endpoint_id: str) -> Row:
    row = await repository.get_endpoint(conn, caller.owner, endpoint_id)
    if row is None:
        raise EndpointNotFound("You have no webhook endpoint with this id.")
    return row


async def update_endpoint(
    conn: Connection,
    caller: Caller,
    endpoint_id: str,
    patch: schemas.EndpointUpdate,
    *,
    egress: EgressPolicy,
    now: datetime,
) -> Row:
    """Change the fields sent; a new URL passes the same checks as at creation."""
    before = await get_endpoint(conn, caller, endpoint_id)
    changes: dict[str, Any] = {}
    if patch.url is not None:
        await egress.check(patch.url)
        changes["url"] = patch.url
    if patch.event_types is not None:
        changes["event_types"] = _unique(patch.event_types)
    if "description" in patch.model_fields_set:
        changes["description"] = patch.description
    if patch.enabled is not None:
        changes["enabled"] = patch.enabled
    if not changes:
        return before
    row = await repository.update_endpoint(conn, caller.owner, endpoint_id, changes, now)
    if row is None:
        raise EndpointNotFound("You have no webhook endpoint with this id.")
    await _audit(conn, caller, "webhook_endpoint.updated", row, before=before)
    return row


async def delete_endpoint(conn: Connection, caller: Caller, endpoint_id: str) -> None:
    """Remove the endpoint with its deliveries and their log."""
    before = await get_endpoint(conn, caller, endpoint_id)
    await repository.delete_endpoint(conn, caller.owner, endpoint_id)
    await _audit(conn, caller, "webhook_endpoint.deleted", before, before=before, after=False)


async def roll_secret(
    conn: Connection,
    caller: Caller,
    endpoint_id: str,
    *,
    keyring: Keyring,
    previous_valid_for: timedelta,
    now: datetime,
) -> tuple[Row, str]:
    """A new signing secret; the old one keeps signing alongside it for `previous_valid_for`
    (zero: at once retired), so receivers can switch without dropping a message."""
    current = await repository.get_endpoint(conn, caller.owner, endpoint_id, for_update=True)
    if current is None:
        raise EndpointNotFound("You have no webhook endpoint with this id.")
    secret = new_signing_secret()
    sealed = seal_secret(keyring, endpoint_id, secret)
    keep_previous = previous_valid_for > timedelta(0)
    row = await repository.update_endpoint(
        conn,
        caller.owner,
        endpoint_id,
        {
            "secret_key_id": sealed.key_id,
            "secret_sealed": sealed.ciphertext,
            "previous_secret_key_id": current["secret_key_id"] if keep_previous else None,
            "previous_secret_sealed": current["secret_sealed"] if keep_previous else None,
            "previous_secret_expires_at": now + previous_valid_for if keep_previous else None,
        },
        now,
    )
    assert row is not None
    await _audit(
        conn,
        caller,
        "webhook_endpoint.secret_rolled",
        row,
        details={"overlap": str(previous_valid_for)},
    )
    return row, secret


# --- the delivery log -------------------------------------------------------------------------


async def list_deliveries(
    conn: Connection,
    caller: Caller,
    endpoint_id: str,
    where: DeliveryFilter,
    *,
    limit: int,
    starting_after: str | None,
) -> list[dict[str, Any]]:
    """Deliveries with their attempts, newest first (`limit + 1` of them)."""
    await get_endpoint(conn, caller, endpoint_id)
    rows = await repository.list_deliveries(
        conn, caller.owner, endpoint_id, where, limit=limit, starting_after=starting_after
    )
    attempts = await repository.attempts_of(conn, [row["id"] for row in rows])
    return [schemas.delivery_out(row, attempts[row["id"]]) for row in rows]


async def get_delivery(
    conn: Connection, caller: Caller, endpoint_id: str, delivery_id: str
) -> dict[str, Any]:
    row = await repository.get_delivery(conn, caller.owner, endpoint_id, delivery_id)
    if row is None:
        raise DeliveryNotFound("This endpoint has no delivery with this id.")
    attempts = await repository.attempts_of(conn, [delivery_id])
    return schemas.delivery_out(row, attempts[delivery_id])


def _unique(patterns: list[str]) -> list[str]:
    return list(dict.fromkeys(patterns))


def _summary(row: Row) -> dict[str, Any]:
    """What the audit trail keeps of an endpoint (never its secret)."""
    return {
        "url": row["url"],
        "event_types": list(row["event_types"]),
        "enabled": row["enabled"],
        "description": row["description"],
    }


async def _audit(
    conn: Connection,
    caller: Caller,
    action: str,
    row: Row,
    *,
    before: Row | None = None,
    after: bool = True,
    details: dict[str, Any] | None = None,
) -> None:
    await record(
        conn,
        caller.audit,
        action,
        subject_user_id=caller.user_id,
        object_type="webhook_endpoint",
        object_id=row["id"],
        before=_summary(before) if before is not None else None,
        after=_summary(row) if after else None,
        details=details,
    )
