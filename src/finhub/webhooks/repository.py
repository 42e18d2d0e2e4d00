"""All SQL of webhook endpoints, deliveries, attempts and sent payment notifications.

Every query a customer's request can reach names the owner (`user:usr_…`), so another owner's
endpoint or delivery id finds nothing. The dispatcher's and sender's queries work across owners
by design: they are not reachable from a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from finhub.kit.db.engine import Connection, Row

ENDPOINT_COLUMNS = """
    id, owner, url, description, event_types, enabled, secret_key_id, secret_sealed,
    previous_secret_key_id, previous_secret_sealed, previous_secret_expires_at, created_at,
    updated_at
"""
DELIVERY_COLUMNS = """
    d.id, d.endpoint_id, d.event_id, d.event_type, d.body, d.status, d.attempts,
    d.next_attempt_at, d.last_attempt_at, d.created_at
"""
ATTEMPT_COLUMNS = """
    id, delivery_id, number, trigger, started_at, duration_ms, status_code, succeeded, error,
    response_excerpt
"""


# --- endpoints --------------------------------------------------------------------------------


async def insert_endpoint(conn: Connection, values: dict[str, Any]) -> Row:
    cursor = await conn.execute(
        f"""
        INSERT INTO webhook_endpoints (id, owner, url, description, event_types, enabled,
                                       secret_key_id, secret_sealed, created_at, updated_at)
        VALUES (%(id)s, %(owner)s, %(url)s, %(description)s, %(event_types)s, true,
                %(secret_key_id)s, %(secret_sealed)s, %(now)s, %(now)s)
        RETURNING {ENDPOINT_COLUMNS}
        """,
        values,
    )
    return _one(await cursor.fetchone())


async def list_endpoints(
    conn: Connection, owner: str, *, limit: int, starting_after: str | None
) -> list[Row]:
    """Newest first; fetches `limit + 1` rows so the caller can tell whether more follow."""
    cursor = await conn.execute(
        f"""
        SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
         WHERE owner = %(owner)s AND (%(after)s::text IS NULL OR id < %(after)s)
         ORDER BY id DESC LIMIT %(limit)s
        """,
        {"owner": owner, "after": starting_after, "limit": limit + 1},
    )
    return await cursor.fetchall()


async def get_endpoint(
    conn: Connection, owner: str, endpoint_id: str, *, for_update: bool = False
) -> Row | None:
    lock = " FOR UPDATE" if for_update else ""
    cursor = await conn.execute(
        f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE owner = %s AND id = %s{lock}",
        (owner, endpoint_id),
    )
    return await cursor.fetchone()


async def update_endpoint(
    conn: Connection, owner: str, endpoint_id: str, changes: dict[str, Any], now: datetime
) -> Row | None:
    """Set the given columns (names come from the service, never from the request)."""
    assignments = ", ".join(f"{column} = %({column})s" for column in changes)
    cursor = await conn.execute(
        f"""
        UPDATE webhook_endpoints SET {assignments}, updated_at = %(now)s
         WHERE owner = %(owner)s AND id = %(id)s
        RETURNING {ENDPOINT_COLUMNS}
        """,
        {**changes, "now": now, "owner": owner, "id": endpoint_id},
    )
    return await cursor.fetchone()


async def delete_endpoint(conn: Connection, owner: str, endpoint_id: str) -> bool:
    cursor = await conn.execute(
        "DELETE FROM webhook_endpoints WHERE owner = %s AND id = %s", (owner, endpoint_id)
    )
    return cursor.rowcount == 1


async def enabled_endpoints_of(conn: Connection, owners: list[str]) -> list[Row]:
    """Every enabled endpoint of these owners (the dispatcher matches event types in Python)."""
    cursor = await conn.execute(
        "SELECT id, owner, event_types, created_at FROM webhook_endpoints"
        " WHERE owner = ANY(%s) AND enabled ORDER BY id",
        (owners,),
    )
    return await cursor.fetchall()


# --- deliveries -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewDelivery:
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    body: str


async def insert_deliveries(conn: Connection, deliveries: list[NewDelivery], now: datetime) -> int:
    """Insert in one statement; a pair (endpoint, event) that exists already is left alone."""
    if not deliveries:
        return 0
    cursor = await conn.execute(
        """
        INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, body, status,
                                        next_attempt_at, created_at)
        SELECT d.id, d.endpoint_id, d.event_id, d.event_type, d.body, 'pending', %s, %s
          FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
               AS d(id, endpoint_id, event_id, event_type, body)
        ON CONFLICT (endpoint_id, event_id) DO NOTHING
        """,
        (
            now,
            now,
            [d.id for d in deliveries],
            [d.endpoint_id for d in deliveries],
            [d.event_id for d in deliveries],
            [d.event_type for d in deliveries],
            [d.body for d in deliveries],
        ),
    )
    return cursor.rowcount


CLAIM_RETURNING = f"""
    RETURNING {DELIVERY_COLUMNS}, e.url, e.secret_key_id, e.secret_sealed,
              e.previous_secret_key_id, e.previous_secret_sealed, e.previous_secret_expires_at
