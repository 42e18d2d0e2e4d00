"""Consent to the terms and the privacy policy, and the separate marketing opt-in.

Each document has a current version; sign-up must accept exactly the current terms and privacy
versions, and a person can accept a newer version later. Every grant or withdrawal is a new,
never-changed row, so the history of what was agreed to, when and from where, is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request

from finhub.audit.service import AuditContext, record
from finhub.identity import repository
from finhub.identity.errors import ConsentVersionMismatch
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id

if TYPE_CHECKING:
    from finhub.api import Container
    from finhub.identity.principal import Principal
    from finhub.identity.schemas import ConsentsIn

TERMS_VERSION = "2026-11-01"
PRIVACY_VERSION = "2026-11-01"
MARKETING_VERSION = "2026-11-01"  # the wording of the marketing opt-in
CURRENT_VERSIONS = {"terms": TERMS_VERSION, "privacy": PRIVACY_VERSION}


@dataclass(frozen=True, slots=True)
class Origin:
    ip: str | None
    user_agent: str | None
    now: datetime


def origin_of(request: Request, now: datetime) -> Origin:
    return Origin(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        now=now,
    )


def require_current(kind: str, version: str) -> None:
    current = CURRENT_VERSIONS[kind]
    if version != current:
        raise ConsentVersionMismatch(
            f"Accept the current {kind} version {current}.",
            kind=kind,
            current_version=current,
        )


async def accept(conn: Connection, user_id: str, kind: str, version: str, origin: Origin) -> None:
    require_current(kind, version)
    await _append(conn, user_id, kind, version, True, origin)


async def set_marketing(conn: Connection, user_id: str, opted_in: bool, origin: Origin) -> None:
    await _append(conn, user_id, "marketing", MARKETING_VERSION, opted_in, origin)


async def summary(conn: Connection, user_id: str) -> dict[str, Any]:
    """What the person has agreed to now, and whether a newer version awaits acceptance."""
    latest = {consent.kind: consent for consent in await repository.current_consents(conn, user_id)}
    payload: dict[str, Any] = {"object": "consents"}
    for kind, current in CURRENT_VERSIONS.items():
        consent = latest.get(kind)
        payload[kind] = {
            "accepted_version": consent.version if consent else None,
            "accepted_at": consent.created_at if consent else None,
            "current_version": current,
            "up_to_date": consent is not None and consent.version == current,
        }
    marketing = latest.get("marketing")
    payload["marketing"] = {
        "opted_in": bool(marketing and marketing.granted),
        "updated_at": marketing.created_at if marketing else None,
    }
    return payload


async def update(
    conn: Connection, c: Container, request: Request, principal: Principal, body: ConsentsIn
) -> dict[str, Any]:
    user_id = principal.user_id
    assert user_id is not None
    origin = origin_of(request, c.clock.now())
    if body.accept_terms_version is not None:
        await accept(conn, user_id, "terms", body.accept_terms_version, origin)
    if body.accept_privacy_version is not None:
        await accept(conn, user_id, "privacy", body.accept_privacy_version, origin)
    if body.marketing_opt_in is not None:
        await set_marketing(conn, user_id, body.marketing_opt_in, origin)
    changed = body.model_dump(exclude_none=True)
    if changed:
        await record(
            conn,
            AuditContext.from_request(request, principal),
            "user.consents_updated",
            subject_user_id=user_id,
            object_type="user",
            object_id=user_id,
            details=changed,
        )
    return await summary(conn, user_id)


async def _append(
    conn: Connection, user_id: str, kind: str, version: str, granted: bool, origin: Origin
) -> None:
    await repository.insert_consent(
        conn,
        consent_id=new_id("cns"),
        user_id=user_id,
        kind=kind,
        version=version,
        granted=granted,
        ip=origin.ip,
        user_agent=(origin.user_agent or "")[:512] or None,
        now=origin.now,
    )
