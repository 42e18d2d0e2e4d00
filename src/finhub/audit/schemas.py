"""The audit trail's API shapes: what a person sees of their own events, and what staff see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from finhub.kit.db.engine import Row


class SecurityEventOut(BaseModel):
    """An event about the caller: a sign-in, a failed attempt, a changed factor, a new key."""

    object: str = Field("security_event", description="Always `security_event`.")
    id: str = Field(description="The event's id (`evt_…`).")
    occurred_at: datetime
    action: str = Field(description="What happened, e.g. `auth.sign_in`.")
    outcome: str = Field(description="`success`, `failure`, …")
    actor_type: str = Field(description="`user`, `staff`, `api_key`, `system` or `anonymous`.")
    ip: str | None = Field(None, description="The address the request came from.")
    user_agent: str | None = None
    request_id: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    details: dict[str, Any] | None = None


class AuditEventOut(BaseModel):
    """A record of the audit trail, with its place in the hash chain."""

    object: str = Field("audit_event", description="Always `audit_event`.")
    id: str = Field(description="The event's id (`evt_…`).")
    seq: int = Field(description="Position in the chain, gap-free from 1.")
    occurred_at: datetime
    action: str
    outcome: str
    actor_type: str
    actor_id: str | None = None
    subject_user_id: str | None = None
    organization_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    prev_hash: str = Field(description="SHA-256 of the previous record, hex.")
    hash: str = Field(description="SHA-256 over `prev_hash` and this record, hex.")


def security_event_out(row: Row, viewer_id: str) -> dict[str, Any]:
    """An event about `viewer_id`. Where another known person or a staff member acted (an
    organisation admin changing their role, say), that actor's address and browser are theirs
    to keep; an unknown actor's (a failed sign-in) is exactly what the person should see."""
    someone_else = row["actor_type"] == "staff" or (
        row["actor_type"] == "user" and row["actor_id"] != viewer_id
    )
    return {
        "object": "security_event",
        "id": row["id"],
        "occurred_at": row["occurred_at"],
        "action": row["action"],
        "outcome": row["outcome"],
        "actor_type": row["actor_type"],
        "ip": None if someone_else else row["ip"],
        "user_agent": None if someone_else else row["user_agent"],
        "request_id": row["request_id"],
        "object_type": row["object_type"],
        "object_id": row["object_id"],
        "details": row["details"],
    }


def audit_event_out(row: Row) -> dict[str, Any]:
    return {
        "object": "audit_event",
        "id": row["id"],
        "seq": row["seq"],
        "occurred_at": row["occurred_at"],
        "action": row["action"],
        "outcome": row["outcome"],
        "actor_type": row["actor_type"],
        "actor_id": row["actor_id"],
        "subject_user_id": row["subject_user_id"],
        "organization_id": row["organization_id"],
        "ip": row["ip"],
        "user_agent": row["user_agent"],
        "request_id": row["request_id"],
        "object_type": row["object_type"],
        "object_id": row["object_id"],
        "before": row["before"],
        "after": row["after"],
        "details": row["details"],
        "prev_hash": bytes(row["prev_hash"]).hex(),
        "hash": bytes(row["hash"]).hex(),
    }
