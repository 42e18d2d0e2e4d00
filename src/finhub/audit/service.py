"""Recording audit events.

Call `record` inside the transaction of the change it describes, as its last statement: the
record takes the chain's head row lock until commit, so writing it last keeps that short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from finhub.identity.principal import Principal
from finhub.kit.db.engine import Connection


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
    it among their security events."""
