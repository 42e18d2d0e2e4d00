"""Staff through the API: two-factor sign-in, throttling, enrolment by link, and member
management whose role changes take effect on the next request."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
from httpx import AsyncClient

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.identity.factors.support import (
    PASSWORD,
    client_for,
    new_person,
    problem_code,
)
from tests.identity.staff.conftest import MakeMember, Member


async def sign_in(client: AsyncClient, member: Member, clock: OffsetClock) -> str:
    """A staff session token, with the code of the next time step (never a replay)."""
    challenge = await client.post(
        "/v1/staff/auth/sign-in", json={"email": member.email, "password": PASSWORD}
    )
    assert challenge.status_code == 200, challenge.text
    clock.advance(timedelta(seconds=30))
    session = await client.post(
        "/v1/staff/auth/sign-in/second-factor",
        json={
            "challenge_token": challenge.json()["challenge_token"],
            "code": pyotp.TOTP(member.secret).at(clock.now()),
        },
    )
    assert session.status_code == 200, session.text
    token: str = session.json()["access_token"]
    return token


async def audit_of(db: Database, object_id: str) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT action, outcome, actor_id, before, after FROM audit_events"
            " WHERE object_id = %s ORDER BY seq",
            (object_id,),
        )
        return await cursor.fetchall()


async def test_sign_in_takes_a_password_and_a_code(
    app: Any, make_member: MakeMember, clock: OffsetClock, db: Database
) -> None:
    member = await make_member(("support",))
    async with client_for(app) as anonymous:
        token = await sign_in(anonymous, member, clock)

    async with client_for(app, token) as staff:
        me = await staff.get("/v1/staff/me")

    assert me.status_code == 200
    assert me.json()["id"] == member.id
    assert me.json()["roles"] == ["support"]
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'staff.sign_in'"
            " AND actor_id = %s",
            (member.id,),
        )
        row = await cursor.fetchone()
    assert row is not None
    assert row["n"] == 1


async def test_wrong_and_unknown_accounts_answer_alike(app: Any, make_member: MakeMember) -> None:
    member = await make_member()
    async with client_for(app) as client:
        wrong = await client.post(
            "/v1/staff/auth/sign-in",
            json={"email": member.email, "password": "not the password at all"},
        )
        unknown = await client.post(
            "/v1/staff/auth/sign-in",
            json={"email": "nobody@staff.example.com", "password": PASSWORD},
        )

    assert wrong.status_code == unknown.status_code == 401
    assert problem_code(wrong) == problem_code(unknown) == "invalid_credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_a_wrong_code_keeps_the_challenge_and_a_used_code_is_refused(
    app: Any, make_member: MakeMember, clock: OffsetClock
) -> None:
    member = await make_member()
    async with client_for(app) as client:
        challenge = (
            await client.post(
                "/v1/staff/auth/sign-in", json={"email": member.email, "password": PASSWORD}
            )
        ).json()["challenge_token"]
        wrong = await client.post(
            "/v1/staff/auth/sign-in/second-factor",
            json={"challenge_token": challenge, "code": "000000"},
        )
        clock.advance(timedelta(seconds=30))
        code = pyotp.TOTP(member.secret).at(clock.now())
        right = await client.post(
            "/v1/staff/auth/sign-in/second-factor",
            json={"challenge_token": challenge, "code": code},
        )
        again = await client.post(
            "/v1/staff/auth/sign-in/second-factor",
            json={"challenge_token": challenge, "code": code},
        )
        second_challenge = (
            await client.post(
                "/v1/staff/auth/sign-in", json={"email": member.email, "password": PASSWORD}
            )
        ).json()["challenge_token"]
        replay = await client.post(
            "/v1/staff/auth/sign-in/second-factor",
            json={"challenge_token": second_challenge, "code": code},
        )

    assert problem_code(wrong) == "invalid_second_factor"
    assert right.status_code == 200, right.text
    assert problem_code(again) == "invalid_token"
    assert problem_code(replay) == "code_already_used"


async def test_wrong_codes_lock_the_member_out(
    app: Any, make_member: MakeMember, clock: OffsetClock
) -> None:
    member = await make_member()
    async with client_for(app) as client:
        challenge = (
            await client.post(
                "/v1/staff/auth/sign-in", json={"email": member.email, "password": PASSWORD}
            )
        ).json()["challenge_token"]
        for _ in range(5):
            await client.post(
                "/v1/staff/auth/sign-in/second-factor",
                json={"challenge_token": challenge, "code": "000000"},
            )
        locked = await client.post(
            "/v1/staff/auth/sign-in/second-factor",
            json={
                "challenge_token": challenge,
                "code": pyotp.TOTP(member.secret).at(clock.now()),
            },
        )

    assert locked.status_code == 429
    assert "Retry-After" in locked.headers


async def test_wrong_passwords_lock_the_account(app: Any, make_member: MakeMember) -> None:
    member = await make_member()
    async with client_for(app) as client:
        for _ in range(5):
            await client.post(
                "/v1/staff/auth/sign-in",
                json={"email": member.email, "password": "not the password at all"},
            )
    async with client_for(app) as other_address:
        locked = await other_address.post(
            "/v1/staff/auth/sign-in", json={"email": member.email, "password": PASSWORD}
        )

    assert locked.status_code == 429


async def test_an_admin_creates_a_member_who_enrols_by_link(
    app: Any, app_client: AsyncClient, clock: OffsetClock, db: Database
) -> None:
    email = f"new.{clock.now().timestamp():.0f}.{id(clock)}@staff.example.com"
    created = await app_client.post(
        "/v1/staff/members",
        json={"email": email, "display_name": "Nia New", "roles": ["compliance"]},
    )
    assert created.status_code == 201, created.text
    member = created.json()
    token = member["enrolment_url"].rpartition("token=")[2]

    async with client_for(app) as client:
        before = await client.post(
            "/v1/staff/auth/sign-in", json={"email": email, "password": PASSWORD}
        )
        assert problem_code(before) == "invalid_credentials"  # no password, no authenticator
        started = await client.post("/v1/staff/enrolment/totp", json={"token": token})
        assert started.status_code == 200, started.text
        secret = started.json()["secret"]
        finished = await client.post(
            "/v1/staff/enrolment",
            json={
                "token": token,
                "password": PASSWORD,
                "code": pyotp.TOTP(secret).at(clock.now(), counter_offset=-1),
            },
        )
        assert finished.status_code == 200, finished.text
        assert len(finished.json()["recovery_codes"]) == 10
        reused = await client.post("/v1/staff/enrolment/totp", json={"token": token})
        assert problem_code(reused) == "invalid_token"
        await sign_in(client, Member(member["id"], email, secret), clock)

    actions = [event["action"] for event in await audit_of(db, member["id"])]
    assert actions[:1] == ["staff.created"]
    assert "staff.enrolled" in actions


async def test_losing_the_admin_role_takes_effect_on_the_next_request(
    app: Any, app_client: AsyncClient, make_member: MakeMember, clock: OffsetClock, db: Database
) -> None:
    member = await make_member(("admin",))
    async with client_for(app) as anonymous:
        token = await sign_in(anonymous, member, clock)

    async with client_for(app, token) as staff:
        assert (await staff.get("/v1/ledger/accounts")).status_code == 200
        changed = await app_client.patch(
            f"/v1/staff/members/{member.id}", json={"roles": ["support"]}
        )
        assert changed.status_code == 200, changed.text
        refused = await staff.get("/v1/ledger/accounts")

    assert refused.status_code == 403
    assert problem_code(refused) == "permission_denied"
    events = await audit_of(db, member.id)
    change = next(e for e in events if e["action"] == "staff.roles_changed")
    assert change["before"] == {"roles": ["admin"]}
    assert change["after"] == {"roles": ["support"]}


async def test_disabling_a_member_ends_their_sessions(
    app: Any, app_client: AsyncClient, make_member: MakeMember, clock: OffsetClock
) -> None:
    member = await make_member(("operations",))
    async with client_for(app) as anonymous:
        token = await sign_in(anonymous, member, clock)

    disabled = await app_client.patch(f"/v1/staff/members/{member.id}", json={"status": "disabled"})

    assert disabled.status_code == 200
    async with client_for(app, token) as staff:
        assert (await staff.get("/v1/staff/me")).status_code == 401
    async with client_for(app) as anonymous:
        again = await anonymous.post(
            "/v1/staff/auth/sign-in", json={"email": member.email, "password": PASSWORD}
        )
    assert problem_code(again) == "invalid_credentials"


async def test_an_admin_cannot_demote_or_disable_themselves(
    app: Any, make_member: MakeMember, clock: OffsetClock
) -> None:
    member = await make_member(("admin",))
    async with client_for(app) as anonymous:
        token = await sign_in(anonymous, member, clock)

    async with client_for(app, token) as admin:
        demote = await admin.patch(f"/v1/staff/members/{member.id}", json={"roles": ["support"]})
        disable = await admin.patch(f"/v1/staff/members/{member.id}", json={"status": "disabled"})
        me = await admin.get("/v1/staff/me")

    assert problem_code(demote) == "cannot_demote_self"
    assert problem_code(disable) == "cannot_demote_self"
    assert me.json()["roles"] == ["admin"]


async def test_member_management_is_for_admins_only(
    app: Any, make_member: MakeMember, clock: OffsetClock, db: Database, settings: Settings
) -> None:
    member = await make_member(("support", "compliance"))
    async with client_for(app) as anonymous:
        token = await sign_in(anonymous, member, clock)
    _, _, person_token = await new_person(db, settings, clock, aal=2)

    async with client_for(app, token) as support:
        listed = await support.get("/v1/staff/members")
        patched = await support.patch(f"/v1/staff/members/{member.id}", json={"roles": ["admin"]})
    async with client_for(app, person_token) as person:
        as_person = await person.get("/v1/staff/members")

    assert problem_code(listed) == "permission_denied"
    assert problem_code(patched) == "permission_denied"
    assert problem_code(as_person) == "wrong_principal_type"


async def test_admins_list_members_and_unknown_ids_answer_404(
    app_client: AsyncClient, make_member: MakeMember
) -> None:
    member = await make_member()

    listed = await app_client.get("/v1/staff/members", params={"limit": 100})
    missing = await app_client.patch(
        "/v1/staff/members/stf_01J0000000000000000000000", json={"roles": ["support"]}
    )
    bad_role = await app_client.patch(f"/v1/staff/members/{member.id}", json={"roles": ["root"]})

    assert listed.status_code == 200
    assert listed.json()["object"] == "list"
    assert missing.status_code == 404
    assert bad_role.status_code == 422
