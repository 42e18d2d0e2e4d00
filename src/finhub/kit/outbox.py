"""The transactional outbox (DESIGN.md §4).

`emit` writes an event in the caller's transaction, so the event exists exactly when the change
it describes does. A consumer (webhook dispatch, notifications, a broker bridge) reads events
in commit-safe order with `claim_batch` and moves its cursor with `advance`, both inside one
transaction of its own; the cursor row's lock keeps two instances of a consumer from reading
the same events.

Ordering: sequence numbers are handed out before commit, so a later-committing transaction can
hold a lower number. Events are read in (transaction id, seq) order and only from transactions
older than the oldest one still running (`pg_snapshot_xmin`), which are all finished: nothing
that commits later can sort before the cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.jsonutil import dumps


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: str
    seq: int
    xid: int
    type: str
    owner: str
    data: dict[str, Any]
    created_at: datetime


async def emit(
    conn: Connection, *, type: str, owner: str, data: dict[str, Any], now: datetime
) -> str:
    """Record an event (e.g. `payment.completed`) for `owner` (`user:usr_…`, `org:org_…`)."""
    event_id = new_id("obx")
    await conn.execute(
        "INSERT INTO outbox_events (id, type, owner, data, created_at) VALUES (%s, %s, %s, %s, %s)",
        (event_id, type, owner, Jsonb(data, dumps=dumps), now),
    )
    return event_id


async def emit_many(
    conn: Connection, events: list[tuple[str, str, dict[str, Any]]], *, now: datetime
) -> list[str]:
    """Record several (type, owner, data) events at once, in the order given."""
    ids = [new_id("obx") for _ in events]
    if events:
        await conn.execute(
            "INSERT INTO outbox_events (id, type, owner, data, created_at)"
            " SELECT i, t, o, d::jsonb, %b"
            "   FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[]) WITH ORDINALITY"
            "        AS e(i, t, o, d, n)"
            "  ORDER BY n",
            (
                now,
                ids,
                [type for type, _, _ in events],
                [owner for _, owner, _ in events],
                [dumps(data).decode() for _, _, data in events],
            ),
        )
    return ids


CLAIM_SQL = """
    WITH cursor_row AS (
        INSERT INTO outbox_cursors (consumer) VALUES (%(consumer)s)
        ON CONFLICT (consumer) DO UPDATE SET consumer = EXCLUDED.consumer
        RETURNING last_xid, last_seq
    )
    SELECT e.id, e.seq, e.xid::text::bigint AS xid, e.type, e.owner, e.data, e.created_at
      FROM outbox_events e, cursor_row c
     WHERE (e.xid, e.seq) > (c.last_xid, c.last_seq)
       AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
     ORDER BY e.xid, e.seq
     LIMIT %(limit)s
"""


async def claim_batch(conn: Connection, consumer: str, limit: int = 200) -> list[OutboxEvent]:
    """The consumer's next events, oldest first; holds the consumer's cursor until commit.
    Call inside a transaction, handle the events, then `advance` to the last one."""
    cursor = await conn.execute(CLAIM_SQL, {"consumer": consumer, "limit": limit})
    return [OutboxEvent(**row) async for row in cursor]


async def advance(conn: Connection, consumer: str, last: OutboxEvent) -> None:
    await conn.execute(
        "UPDATE outbox_cursors SET last_xid = %s::text::xid8, last_seq = %s, updated_at = now()"
        " WHERE consumer = %s",
        (str(last.xid), last.seq, consumer),
    )