"""


async def claim_due(
    conn: Connection, *, now: datetime, lease_until: datetime, limit: int
) -> list[Row]:
    """Take up to `limit` due deliveries of enabled endpoints for one attempt each. Rows
    another sender holds are skipped, and a claimed row is not due again before
    `lease_until`, so two senders never attempt the same delivery at once."""
    cursor = await conn.execute(
        f"""
        UPDATE webhook_deliveries d
           SET attempts = d.attempts + 1, next_attempt_at = %(lease_until)s
          FROM webhook_endpoints e
         WHERE e.id = d.endpoint_id AND d.id IN (
               SELECT due.id FROM webhook_deliveries due
                 JOIN webhook_endpoints enabled ON enabled.id = due.endpoint_id AND enabled.enabled
                WHERE due.status = 'pending' AND due.next_attempt_at <= %(now)s
                ORDER BY due.next_attempt_at, due.id
                LIMIT %(limit)s
                  FOR UPDATE OF due SKIP LOCKED)
        {CLAIM_RETURNING}
        """,
        {"now": now, "lease_until": lease_until, "limit": limit},
    )
    return await cursor.fetchall()


async def claim_one(conn: Connection, delivery_id: str, *, lease_until: datetime) -> Row | None:
    """Take one delivery for an attempt now, whatever its status (a replay)."""
    cursor = await conn.execute(
        f"""
        UPDATE webhook_deliveries d
           SET attempts = d.attempts + 1, next_attempt_at = %(lease_until)s,
               status = 'pending'
          FROM webhook_endpoints e
         WHERE e.id = d.endpoint_id AND d.id = (
               SELECT id FROM webhook_deliveries WHERE id = %(id)s FOR UPDATE SKIP LOCKED)
        {CLAIM_RETURNING}
        """,
        {"id": delivery_id, "lease_until": lease_until},
    )
    return await cursor.fetchone()


async def finish_attempt(
    conn: Connection,
    attempt: dict[str, Any],
    *,
    status: str,
    next_attempt_at: datetime | None,
) -> None:
    """Log the attempt and move its delivery on, in one transaction of the sender's."""
    await conn.execute(
        """
        INSERT INTO webhook_attempts (delivery_id, number, trigger, started_at, duration_ms,
                                      status_code, succeeded, error, response_excerpt)
        VALUES (%(delivery_id)s, %(number)s, %(trigger)s, %(started_at)s, %(duration_ms)s,
                %(status_code)s, %(succeeded)s, %(error)s, %(response_excerpt)s)
        """,
        attempt,
    )
    await conn.execute(
        """
        UPDATE webhook_deliveries
           SET status = %s, next_attempt_at = %s, last_attempt_at = %s
         WHERE id = %s
        """,
        (status, next_attempt_at, attempt["started_at"], attempt["delivery_id"]),
    )


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    status: str | None = None
    event_type: str | None = None


async def list_deliveries(
    conn: Connection,
    owner: str,
    endpoint_id: str,
    where: DeliveryFilter,
    *,
    limit: int,
    starting_after: str | None,
) -> list[Row]:
    """Newest first, `limit + 1` rows."""
    cursor = await conn.execute(
        f"""
        SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
          JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE e.owner = %(owner)s AND d.endpoint_id = %(endpoint)s
           AND (%(status)s::text IS NULL OR d.status = %(status)s)
           AND (%(type)s::text IS NULL OR d.event_type = %(type)s)
           AND (%(after)s::text IS NULL OR d.id < %(after)s)
         ORDER BY d.id DESC LIMIT %(limit)s
        """,
        {
            "owner": owner,
            "endpoint": endpoint_id,
            "status": where.status,
            "type": where.event_type,
            "after": starting_after,
            "limit": limit + 1,
        },
    )
    return await cursor.fetchall()


async def get_delivery(
    conn: Connection, owner: str, endpoint_id: str, delivery_id: str
) -> Row | None:
    cursor = await conn.execute(
        f"""
        SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
          JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE e.owner = %s AND d.endpoint_id = %s AND d.id = %s
        """,
        (owner, endpoint_id, delivery_id),
    )
    return await cursor.fetchone()


async def attempts_of(conn: Connection, delivery_ids: list[str]) -> dict[str, list[Row]]:
    """The attempts of these deliveries, oldest first, by delivery id."""
    cursor = await conn.execute(
        f"SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE delivery_id = ANY(%s) ORDER BY id",
        (delivery_ids,),
    )
    found: dict[str, list[Row]] = {delivery_id: [] for delivery_id in delivery_ids}
    async for row in cursor:
        found[row["delivery_id"]].append(row)
    return found


# --- payment notifications --------------------------------------------------------------------


async def claim_payment_notification(
    conn: Connection, *, event_id: str, user_id: str, payment_id: str, now: datetime
) -> bool:
    """Claim the event for notifying before anything is sent; False if it was claimed before
    (a concurrent claim waits here for the first one's transaction to end)."""
    cursor = await conn.execute(
        """
        INSERT INTO payment_notifications_sent (event_id, user_id, payment_id, created_at)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (event_id) DO NOTHING
        """,
        (event_id, user_id, payment_id, now),
    )
    return cursor.rowcount == 1


async def record_payment_notification(
    conn: Connection, event_id: str, notification_id: str, mail_id: str | None
) -> None:
    await conn.execute(
        "UPDATE payment_notifications_sent SET notification_id = %s, mail_id = %s"
        " WHERE event_id = %s",
        (notification_id, mail_id, event_id),
    )


def _one(row: Row | None) -> Row:
    assert row is not None
    return row
