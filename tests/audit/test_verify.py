"""The chain detects tampering: edits, deletions, insertions, reordering and a cut-off tail.

Each tampering runs the way an attacker with database access would: the append-only trigger
switched off (`ALTER TABLE … DISABLE TRIGGER …`), rows changed, then the walk. The whole
tampering happens in a transaction that is rolled back, which restores the rows and re-enables
the trigger (DDL is transactional in PostgreSQL), so no other test sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from finhub.audit.service import AuditContext, record
from finhub.audit.verify import Anchor, current_head, verify_chain
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection

SYSTEM = AuditContext.system("test")


async def record_some(db: Database, count: int = 5) -> list[int]:
    """Commit `count` events; their seqs."""
    async with db.transaction() as conn:
        for number in range(count):
            await record(
                conn,
                AuditContext(actor_type="user", actor_id="usr_x", ip="198.51.100.1"),
                "test.sample",
                details={"n": number},
            )
        cursor = await conn.execute(
            "SELECT seq FROM audit_events ORDER BY seq DESC LIMIT %s", (count,)
        )
        return sorted(row["seq"] for row in await cursor.fetchall())


@asynccontextmanager
async def tampering(db: Database, *triggers: str) -> AsyncIterator[Connection]:
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        await conn.execute("SET LOCAL lock_timeout = '10s'")
        for trigger in triggers or ("audit_events_append_only",):
            table = "audit_chain_head" if trigger.startswith("audit_chain_head") else "audit_events"
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        yield conn


async def test_an_untouched_chain_verifies(db: Database) -> None:
    await record_some(db)
    async with db.connection() as conn:
        report = await verify_chain(conn)
        head = await current_head(conn)
    assert report.intact, report
    assert report.checked == head.seq
    assert report.head == head


@pytest.mark.parametrize(
    "change",
    [
        "action = 'test.rewritten'",
        "outcome = 'failure'",
        "actor_id = 'usr_someone_else'",
        "actor_type = 'system'",
        "ip = '198.51.100.2'",
        "occurred_at = occurred_at + interval '1 microsecond'",
        "details = '{\"n\": 99}'",
        "before = '{}'",
        "user_agent = ''",  # NULL and the empty string hash differently
        "subject_user_id = 'usr_victim'",
        "id = 'evt_renamed'",
    ],
)
async def test_an_edited_field_breaks_the_chain_at_that_record(db: Database, change: str) -> None:
    seqs = await record_some(db)
    target = seqs[2]
    async with tampering(db) as conn:
        # The change is one of the constant cases above.
        await conn.execute(f"UPDATE audit_events SET {change} WHERE seq = %s", (target,))  # noqa: S608
        report = await verify_chain(conn)
    assert report.broken_seq == target, report
    assert report.reason == "its content no longer matches its hash"
    assert report.checked == target - 1


async def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(db: Database) -> None:
    seqs = await record_some(db)
    target = seqs[1]
    async with tampering(db) as conn:
        await conn.execute(
            "UPDATE audit_events SET details = '{\"n\": 42}' WHERE seq = %s", (target,)
        )
        await conn.execute(
            "UPDATE audit_events e SET hash = audit_event_hash(e) WHERE seq = %s", (target,)
        )
        report = await verify_chain(conn)
    assert report.broken_seq == target + 1, report
    assert report.reason == "does not link to the record before it"


async def test_a_deleted_record_is_named(db: Database) -> None:
    seqs = await record_some(db)
    target = seqs[2]
    async with tampering(db) as conn:
        await conn.execute("DELETE FROM audit_events WHERE seq = %s", (target,))
        report = await verify_chain(conn)
    assert report.broken_seq == target, report
    assert "missing" in (report.reason or "")


async def test_a_record_inserted_in_the_middle_is_found(db: Database) -> None:
    """Shift the later records up by one and slip a self-consistent forged record in: its own
    hash is right, but the genuine record after it no longer links."""
    seqs = await record_some(db)
    target = seqs[2]
    async with tampering(db, "audit_events_append_only", "audit_events_chain") as conn:
        await conn.execute("UPDATE audit_events SET seq = -seq - 1 WHERE seq >= %s", (target,))
        await conn.execute("UPDATE audit_events SET seq = -seq WHERE seq < 0")
        await conn.execute(
            """
            INSERT INTO audit_events (seq, id, action, outcome, actor_type, prev_hash, hash)
            SELECT %(seq)s, 'evt_forged', 'test.forged', 'success', 'system', hash, hash
            FROM audit_events WHERE seq = %(seq)s - 1
            """,
            {"seq": target},
        )
        await conn.execute(
            "UPDATE audit_events e SET hash = audit_event_hash(e) WHERE id = 'evt_forged'"
        )
        report = await verify_chain(conn)
    assert report.broken_seq == target + 1, report


async def test_a_record_appended_behind_the_triggers_back_is_found(db: Database) -> None:
    await record_some(db)
    async with tampering(db, "audit_events_append_only", "audit_events_chain") as conn:
        head = await current_head(conn)
        await conn.execute(
            "INSERT INTO audit_events (seq, id, action, outcome, actor_type, prev_hash, hash) "
            "VALUES (%s, 'evt_appended', 'test.forged', 'success', 'system', %s, %s)",
            (head.seq + 1, head.hash, bytes(32)),
        )
        report = await verify_chain(conn)
    assert report.broken_seq == head.seq + 1, report


async def test_swapped_records_are_found(db: Database) -> None:
    seqs = await record_some(db)
    first, second = seqs[1], seqs[2]
    async with tampering(db) as conn:
        await conn.execute("UPDATE audit_events SET seq = -1 WHERE seq = %s", (first,))
        await conn.execute("UPDATE audit_events SET seq = %s WHERE seq = %s", (first, second))
        await conn.execute("UPDATE audit_events SET seq = %s WHERE seq = -1", (second,))
        report = await verify_chain(conn)
    assert report.broken_seq == first, report


async def test_a_cut_tail_shows_against_the_head_row(db: Database) -> None:
    seqs = await record_some(db)
    async with tampering(db) as conn:
        await conn.execute("DELETE FROM audit_events WHERE seq >= %s", (seqs[3],))
        report = await verify_chain(conn)
    assert report.broken_seq == seqs[3], report
    assert "head" in (report.reason or "")


async def test_a_cut_tail_with_a_rewound_head_shows_only_against_an_anchor(db: Database) -> None:
    seqs = await record_some(db)
    async with db.connection() as conn:
        anchor = await current_head(conn)
    assert anchor.seq == seqs[-1]
    async with tampering(db, "audit_events_append_only", "audit_chain_head_guard") as conn:
        await conn.execute("DELETE FROM audit_events WHERE seq >= %s", (seqs[3],))
        await conn.execute(
            "UPDATE audit_chain_head SET seq = e.seq, hash = e.hash "
            "FROM audit_events e WHERE e.seq = %s",
            (seqs[2],),
        )
        assert (await verify_chain(conn)).intact
        report = await verify_chain(conn, anchor)
    assert report.broken_seq == seqs[3], report
    assert "anchor" in (report.reason or "")


async def test_an_anchor_with_another_hash_is_reported(db: Database) -> None:
    seqs = await record_some(db)
    async with db.connection() as conn:
        matching = await verify_chain(conn, Anchor(seqs[1], await _hash_of(conn, seqs[1])))
        wrong = await verify_chain(conn, Anchor(seqs[1], bytes(32)))
    assert matching.intact, matching
    assert wrong.broken_seq == seqs[1]


async def _hash_of(conn: Connection, seq: int) -> bytes:
    cursor = await conn.execute("SELECT hash FROM audit_events WHERE seq = %s", (seq,))
    row = await cursor.fetchone()
    assert row is not None
    return bytes(row["hash"])


def test_anchors_parse_as_printed() -> None:
    anchor = Anchor(12, bytes(range(32)))
    assert Anchor.parse(str(anchor)) == anchor
    for bad in ("12", "x:00", "12:abcd", f"-1:{bytes(32).hex()}", f"12:{'zz' * 32}"):
        with pytest.raises(ValueError, match="SEQ:HASH"):
            Anchor.parse(bad)


async def test_concurrent_writers_keep_one_gap_free_chain(db: Database) -> None:
    """Many connections record at once; the head lock serialises them in commit order."""
    writers, per_writer = 40, 5

    async def writer(number: int) -> None:
        for round_number in range(per_writer):
            async with db.transaction() as conn:
                await conn.execute("SELECT 1")  # other work of the transaction comes first
                await record(
                    conn,
                    SYSTEM,
                    "test.concurrent",
                    details={"writer": number, "round": round_number},
                )

    async with db.connection() as conn:
        start = await current_head(conn)
    await asyncio.gather(*(writer(number) for number in range(writers)))
    async with db.connection() as conn:
        end = await current_head(conn)
        cursor = await conn.execute(
            "SELECT seq FROM audit_events WHERE action = 'test.concurrent' AND seq > %s "
            "ORDER BY seq",
            (start.seq,),
        )
        seqs = [row["seq"] for row in await cursor.fetchall()]
        report = await verify_chain(conn)
    assert len(seqs) == writers * per_writer
    assert seqs == list(range(start.seq + 1, end.seq + 1))
    assert report.intact, report
    assert report.checked == end.seq


async def test_a_redefined_hash_function_is_found(db: Database) -> None:
    """Someone who can switch the triggers off can also redefine the function that hashes a
    record, so that an edited row seems to match: the walk checks the function first."""
    seqs = await record_some(db)
    async with tampering(db) as conn:
        await conn.execute(
            "UPDATE audit_events SET action = 'test.rewritten' WHERE seq = %s", (seqs[1],)
        )
        await conn.execute(
            "CREATE OR REPLACE FUNCTION audit_event_hash(e audit_events) RETURNS bytea"
            " LANGUAGE sql STABLE AS $$ SELECT e.hash $$"
        )
        report = await verify_chain(conn)
    assert not report.intact
    assert report.reason == "the hash function audit_event_hash was changed or removed"
