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

Group commits claim differently (`DeferredKey`, `claim_with_work`): the keys are inserted in the
same database transaction as the work, so a request costs no commit of its own before its work.
A key that arrives while the same key is being committed elsewhere waits for that commit and
then replays its response.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from psycopg import AsyncConnection

from finhub.errors import Conflict, FinhubError, Unprocessable
from finhub.kit.db.engine import Database, Row

HEADER = "Idempotency-Key"
STALE_AFTER = timedelta(seconds=60)
RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# Answers that depend on the moment (a conflict in progress, a lockout, a step-up not yet
# done) are not kept for replays: the same request may succeed once the moment passes.
TRANSIENT = frozenset({409, 429})
TRANSIENT_CODES = frozenset({"step_up_required"})


def kept_for_replay(error: FinhubError) -> bool:
    """Whether a request that failed with `error` keeps it as the key's answer."""
    transient = error.status in TRANSIENT or error.code in TRANSIENT_CODES
    return error.status < 500 and not transient


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


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise FinhubError(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters", code="invalid_idempotency_key"
        )


def _in_use() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still being processed",
        code="idempotency_key_in_use",
    )


def _reused() -> Unprocessable:
    return Unprocessable(
        "This Idempotency-Key was already used with a different request",
        code="idempotency_key_reused",
    )


def _answer_for(existing: Row, fingerprint: str) -> Exception:
    """What a request gets whose key is taken: a replay, 422 (another request) or 409."""
    if existing["request_hash"] != fingerprint:
        return _reused()
    if existing["state"] == "started":
        return _in_use()
    return IdempotentReplay(
        StoredResponse(existing["response_status"], bytes(existing["response_body"]))
    )


async def claim(
    db: Database, *, principal: str, key: str, method: str, path: str, body: bytes
) -> IdempotencyClaim:
    _check_key(key)
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
        raise _in_use()
    if existing["claimed"]:
        return IdempotencyClaim(principal, key)
    raise _answer_for(existing, fingerprint)


@dataclass(frozen=True, slots=True)
class DeferredKey:
    """A request's `Idempotency-Key`, to be claimed by `claim_with_work` in the transaction
    that does the request's work."""

    principal: str
    key: str
    method: str
    path: str
    fingerprint: str

    @classmethod
    def of(cls, *, principal: str, key: str, method: str, path: str, body: bytes) -> DeferredKey:
        _check_key(key)
        return cls(principal, key, method, path, request_fingerprint(method, path, body))


# Sorted, so that two transactions claiming overlapping keys wait for each other in one order
# (the same order `hold_claims` locks in): they can't deadlock. A key committed or claimed
# elsewhere makes its row wait for that transaction, then answers nothing here.
CLAIM_WITH_WORK_SQL = """
    INSERT INTO idempotency_keys AS k (principal, key, method, path, request_hash, state)
    SELECT c.principal, c.key, c.method, c.path, c.hash, 'started'
      FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[])
           AS c(principal, key, method, path, hash)
     ORDER BY c.principal, c.key
        ON CONFLICT (principal, key) DO UPDATE
       SET locked_at = now(), request_hash = EXCLUDED.request_hash
     WHERE k.state = 'started'
       AND k.request_hash = EXCLUDED.request_hash
       AND k.locked_at < now() - %b::interval
    RETURNING k.principal, k.key
"""


async def claim_with_work(
    conn: AsyncConnection[Row], keys: Sequence[DeferredKey]
) -> list[IdempotencyClaim | Exception]:
    """Claim keys inside the caller's transaction: for each, its claim, or what its request
    answers instead (a replay, 422 or 409). Nothing is committed here; if the caller's
    transaction rolls back, the keys were never claimed.

    A key given twice is claimed by its first request; the others are then 409s (or 422s for
    another request), as if they had come while the first one runs."""
    if not keys:
        return []
    first_index: dict[tuple[str, str], int] = {}
    for index, k in enumerate(keys):
        first_index.setdefault((k.principal, k.key), index)
    distinct = [keys[index] for index in first_index.values()]
    cursor = await conn.execute(
        CLAIM_WITH_WORK_SQL,
        (
            [k.principal for k in distinct],
            [k.key for k in distinct],
            [k.method for k in distinct],
            [k.path for k in distinct],
            [k.fingerprint for k in distinct],
            STALE_AFTER,
        ),
    )
    claimed = {(row["principal"], row["key"]) for row in await cursor.fetchall()}
    stored = await _stored(conn, [k for k in distinct if (k.principal, k.key) not in claimed])
    answers: list[IdempotencyClaim | Exception] = []
    for index, k in enumerate(keys):
        ident = (k.principal, k.key)
        first = keys[first_index[ident]]
        if ident not in claimed:
            row = stored.get(ident)
            # None: released by its owner between the two statements
            answers.append(_in_use() if row is None else _answer_for(row, k.fingerprint))
        elif first_index[ident] == index:
            answers.append(IdempotencyClaim(k.principal, k.key))
        else:  # the same key again in this group, while its first request is being done
            answers.append(_in_use() if k.fingerprint == first.fingerprint else _reused())
    return answers


async def _stored(
    conn: AsyncConnection[Row], keys: Sequence[DeferredKey]
) -> dict[tuple[str, str], Row]:
    if not keys:
        return {}
    cursor = await conn.execute(
        """
        SELECT k.principal, k.key, k.request_hash, k.state, k.response_status, k.response_body
          FROM idempotency_keys AS k
          JOIN unnest(%b::text[], %b::text[]) AS c(principal, key)
            ON k.principal = c.principal AND k.key = c.key
        """,
        ([k.principal for k in keys], [k.key for k in keys]),
    )
    return {(row["principal"], row["key"]): row for row in await cursor.fetchall()}


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


async def release_many(conn: AsyncConnection[Row], claims: Sequence[IdempotencyClaim]) -> None:
    """Give up keys claimed in the caller's transaction, for work that answered a transient
    error (see `kept_for_replay`): a retry with the key runs again."""
    if not claims:
        return
    await conn.execute(
        """
        DELETE FROM idempotency_keys AS k
         USING unnest(%b::text[], %b::text[]) AS c(principal, key)
         WHERE k.principal = c.principal AND k.key = c.key AND k.state = 'started'
        """,
        ([claim.principal for claim in claims], [claim.key for claim in claims]),
    )
