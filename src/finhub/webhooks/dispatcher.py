"""Fan-out from the transactional outbox: each event becomes one delivery per matching endpoint.

The consumer reads events with the outbox's commit-safe `claim_batch`, writes the deliveries and
moves its cursor in one transaction, so a crash repeats a whole batch or none of it. A delivery
is unique per (endpoint, event): an event handled twice (a repeated batch, a reset cursor)
still yields one delivery. Sending is the sender's job (`finhub.webhooks.sender`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from finhub.kit import outbox
from finhub.kit.clock import Clock
from finhub.kit.db.engine import Connection, Database
from finhub.kit.ids import new_id
from finhub.kit.jsonutil import dumps
from finhub.kit.outbox import OutboxEvent
from finhub.webhooks import repository
from finhub.webhooks.repository import NewDelivery

CONSUMER = "webhooks"
BATCH = 200


def matches(patterns: list[str], event_type: str) -> bool:
    """`*` matches everything, `payment.*` every `payment.…` type, anything else itself."""
    for pattern in patterns:
        if pattern in ("*", event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def message_body(event: OutboxEvent) -> str:
    """The JSON every attempt of a delivery sends (Standard Webhooks' type/timestamp/data)."""
    payload = {
        "type": event.type,
        "timestamp": event.created_at,
        "event_id": event.id,
        "data": event.data,
    }
    return dumps(payload).decode()


async def plan_deliveries(conn: Connection, events: list[OutboxEvent]) -> list[NewDelivery]:
    """One delivery per (event, enabled endpoint of the event's owner subscribed to its type);
    endpoints only hear of events that happened after they were made."""
    owners = sorted({event.owner for event in events})
    endpoints = await repository.enabled_endpoints_of(conn, owners)
    planned: list[NewDelivery] = []
    for event in events:
        body: str | None = None
        for endpoint in endpoints:
            if endpoint["owner"] != event.owner or endpoint["created_at"] > event.created_at:
                continue
            if not matches(list(endpoint["event_types"]), event.type):
                continue
            body = body or message_body(event)
            planned.append(NewDelivery(new_id("whd"), endpoint["id"], event.id, event.type, body))
    return planned


async def enqueue(conn: Connection, events: list[OutboxEvent], now: datetime) -> int:
    """Write the deliveries of these events; returns how many were new."""
    return await repository.insert_deliveries(conn, await plan_deliveries(conn, events), now)


@dataclass(frozen=True, slots=True)
class DispatchReport:
    events: int = 0
    deliveries: int = 0


async def dispatch_batch(
    conn: Connection, now: datetime, *, consumer: str = CONSUMER, limit: int = BATCH
) -> DispatchReport:
    """One batch, inside the caller's transaction (the cursor row stays locked until it ends,
    so a second dispatcher waits rather than reading the same events)."""
    events = await outbox.claim_batch(conn, consumer, limit)
    if not events:
        return DispatchReport()
    created = await enqueue(conn, events, now)
    await outbox.advance(conn, consumer, events[-1])
    return DispatchReport(events=len(events), deliveries=created)


async def dispatch_pending(
    db: Database, clock: Clock, *, consumer: str = CONSUMER, limit: int = BATCH
) -> DispatchReport:
    """Drain the outbox for this consumer, one transaction per batch."""
    events = deliveries = 0
    while True:
        async with db.transaction() as conn:
            report = await dispatch_batch(conn, clock.now(), consumer=consumer, limit=limit)
        events += report.events
        deliveries += report.deliveries
        if report.events < limit:
            return DispatchReport(events, deliveries)
