"""Using keys: scopes, modes, the IP allow-list, expiry, a disabled owner, `last_used_at`."""

from __future__ import annotations

from datetime import timedelta
from ipaddress import ip_network
from typing import Any

from finhub.identity.api_keys.service import authenticate_api_key, ip_allowed
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.kit.secrets import new_secret
from tests.identity.api_keys.conftest import Person, PersonFactory, Probe


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code, problem
    return problem


async def _last_used(db: Database, key_id: str) -> Any:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT last_used_at, host(last_used_ip) AS ip FROM api_keys WHERE id = %s",
            (key_id,),
        )
        return await cursor.fetchone()


async def test_a_live_key_authenticates_as_its_owner(person: Person, probe: Probe) -> None:
    key = await person.create_key(scopes=["wallets:read", "profile:read"])
    response = await probe(key["secret"])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "api_key",
        "id": key["id"],
        "user_id": person.user_id,
        "organization_id": None,
        "scopes": ["profile:read", "wallets:read"],
        "live_mode": True,
        "ip": "127.0.0.1",
    }


async def test_a_test_key_authenticates_in_test_mode(person: Person, probe: Probe) -> None:
    key = await person.create_key(mode="test")
    assert (await probe(key["secret"])).json()["live_mode"] is False


async def test_the_mode_prefix_is_part_of_the_secret(person: Person, probe: Probe) -> None:
    key = await person.create_key(mode="test")
    swapped = "fh_live_" + key["secret"].removeprefix("fh_test_")
    _problem(await probe(swapped), 401, "invalid_api_key")


async def test_unknown_secrets_are_refused(probe: Probe) -> None:
    _problem(await probe(new_secret("fh_live_")), 401, "invalid_api_key")
    _problem(await probe("fh_test_"), 401, "invalid_api_key")


async def test_scopes_are_enforced(person: Person, probe: Probe) -> None:
    key = await person.create_key(scopes=["wallets:read", "payments:read"])
    assert (await probe(key["secret"])).status_code == 200
    problem = _problem(
        await probe(key["secret"], path="/probe/payments"), 403, "insufficient_scope"
    )
    assert problem["required_scopes"] == ["payments:write"]
    narrow = await person.create_key(scopes=["profile:read"])
    _problem(await probe(narrow["secret"]), 403, "insufficient_scope")


async def test_a_call_from_outside_the_allow_list_is_refused(person: Person, probe: Probe) -> None:
    key = await person.create_key(allowed_ips=["203.0.113.0/24", "2001:db8::/32"])
    assert (await probe(key["secret"], ip="203.0.113.77")).status_code == 200
    assert (await probe(key["secret"], ip="2001:db8::5")).status_code == 200
    assert (await probe(key["secret"], ip="::ffff:203.0.113.9")).status_code == 200
    for outside in ("198.51.100.1", "127.0.0.1", "2001:db9::1"):
        _problem(await probe(key["secret"], ip=outside), 401, "invalid_api_key")


def test_ip_allowed_matches_addresses_of_either_family() -> None:
    networks = [ip_network("10.1.0.0/16"), ip_network("fd00::/8")]
    assert ip_allowed("10.1.255.4", networks)
    assert ip_allowed("fd12::1", networks)
    assert ip_allowed("::ffff:10.1.0.1", networks)
    assert not ip_allowed("10.2.0.1", networks)
    assert not ip_allowed("fe80::1", networks)
    assert not ip_allowed(None, networks)
    assert not ip_allowed("testclient", networks)


async def test_an_expired_key_stops_working(
    person: Person, probe: Probe, clock: OffsetClock
) -> None:
    key = await person.create_key(expires_at=(clock.now() + timedelta(hours=1)).isoformat())
    assert (await probe(key["secret"])).status_code == 200
    clock.advance(timedelta(hours=1, seconds=1))
    _problem(await probe(key["secret"]), 401, "invalid_api_key")
    shown = (await person.client.get(f"/v1/api-keys/{key['id']}")).json()
    assert shown["status"] == "expired"


