"""Recording events: what is stored, what never is, and how records link up."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
import pytest

from finhub.audit.service import AuditContext, record
from finhub.audit.verify import verify_chain
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection

STAFF = AuditContext(
    actor_type="staff",
    actor_id="stf_01TESTACTOR0000000000000000",
    ip="203.0.113.7",
    user_agent="Mozilla/5.0 (test)",
    request_id="req_test_1",
)


async def last_event(conn: Connection) -> dict[str, Any]:
    cursor = await conn.execute(
        "SELECT *, host(ip) AS ip_text FROM audit_events ORDER BY seq DESC LIMIT 1"
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def test_an_event_keeps_who_did_what_from_where(conn: Connection) -> None:
    await record(
        conn,
        STAFF,
        "staff.user_disabled",
        subject_user_id="usr_01SUBJECT000000000000000000",
        organization_id="org_01ORG000000000000000000000",
        object_type="user",
        object_id="usr_01SUBJECT000000000000000000",
        before={"status": "active"},
        after={"status": "disabled"},
        details={"reason": "fraud report"},
    )
    event = await last_event(conn)
    assert event["id"].startswith("evt_")
    assert (event["action"], event["outcome"]) == ("staff.user_disabled", "success")
    assert (event["actor_type"], event["actor_id"]) == ("staff", STAFF.actor_id)
    assert event["subject_user_id"] == "usr_01SUBJECT000000000000000000"
    assert event["organization_id"] == "org_01ORG000000000000000000000"
    assert event["ip_text"] == "203.0.113.7"
    assert event["user_agent"] == "Mozilla/5.0 (test)"
    assert event["request_id"] == "req_test_1"
    assert (event["object_type"], event["object_id"]) == ("user", event["subject_user_id"])
    assert event["before"] == {"status": "active"}
    assert event["after"] == {"status": "disabled"}
    assert event["details"] == {"reason": "fraud report"}
    assert event["occurred_at"] is not None


async def chain_head(conn: Connection) -> tuple[int, bytes]:
    cursor = await conn.execute("SELECT seq, hash FROM audit_chain_head")
    head = await cursor.fetchone()
    assert head is not None
    return head["seq"], bytes(head["hash"])


async def test_each_record_links_to_the_one_before(db: Database) -> None:
    async with db.transaction() as conn:
        before = await chain_head(conn)
        await record(conn, AuditContext.system("test"), "test.first")
        first = await last_event(conn)
        await record(conn, AuditContext.system("test"), "test.second", outcome="failure")
        second = await last_event(conn)
        # The head moves once, when the transaction commits.
        assert await chain_head(conn) == before
    assert first["seq"] == before[0] + 1
    assert bytes(first["prev_hash"]) == before[1]
    assert second["seq"] == first["seq"] + 1
    assert bytes(second["prev_hash"]) == bytes(first["hash"])
    assert len(bytes(second["hash"])) == 32
    async with db.connection() as conn:
        assert await chain_head(conn) == (second["seq"], bytes(second["hash"]))


async def test_a_rolled_back_savepoint_takes_its_records_along(db: Database) -> None:
    async with db.transaction() as conn:
        await record(conn, AuditContext.system("test"), "test.outer")
        outer = await last_event(conn)
        async with conn.transaction(force_rollback=True):
            await record(conn, AuditContext.system("test"), "test.inner_abandoned")
        await record(conn, AuditContext.system("test"), "test.after_savepoint")
        after = await last_event(conn)
    assert after["seq"] == outer["seq"] + 1
    assert bytes(after["prev_hash"]) == bytes(outer["hash"])
    async with db.connection() as conn:
        assert await chain_head(conn) == (after["seq"], bytes(after["hash"]))
        assert (await verify_chain(conn)).intact


async def test_the_hash_is_sha256_of_the_previous_hash_and_the_canonical_record(
    conn: Connection,
) -> None:
    await record(conn, AuditContext.system("test"), "test.hashed", details={"n": 1})
    event = await last_event(conn)
    cursor = await conn.execute(
        "SELECT audit_event_hash(e) AS computed FROM audit_events e WHERE id = %s",
        (event["id"],),
    )
    row = await cursor.fetchone()
    assert row is not None
    assert bytes(row["computed"]) == bytes(event["hash"])
    assert bytes(event["hash"]) != hashlib.sha256(bytes(event["prev_hash"])).digest()


async def test_whatever_the_inserter_sends_for_the_chain_columns_is_replaced(
    conn: Connection,
) -> None:
    await record(conn, AuditContext.system("test"), "test.before_forgery")
    previous = await last_event(conn)
    await conn.execute(
        "INSERT INTO audit_events (id, action, outcome, actor_type, seq, prev_hash, hash) "
        "VALUES ('evt_forged', 'test.forged', 'success', 'system', 1, '\\x00', %s)",
        (b"\x01" * 32,),
    )
    forged = await last_event(conn)
    assert forged["id"] == "evt_forged"
    assert forged["seq"] == previous["seq"] + 1
    assert bytes(forged["prev_hash"]) == bytes(previous["hash"])
    assert bytes(forged["hash"]) != b"\x01" * 32


async def test_secrets_never_reach_the_trail(conn: Connection) -> None:
    await record(
        conn,
        AuditContext.system("test"),
        "auth.password_changed",
        details={
            "password": "correct horse battery staple",
            "new_password": "another one entirely",
            "code": "123456",
            "recovery_codes": ["aaaa-bbbb"],
            "session_token": "whatever",
            "nested": {"secret": "s3cr3t", "kept": "visible", "key_id": "key_01"},
            "presented": "fh_live_abcdefabcdef",
            "listed": ["fhs_sessiontoken", "plain"],
            "country_code": "TH",
        },
        after={"password_hash": "$argon2id$v=19$..."},
    )
    event = await last_event(conn)
    assert event["details"] == {
        "password": "[redacted]",
        "new_password": "[redacted]",
        "code": "[redacted]",
        "recovery_codes": "[redacted]",
        "session_token": "[redacted]",
        "nested": {"secret": "[redacted]", "kept": "visible", "key_id": "key_01"},
        "presented": "[redacted]",
        "listed": ["[redacted]", "plain"],
        "country_code": "TH",
    }
    assert event["after"] == {"password_hash": "[redacted]"}


async def test_a_client_address_that_is_no_ip_is_kept_in_details(conn: Connection) -> None:
    context = AuditContext(actor_type="anonymous", actor_id=None, ip="testclient")
    await record(conn, context, "auth.sign_in_failed", outcome="failure")
    event = await last_event(conn)
    assert event["ip"] is None
    assert event["details"] == {"client": "testclient"}


@pytest.mark.parametrize(
    ("action", "outcome"),
    [("SignIn", "success"), ("auth", "success"), ("auth.sign in", "success"), ("a.b", "OK!")],
)
async def test_malformed_actions_and_outcomes_are_refused(
    conn: Connection, action: str, outcome: str
) -> None:
    with pytest.raises(ValueError, match="audit"):
        await record(conn, AuditContext.system("test"), action, outcome=outcome)


async def test_records_cannot_be_changed_or_removed(db: Database) -> None:
    async with db.transaction() as conn:
        await record(conn, AuditContext.system("test"), "test.permanent")
    for statement in (
        "UPDATE audit_events SET action = 'test.rewritten' WHERE action = 'test.permanent'",
        "DELETE FROM audit_events WHERE action = 'test.permanent'",
        "TRUNCATE audit_events",
        "UPDATE audit_chain_head SET seq = seq + 1",
        "DELETE FROM audit_chain_head",
    ):
        assert await sqlstate_of(db, statement) == "FH001", statement
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'test.permanent'"
        )
        row = await cursor.fetchone()
    assert row is not None
    assert row["n"] >= 1


async def sqlstate_of(db: Database, statement: str) -> str | None:
    """The SQLSTATE `statement` fails with (None if it succeeds, which is then rolled back)."""
    async with db.connection() as conn:
        try:
            async with conn.transaction(force_rollback=True):
                await conn.execute("SET LOCAL lock_timeout = '5s'")
                await conn.execute(statement)
        except psycopg.Error as error:
            return error.sqlstate
    return None


async def test_a_rolled_back_record_leaves_no_gap(db: Database) -> None:
    async with db.connection() as conn:
        cursor = await conn.execute("SELECT seq FROM audit_chain_head")
        before = await cursor.fetchone()
        assert before is not None
        async with conn.transaction(force_rollback=True):
            await record(conn, AuditContext.system("test"), "test.abandoned")
        async with conn.transaction():
            await record(conn, AuditContext.system("test"), "test.kept")
        kept = await last_event(conn)
    assert kept["action"] == "test.kept"
    assert kept["seq"] == before["seq"] + 1


async def test_constraints_made_immediate_mid_transaction_keep_the_head_right(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        await record(conn, AuditContext.system("test"), "test.early")
        early = await last_event(conn)
        await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        assert await chain_head(conn) == (early["seq"], bytes(early["hash"]))
        await record(conn, AuditContext.system("test"), "test.late")
        late = await last_event(conn)
    assert late["seq"] == early["seq"] + 1
    async with db.connection() as conn:
        assert await chain_head(conn) == (late["seq"], bytes(late["hash"]))
        assert (await verify_chain(conn)).intact
