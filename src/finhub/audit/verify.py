"""Walking the audit chain: any edited, deleted, inserted or reordered record breaks it.

Each record's hash is recomputed by the same SQL function the insert trigger used, compared with
the stored one, and checked to link to the record before it. The walk streams rows in seq order,
so memory stays constant however long the trail. An anchor (`SEQ:HASH` from `finhub audit head`,
kept outside the database) also catches the tail being cut off together with the head row.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.pq import TransactionStatus

from finhub.audit import repository
from finhub.kit.db.engine import Connection

GENESIS_HASH = bytes(32)


@dataclass(frozen=True, slots=True)
class Anchor:
    """A point of the chain an operator wrote down: the record `seq` had hash `hash`."""

    seq: int
    hash: bytes

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """`SEQ:HASH` with the hash in hex, as `finhub audit head` prints it."""
        seq_text, separator, hash_text = text.strip().partition(":")
        try:
            seq = int(seq_text)
            digest = bytes.fromhex(hash_text)
        except ValueError as error:
            raise ValueError("expected SEQ:HASH, e.g. 42:3fa1…") from error
        if not separator or seq < 0 or len(digest) != 32:
            raise ValueError("expected SEQ:HASH with a 64-digit hex SHA-256")
        return cls(seq, digest)

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash.hex()}"


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of a walk: `broken_seq` is the first record that fails, with why."""

    checked: int
    head: Anchor
    broken_seq: int | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


async def current_head(conn: Connection) -> Anchor:
    row = await repository.chain_head(conn)
    return Anchor(row["seq"], bytes(row["hash"]))


async def verify_chain(conn: Connection, expect_head: Anchor | None = None) -> ChainReport:
    """Walk the whole chain in one consistent snapshot (a read-only REPEATABLE READ
    transaction, or the caller's transaction when one is open)."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        return await _walk(conn, await current_head(conn), expect_head)
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return await _walk(conn, await current_head(conn), expect_head)


# SHA-256 of the bodies of the SQL functions that compute each record's hash (as created by
# migration 0007). The walk recomputes hashes with those functions, so someone able to switch
# the append-only triggers off could otherwise also redefine them to agree with edited rows.
HASH_FUNCTION_DIGESTS = {
    "audit_event_hash": "d579a539b81487b1b65ae2c1acc4db3299027c440caf629a41a127964bdcb2f3",
    "audit_field": "df1e322c5ea958d3f3af6c52d8eddcd3a5427b93da8a4fcf2e9da7dea6100a5b",
}


async def _walk(conn: Connection, head: Anchor, expect_head: Anchor | None) -> ChainReport:
    expected_seq, expected_prev, checked = 1, GENESIS_HASH, 0

    def broken(seq: int, reason: str) -> ChainReport:
        return ChainReport(checked, head, seq, reason)

    found = await repository.function_digests(conn, list(HASH_FUNCTION_DIGESTS))
    changed = sorted(n for n, digest in HASH_FUNCTION_DIGESTS.items() if found.get(n) != digest)
    if changed:
        return broken(1, f"the hash function {', '.join(changed)} was changed or removed")

    async for row in repository.stream_chain(conn):
        seq, stored_hash = row["seq"], bytes(row["hash"])
        if seq != expected_seq:
            return broken(expected_seq, f"record {expected_seq} is missing (next is {seq})")
        if bytes(row["prev_hash"]) != expected_prev:
            return broken(seq, "does not link to the record before it")
        if bytes(row["computed"]) != stored_hash:
            return broken(seq, "its content no longer matches its hash")
        if expect_head is not None and seq == expect_head.seq and stored_hash != expect_head.hash:
            return broken(seq, f"differs from the anchor {expect_head}")
        expected_prev, expected_seq, checked = stored_hash, seq + 1, checked + 1

    last = expected_seq - 1
    if head.seq != last:
        first_bad = min(head.seq, last) + 1
        return broken(first_bad, f"the chain ends at {last} but its head says {head.seq}")
    if last > 0 and head.hash != expected_prev:
        return broken(last, "the last record's hash differs from the chain head's")
    if expect_head is not None and expect_head.seq > last:
        return broken(last + 1, f"records up to the anchor {expect_head.seq} are gone")
    return ChainReport(checked, head)