async def test_rolling_an_expired_key_is_refused(
    make_person: PersonFactory, clock: OffsetClock
) -> None:
    person = await make_person()
    key = await person.create_key(expires_at=(clock.now() + timedelta(minutes=2)).isoformat())
    clock.advance(timedelta(minutes=3))
    stepped_up = await make_person(user_id=person.user_id)
    response = await stepped_up.client.post(f"/v1/api-keys/{key['id']}/roll")
    _problem(response, 409, "api_key_expired")


async def test_a_grace_period_never_outlives_the_key(
    make_person: PersonFactory, probe: Probe, clock: OffsetClock
) -> None:
    person = await make_person()
    expires = clock.now() + timedelta(minutes=30)
    key = await person.create_key(expires_at=expires.isoformat())
    rolled = (
        await person.client.post(
            f"/v1/api-keys/{key['id']}/roll", json={"expire_old_in_seconds": 86_400}
        )
    ).json()
    assert rolled["previous_secret_expires_at"] == rolled["expires_at"]


async def test_a_disabled_persons_keys_stop_working(
    person: Person, probe: Probe, db: Database
) -> None:
    key = await person.create_key()
    assert (await probe(key["secret"])).status_code == 200
    async with db.connection() as conn:
        await conn.execute("UPDATE users SET status = 'disabled' WHERE id = %s", (person.user_id,))
    _problem(await probe(key["secret"]), 401, "invalid_api_key")


async def test_last_used_is_written_at_most_once_a_minute(
    person: Person, probe: Probe, db: Database, clock: OffsetClock
) -> None:
    key = await person.create_key()
    await probe(key["secret"], ip="192.0.2.1")
    first = await _last_used(db, key["id"])
    assert first["last_used_at"] is not None
    assert first["ip"] == "192.0.2.1"
    await probe(key["secret"], ip="192.0.2.2")
    assert await _last_used(db, key["id"]) == first

    clock.advance(timedelta(minutes=1, seconds=1))
    await probe(key["secret"], ip="192.0.2.3")
    later = await _last_used(db, key["id"])
    assert later["last_used_at"] > first["last_used_at"]
    assert later["ip"] == "192.0.2.3"
    shown = (await person.client.get(f"/v1/api-keys/{key['id']}")).json()
    assert shown["last_used_at"] is not None


async def test_authenticate_api_key_returns_the_principal_in_process(
    person: Person, conn: Connection, clock: OffsetClock
) -> None:
    key = await person.create_key(mode="test", scopes=["audit:read"])
    principal = await authenticate_api_key(conn, key["secret"], ip="10.0.0.1", now=clock.now())
    assert principal is not None
    assert (principal.kind, principal.id, principal.user_id) == (
        "api_key",
        key["id"],
        person.user_id,
    )
    assert principal.scopes == frozenset({"audit:read"})
    assert principal.live_mode is False
    assert principal.owner == f"user:{person.user_id}"
    assert principal.ip == "10.0.0.1"
    assert await authenticate_api_key(conn, key["secret"] + "x", ip=None, now=clock.now()) is None


async def test_a_personal_key_reads_its_owners_security_events_with_the_scope(
    person: Person, anonymous_client: Any
) -> None:
    reader = await person.create_key(scopes=["audit:read"])
    other = await person.create_key(scopes=["wallets:read"])
    response = await anonymous_client.get(
        "/v1/me/security-events", headers={"Authorization": f"Bearer {reader['secret']}"}
    )
    assert response.status_code == 200, response.text
    created = [e for e in response.json()["data"] if e["action"] == "api_key.created"]
    assert len(created) == 2
    response = await anonymous_client.get(
        "/v1/me/security-events", headers={"Authorization": f"Bearer {other['secret']}"}
    )
    _problem(response, 403, "insufficient_scope")
