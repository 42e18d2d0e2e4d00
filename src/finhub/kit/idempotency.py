"""`Idempotency-Key` for POST requests, per the IETF Idempotency-Key draft and Stripe's practice.

1. Claim: before the work starts, the key is inserted in its own short transaction together with a
   fingerprint of the request. A key that exists already answers at once: the stored response
   (replay), 422 if the fingerprint differs (the key was reused for another request), or 409 while
   the first request is still running.
2. Complete: the response is stored *in the same database transaction as the work*, so either both
   the effect and its response are committed or neither is; a crash can't leave an effect without
   a replayable response.
3. A business error (4xx) is stored too, so a retry sees the same answer. An unexpected error
   releases the key so the client can retry.

A claim left `started` by a process that died is taken over after `STALE_AFTER`: its work was
never committed, because completion is atomic with the work.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from psycopg import AsyncConnection

from finhub.errors import Conflict, FinhubError, Unprocessable
from finhub.kit.db.engine import Database, Row

HEADER = "Idempotency-Key"
STALE_AFTER = timedelta(seconds=60)
RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes


class IdempotentReplay(Exception):
    """Raised by the claim when the key already has a response; the app returns it verbatim."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.response = response


@dataclass(slots=True)
class IdempotencyClaim:
    principal: str
    key: str
    completed: bool = field(default=False)

    async def complete(self, conn: AsyncConnection[Row], status: int, body: bytes) -> None:
        """Store the response inside the caller's transaction (atomic with the work)."""
        await conn.execute(COMPLETE_SQL, (status, body, self.principal, self.key))
        self.completed = True


COMPLETE_SQL = """
    UPDATE idempotency_keys
       SET state = 'completed', response_status = %s, response_body = %s, completed_at = now()
     WHERE principal = %s AND key = %s
"""


# One statement, one round trip: claim the key, or read what is stored under it. The SELECT
# arm runs on the statement's snapshot, so it finds a key committed before this statement; a
# key claimed concurrently makes the INSERT wait for that claim to commit first.
CLAIM_SQL = """
    WITH claimed AS (
        INSERT INTO idempotency_keys (principal, key, method, path, request_hash, state)
        VALUES (%(principal)s, %(key)s, %(method)s, %(path)s, %(hash)s, 'started')
        ON CONFLICT (principal, key) DO UPDATE
           SET locked_at = now(), request_hash = EXCLUDED.request_hash
         WHERE idempotency_keys.state = 'started'
           AND idempotency_keys.request_hash = EXCLUDED.request_hash
           AND idempotency_keys.locked_at < now() - %(stale)s
        RETURNING true AS claimed
    )
    SELECT true AS claimed, NULL AS request_hash, NULL AS state, NULL::int AS response_status,
           NULL::bytea AS response_body
      FROM claimed
    UNION ALL
    SELECT false, request_hash, state, response_status, response_body
      FROM idempotency_keys
     WHERE principal = %(principal)s AND key = %(key)s AND NOT EXISTS (SELECT 1 FROM claimed)
"""


async def claim(
    db: Database, *, principal: str, key: str, method: str, path: str, body: bytes
) -> IdempotencyClaim:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise FinhubError(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters", code="invalid_idempotency_key"
        )
    fingerprint = request_fingerprint(method, path, body)
    params = {
        "principal": principal,
        "key": key,
        "method": method,
        "path": path,
        "hash": fingerprint,
        "stale": STALE_AFTER,
    }
    existing: Row | None = None
    for _ in range(3):  # a key committed by a racing claim after our snapshot: look again
        async with db.connection() as conn:
            existing = await (await conn.execute(CLAIM_SQL, params)).fetchone()
        if existing is not None:
            break
    if existing is None:
        raise Conflict(
            "A request with this Idempotency-Key is still being processed",
            code="idempotency_key_in_use",
        )
    if existing["claimed"]:
        return IdempotencyClaim(principal, key)
    if existing["request_hash"] != fingerprint:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request",
            code="idempotency_key_reused",
        )
    if existing["state"] == "started":
        raise Conflict(
            "A request with this Idempotency-Key is still being processed",
            code="idempotency_key_in_use",
        )
    raise IdempotentReplay(
        StoredResponse(existing["response_status"], bytes(existing["response_body"]))
    )


async def store_error(db: Database, claim_: IdempotencyClaim, status: int, body: bytes) -> None:
    async with db.connection() as conn:
        await claim_.complete(conn, status, body)


async def release(db: Database, claim_: IdempotencyClaim) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "DELETE FROM idempotency_keys WHERE principal = %s AND key = %s AND state = 'started'",
            (claim_.principal, claim_.key),
        )


async def purge_expired(conn: AsyncConnection[Row]) -> int:
    cursor = await conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - %s", (RETENTION,)
    )
    return cursor.rowcount


async def hold_claims(
    conn: AsyncConnection[Row], claims: list[IdempotencyClaim]
) -> set[tuple[str, str]]:
    """Lock the keys still claimed (`started`) until the caller's transaction ends, and say
    which they are. A group commit takes them first: a request that went away meanwhile has
    released its key (see `release`), and its work must not be done after all, or a retry with
    the same key would do it twice; a release that comes later waits for the commit and then
    finds the response stored."""
    if not claims:
        return set()
    cursor = await conn.execute(
        """
        SELECT k.principal, k.key FROM idempotency_keys AS k
          JOIN unnest(%b::text[], %b::text[]) AS c(principal, key)
            ON k.principal = c.principal AND k.key = c.key
         WHERE k.state = 'started'
         ORDER BY k.principal, k.key
           FOR UPDATE OF k
        """,
        ([claim.principal for claim in claims], [claim.key for claim in claims]),
    )
    return {(row["principal"], row["key"]) for row in await cursor.fetchall()}


async def still_held(
    conn: AsyncConnection[Row], claims: list[IdempotencyClaim | None]
) -> list[bool]:
    """For each work item's claim, whether its work should still be done: no claim, or a key
    still claimed (`hold_claims` locks it until the caller's transaction ends)."""
    held = await hold_claims(conn, [claim for claim in claims if claim is not None])
    return [claim is None or (claim.principal, claim.key) in held for claim in claims]


async def complete_many(
    conn: AsyncConnection[Row], completions: list[tuple[IdempotencyClaim, int, bytes]]
) -> None:
    """Store many responses in one statement (used by the ledger's group commit)."""
    if not completions:
        return
    await conn.execute(
        """
        UPDATE idempotency_keys AS k
           SET state = 'completed', response_status = c.status, response_body = c.body,
               completed_at = now()
          FROM unnest(%b::text[], %b::text[], %b::int[], %b::bytea[])
               AS c(principal, key, status, body)
         WHERE k.principal = c.principal AND k.key = c.key
        """,
        (
            [claim.principal for claim, _, _ in completions],
            [claim.key for claim, _, _ in completions],
            [status for _, status, _ in completions],
            [body for _, _, body in completions],
        ),
    )
    for claim, _, _ in completions:
        claim.completed = True
