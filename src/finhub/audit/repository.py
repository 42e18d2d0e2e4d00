"""All SQL of the audit trail.

The chain itself (sequence numbers, `prev_hash`, `hash`) is computed by the database in the
insert trigger and by `audit_event_hash(...)`; nothing here writes those columns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from finhub.kit.db.engine import Connection, Row
from finhub.kit.jsonutil import dumps

EVENT_COLUMNS = (
    "seq, id, occurred_at, action, outcome, actor_type, actor_id, subject_user_id, "
    "organization_id, host(ip) AS ip, user_agent, request_id, object_type, object_id, before, "
    "after, details, prev_hash, hash"
)


TEXT_COLUMNS = (
    "id", "action", "outcome", "actor_type", "actor_id", "subject_user_id", "organization_id",
    "ip", "user_agent", "request_id", "object_type", "object_id",
)  # fmt: skip
JSON_COLUMNS = ("before", "after", "details")


INSERT_ONE = """
    INSERT INTO audit_events (id, action, outcome, actor_type, actor_id, subject_user_id,
                              organization_id, ip, user_agent, request_id, object_type,
                              object_id, before, after, details, prev_hash, hash)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s::inet, %s, %s, %s, %s, %s::jsonb, %s::jsonb,
            %s::jsonb, '', '')
"""


async def insert_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """One INSERT for all `rows`, in order; the chain trigger links them one after another."""
    if len(rows) == 1:  # most events come alone: plain parameters are cheaper than arrays
        [row] = rows
        await conn.execute(
            INSERT_ONE,
            [row[name] for name in TEXT_COLUMNS] + [_json_text(row[name]) for name in JSON_COLUMNS],
        )
        return
    await conn.execute(
        """
        INSERT INTO audit_events (id, action, outcome, actor_type, actor_id, subject_user_id,
                                  organization_id, ip, user_agent, request_id, object_type,
                                  object_id, before, after, details, prev_hash, hash)
        SELECT id, action, outcome, actor_type, actor_id, subject_user_id, organization_id,
               ip::inet, user_agent, request_id, object_type, object_id, before::jsonb,
               after::jsonb, details::jsonb, '', ''
          FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
                      %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
                      %b::text[], %b::text[], %b::text[]) WITH ORDINALITY
               AS e(id, action, outcome, actor_type, actor_id, subject_user_id,
                    organization_id, ip, user_agent, request_id, object_type, object_id,
                    before, after, details, n)
         ORDER BY n
        """,
        [
            *([row[name] for row in rows] for name in TEXT_COLUMNS),
            *([_json_text(row[name]) for row in rows] for name in JSON_COLUMNS),
        ],
    )


def _json_text(value: Any) -> str | None:
    return None if value is None else dumps(value).decode()


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What to look for. `action` matches the action itself and everything under it
    (`auth` matches `auth.sign_in`); the time range is `[occurred_after, occurred_before)`."""

    action: str | None = None
    actor_type: str | None = None
    actor_id: str | None = None
    subject_user_id: str | None = None
    organization_id: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    outcome: str | None = None
    request_id: str | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None

    def scoped_to_subject(self, user_id: str) -> EventFilter:
        return replace(self, subject_user_id=user_id)

    def described(self) -> dict[str, Any]:
        """The filters that were set, for the record of a search."""
        return {key: value for key, value in asdict(self).items() if value is not None}


EQUALITY_FILTERS = (
    "actor_type",
    "actor_id",
    "subject_user_id",
    "organization_id",
    "object_type",
    "object_id",
    "outcome",
    "request_id",
)


def _where(where: EventFilter) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column in EQUALITY_FILTERS:
        value = getattr(where, column)
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if where.action is not None:
        clauses.append("(action = %s OR action LIKE %s)")
        params += [where.action, _escape_like(where.action) + ".%"]
    if where.occurred_after is not None:
        clauses.append("occurred_at >= %s")
        params.append(where.occurred_after)
    if where.occurred_before is not None:
        clauses.append("occurred_at < %s")
        params.append(where.occurred_before)
    return clauses, params


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_events(
    conn: Connection, where: EventFilter, *, limit: int, starting_after: str | None
) -> list[Row]:
    """Newest first (by seq). The cursor is an event id, looked up within the same filter so
    an id outside it pages nothing."""
    clauses, params = _where(where)
    if starting_after is not None:
        cursor_clauses = ["id = %s", *clauses]
        clauses.append(f"seq < (SELECT seq FROM audit_events WHERE {' AND '.join(cursor_clauses)})")
        params = [*params, starting_after, *params]
    sql = f"SELECT {EVENT_COLUMNS} FROM audit_events"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY seq DESC LIMIT %s"
    cursor = await conn.execute(sql, [*params, limit])
    return await cursor.fetchall()


async def get_event(conn: Connection, event_id: str) -> Row | None:
    cursor = await conn.execute(
        f"SELECT {EVENT_COLUMNS} FROM audit_events WHERE id = %s", (event_id,)
    )
    return await cursor.fetchone()


async def chain_head(conn: Connection) -> Row:
    """The sequence number and hash of the last record (0 and 32 zero bytes when empty)."""
    cursor = await conn.execute("SELECT seq, hash FROM audit_chain_head")
    row = await cursor.fetchone()
    assert row is not None, "migration 0007 creates the chain head"
    return row


async def stream_chain(conn: Connection, *, batch: int = 1000) -> AsyncIterator[Row]:
    """Every record in seq order with its hash recomputed, through a server-side cursor so the
    memory used stays constant (call inside a transaction)."""
    cursor = conn.cursor("audit_chain_walk")
    try:
        await cursor.execute(
            "SELECT seq, id, prev_hash, hash, audit_event_hash(e) AS computed "
            "FROM audit_events e ORDER BY seq"
        )
        while rows := await cursor.fetchmany(batch):
            for row in rows:
                yield row
    finally:
        await cursor.close()


async def function_digests(conn: Connection, names: list[str]) -> dict[str, str]:
    """SHA-256 (hex) of the source of each named SQL function in the current schema."""
    cursor = await conn.execute(
        """
        SELECT p.proname, encode(sha256(convert_to(p.prosrc, 'UTF8')), 'hex') AS digest
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = current_schema() AND p.proname = ANY(%s)
        """,
        (names,),
    )
    return {row["proname"]: row["digest"] for row in await cursor.fetchall()}
