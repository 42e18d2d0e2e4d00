"""Every key event is in the audit trail, and no secret ever is."""

from __future__ import annotations

import json
from typing import Any

from finhub.kit.db import Database
from tests.identity.api_keys.conftest import PersonFactory, Probe


async def _events(db: Database, key_id: str) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            """
            SELECT action, outcome, actor_type, actor_id, subject_user_id, organization_id,
                   host(ip) AS ip, object_type, before, after, details
              FROM audit_events WHERE object_id = %s ORDER BY seq
            """,
            (key_id,),
        )
        return await cursor.fetchall()


async def test_created_rolled_revoked_and_rejected_are_audited_without_secrets(
    make_person: PersonFactory, probe: Probe, db: Database
) -> None:
    person = await make_person()
    key = await person.create_key(allowed_ips=["198.51.100.0/24"])
    rolled = (
        await person.client.post(
            f"/v1/api-keys/{key['id']}/roll", json={"expire_old_in_seconds": 0}
        )
    ).json()
    await probe(rolled["secret"], ip="192.0.2.10")  # outside the allow-list
    await probe(key["secret"], ip="198.51.100.1")  # the secret replaced by the roll
    await person.client.post(f"/v1/api-keys/{key['id']}/revoke")
    await probe(rolled["secret"], ip="198.51.100.1")  # revoked

    events = await _events(db, key["id"])
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("api_key.created", "success"),
        ("api_key.rolled", "success"),
        ("api_key.rejected", "failure"),
        ("api_key.rejected", "failure"),
        ("api_key.revoked", "success"),
        ("api_key.rejected", "failure"),
    ]
    assert all(e["subject_user_id"] == person.user_id for e in events)
    assert all(e["object_type"] == "api_key" for e in events)
    created, rolled_event, outside, old_secret, revoked, after_revoke = events
    assert (created["actor_type"], created["actor_id"]) == ("user", person.user_id)
    assert created["after"]["scopes"] == ["wallets:read"]
    assert created["after"]["last4"] == key["secret"][-4:]
    assert rolled_event["details"]["previous_last4"] == key["secret"][-4:]
    assert rolled_event["details"]["new_last4"] == rolled["secret"][-4:]
    assert outside["details"] == {"reason": "ip_not_allowed", "ip": "192.0.2.10"}
    assert (outside["actor_type"], outside["actor_id"], outside["ip"]) == (
        "api_key",
        key["id"],
        "192.0.2.10",
    )
    assert old_secret["details"]["reason"] == "rolled_secret"
    assert (revoked["before"]["status"], revoked["after"]["status"]) == ("active", "revoked")
    assert after_revoke["details"]["reason"] == "revoked"

    recorded = json.dumps(events, default=str)
    for secret in (key["secret"], rolled["secret"]):
        assert secret not in recorded
        assert secret[12:-4] not in recorded


async def test_unknown_secrets_leave_no_audit_event(probe: Probe, db: Database) -> None:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'api_key.rejected'"
        )
        before = (await cursor.fetchone())["n"]  # type: ignore[index]
        await probe("fh_live_" + "A" * 43)
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'api_key.rejected'"
        )
        assert (await cursor.fetchone())["n"] == before  # type: ignore[index]
