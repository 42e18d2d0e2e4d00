"""P2P transfers through the API: by email, phone and wallet id, and every way they fail."""

from __future__ import annotations

import random
from typing import Any
from uuid import uuid4

from httpx import ASGITransport, AsyncClient

from finhub.audit.service import AuditContext
from finhub.identity.api_keys.models import NewKey
from finhub.identity.api_keys.service import create_key
from finhub.identity.principal import Principal
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.wallets import service as wallets
from tests.factories import create_user
from tests.payments.transfers.conftest import MakePerson, balance, scalar

P2P = "/v1/payments/p2p"
HANDLE = "/v1/payments/handle"


def random_phone() -> str:
    return "+4479" + "".join(random.choice("0123456789") for _ in range(8))


async def test_pay_by_email_moves_money_and_both_see_it(
    make_person: MakePerson, db: Database, ledger: LedgerService
) -> None:
    alice = await make_person(funded=10_000, display_name="Alice Liddell")
    bob = await make_person(display_name="")
    response = await alice.post(
        P2P, {"to": {"email": bob.email.upper()}, "amount": 2_550, "currency": "EUR",
              "note": "dinner"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["object"] == "payment"
    assert payment["status"] == "completed"
    assert payment["kind"] == "p2p"
    assert (payment["amount"], payment["fee"], payment["note"]) == (2_550, 0, "dinner")
    assert payment["counterparty_wallet_id"] == bob.wallet.id
    assert await balance(db, alice.wallet) == 7_450
    assert await balance(db, bob.wallet) == 2_550

    rows = await _activity(db, payment["id"])
    assert rows[alice.wallet.id]["direction"] == "out"
    # Bob has no display name: Alice sees his email masked; he sees her name.
    masked = bob.email[0] + "***@example.com"
    assert rows[alice.wallet.id]["counterparty"] == masked
    assert rows[bob.wallet.id] | {} == {
        **rows[bob.wallet.id], "direction": "in", "counterparty": "Alice Liddell",
        "note": "dinner", "status": "completed",
    }  # fmt: skip
    owners = await scalar(
        db,
        "SELECT array_agg(owner ORDER BY owner) FROM outbox_events WHERE data->>'id' = %s"
        " AND type = 'payment.completed'",
        payment["id"],
    )
    assert owners == sorted([f"user:{alice.user_id}", f"user:{bob.user_id}"])
    async with db.connection() as conn:
        assert (await ledger.verify(conn)).ok


async def _activity(db: Database, payment_id: str) -> dict[str, dict[str, object]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT wallet_id, direction, counterparty, note, status FROM wallet_activity"
            " WHERE payment_id = %s",
            (payment_id,),
        )
        return {row.pop("wallet_id"): row for row in [dict(r) for r in await cursor.fetchall()]}


async def test_pay_by_phone_and_by_wallet_id(make_person: MakePerson, db: Database) -> None:
    alice = await make_person(funded=1_000)
    phone = random_phone()
    bob = await make_person(phone=phone)
    by_phone = await alice.post(P2P, {"to": {"phone": phone}, "amount": 100, "currency": "EUR"})
    assert by_phone.status_code == 201, by_phone.text
    by_wallet = await alice.post(
        P2P, {"to": {"wallet_id": bob.wallet.id}, "amount": 200, "currency": "EUR"}
    )
    assert by_wallet.status_code == 201, by_wallet.text
    assert by_wallet.json()["metadata"]["recipient_by"] == "wallet_id"
    assert await balance(db, bob.wallet) == 300


async def test_a_phone_shared_by_two_people_finds_no_one(make_person: MakePerson) -> None:
    alice = await make_person(funded=1_000)
    phone = random_phone()
    await make_person(phone=phone)
    await make_person(phone=phone)
    response = await alice.post(P2P, {"to": {"phone": phone}, "amount": 1, "currency": "EUR"})
    assert response.status_code == 404
    assert response.json()["code"] == "recipient_not_found"


async def test_first_payment_in_a_currency_opens_the_recipients_balance(
    make_person: MakePerson, db: Database
) -> None:
    alice = await make_person(funded=5_000, currency="JPY")
    bob = await make_person()
    response = await alice.post(
        P2P, {"to": {"email": bob.email}, "amount": 1_200, "currency": "JPY"}
    )
    assert response.status_code == 201, response.text
    assert await balance(db, bob.wallet, "JPY") == 1_200


async def test_unknown_recipient_is_404_and_lookups_are_throttled(
    make_person: MakePerson, db: Database
) -> None:
    alice = await make_person(funded=1_000)
    unverified = await make_person()
    await _set_status(db, unverified.user_id, "pending_verification")
    first = await alice.post(
        P2P, {"to": {"email": unverified.email}, "amount": 1, "currency": "EUR"}
    )
    assert first.status_code == 404
    assert first.json()["code"] == "recipient_not_found"
    codes = []
    for n in range(10):
        response = await alice.post(
            P2P, {"to": {"email": f"nobody-{n}@example.com"}, "amount": 1, "currency": "EUR"}
        )
        codes.append(response.status_code)
    assert codes[:9] == [404] * 9
    assert codes[9] == 429
    assert int(response.headers["Retry-After"]) > 0
    # Paying by wallet id isn't a lookup of a person's address: it isn't throttled.
    bob = await make_person()
    ok = await alice.post(P2P, {"to": {"wallet_id": bob.wallet.id}, "amount": 1, "currency": "EUR"})
    assert ok.status_code == 201
    assert await balance(db, alice.wallet) == 999


async def _set_status(db: Database, user_id: str, status: str) -> None:
    async with db.transaction() as conn:
        await conn.execute("UPDATE users SET status = %s WHERE id = %s", (status, user_id))


async def test_refusals_change_nothing(make_person: MakePerson, db: Database) -> None:
    alice = await make_person(funded=500)
    bob = await make_person()
    cases = [
        ({"to": {"email": alice.email}, "amount": 1, "currency": "EUR"}, 422, "self_payment"),
        ({"to": {"username": "@no_such_handle_x"}, "amount": 1, "currency": "EUR"}, 404,
         "recipient_not_found"),
        ({"to": {"email": bob.email}, "amount": 501, "currency": "EUR"}, 422,
         "insufficient_funds"),
        ({"to": {"email": bob.email}, "amount": 1, "currency": "USD"}, 422,
         "insufficient_funds"),
        ({"to": {"email": bob.email}, "amount": 1, "currency": "XAU"}, 422,
         "unsupported_currency"),
        ({"to": {"wallet_id": "wal_01JNOSUCHWALLET0000000000"}, "amount": 1, "currency": "EUR"},
         404, "recipient_not_found"),
    ]  # fmt: skip
    for body, status, code in cases:
        response = await alice.post(P2P, body)
        assert (response.status_code, response.json()["code"]) == (status, code), body
    invalid = [
        {"to": {"email": bob.email, "wallet_id": bob.wallet.id}, "amount": 1, "currency": "EUR"},
        {"to": {}, "amount": 1, "currency": "EUR"},
        {"to": {"email": bob.email}, "amount": 0, "currency": "EUR"},
        {"to": {"email": bob.email}, "amount": 1, "currency": "eur"},
        {"to": {"email": bob.email}, "amount": 1, "currency": "EUR", "extra": 1},
    ]
    for body in invalid:
        assert (await alice.post(P2P, body)).status_code == 422, body
    assert await balance(db, alice.wallet) == 500
    assert await balance(db, bob.wallet) == 0
    assert (
        await scalar(db, "SELECT count(*) FROM payments WHERE wallet_id = %s", alice.wallet.id) == 0
    )


async def test_a_closed_recipient_wallet_is_refused(
    make_person: MakePerson, db: Database, ledger: LedgerService
) -> None:
    alice = await make_person(funded=500)
    bob = await make_person()
    async with db.transaction() as conn:
        await wallets.close_wallet(conn, ledger, bob.wallet)
    response = await alice.post(P2P, {"to": {"email": bob.email}, "amount": 1, "currency": "EUR"})
    assert response.status_code == 409
    assert response.json()["code"] == "recipient_wallet_closed"
    assert await balance(db, alice.wallet) == 500
    # Bob still reads his requests; his wallet can no longer be paid or pay.
    assert (await bob.client.get("/v1/payment-requests")).status_code == 200
    qr = await bob.client.get("/v1/payments/static-qr.png")
    assert (qr.status_code, qr.json()["code"]) == (409, "wallet_closed")
    sent = await bob.post(P2P, {"to": {"email": alice.email}, "amount": 1, "currency": "EUR"})
    assert (sent.status_code, sent.json()["code"]) == (409, "wallet_closed")


async def test_a_retried_request_pays_once(make_person: MakePerson, db: Database) -> None:
    alice = await make_person(funded=1_000)
    bob = await make_person()
    body = {"to": {"email": bob.email}, "amount": 300, "currency": "EUR"}
    first = await alice.post(P2P, body, key="lunch-1")
    again = await alice.post(P2P, body, key="lunch-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = await alice.post(P2P, {**body, "amount": 301}, key="lunch-1")
    assert other.status_code == 422
    assert await balance(db, bob.wallet) == 300


async def test_personal_api_keys_need_the_payments_write_scope(
    make_person: MakePerson, db: Database, clock: OffsetClock, app: Any
) -> None:
    alice = await make_person(funded=100)
    bob = await make_person()
    body = {"to": {"wallet_id": bob.wallet.id}, "amount": 10, "currency": "EUR"}
    for scopes, status in ((["payments:read"], 403), (["payments:write"], 201)):
        secret = await _api_key(db, clock, alice.user_id, scopes)
        async with AsyncClient(
            transport=ASGITransport(app=app),
            base_url="http://finhub.test",
            headers={"Authorization": f"Bearer {secret}"},
        ) as client:
            response = await client.post(P2P, json=body)
        assert response.status_code == status, response.text
    assert await balance(db, bob.wallet) == 10


async def _api_key(db: Database, clock: OffsetClock, user_id: str, scopes: list[str]) -> str:
    async with db.transaction() as conn:
        issued = await create_key(
            conn,
            AuditContext.system("test"),
            Principal(kind="user", id=user_id, user_id=user_id),
            NewKey(name="p2p test", mode="test", scopes=scopes),
            now=clock.now(),
        )
    return issued.secret


async def test_the_fee_is_a_leg_of_the_same_transaction_and_limits_apply(
    make_person: MakePerson, db: Database, ledger: LedgerService, clock: OffsetClock
) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            """
            INSERT INTO fee_schedules (operation, currency, fixed, updated_at)
            VALUES ('p2p', 'CHF', 25, %s)
            ON CONFLICT (operation, currency) DO UPDATE SET fixed = 25, percent_bps = 0
            """,
            (clock.now(),),
        )
    alice = await make_person(funded=100_000, currency="CHF")
    bob = await make_person()
    response = await alice.post(
        P2P, {"to": {"email": bob.email}, "amount": 1_000, "currency": "CHF"}
    )
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["fee"] == 25
    assert await balance(db, alice.wallet, "CHF") == 100_000 - 1_025
    assert await balance(db, bob.wallet, "CHF") == 1_000
    legs = await scalar(
        db,
        "SELECT count(*) FROM ledger_entries WHERE transaction_id = %s",
        payment["ledger_transaction_id"],
    )
    assert legs == 3
    # The basic tier sends at most 1 000 EUR (or its CHF equivalent) in one payment.
    over = await alice.post(P2P, {"to": {"email": bob.email}, "amount": 150_000, "currency": "CHF"})
    assert (over.status_code, over.json()["code"]) == (422, "limit_exceeded")
    assert over.json()["limit"] == "per_payment"
    assert await balance(db, alice.wallet, "CHF") == 100_000 - 1_025
    async with db.connection() as conn:
        assert (await ledger.verify(conn)).ok


async def test_people_take_a_handle_and_get_paid_by_it(
    make_person: MakePerson, db: Database
) -> None:
    alice = await make_person(funded=1_000)
    bob = await make_person()
    handle = f"Bob_{uuid4().hex[:8]}"
    assert (await bob.client.get(HANDLE)).status_code == 404
    taken = await bob.client.put(HANDLE, json={"handle": "@" + handle})
    assert taken.status_code == 200, taken.text
    assert taken.json() == {"object": "wallet_handle", "id": handle.lower(),
                            "handle": handle.lower(), "wallet_id": bob.wallet.id}  # fmt: skip
    assert (await bob.client.get(HANDLE)).json()["handle"] == handle.lower()

    paid = await alice.post(
        P2P, {"to": {"username": "@" + handle.upper()}, "amount": 120, "currency": "EUR"}
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["counterparty_wallet_id"] == bob.wallet.id

    clash = await alice.client.put(HANDLE, json={"handle": handle.lower()})
    assert (clash.status_code, clash.json()["code"]) == (409, "handle_taken")
    reserved = await alice.client.put(HANDLE, json={"handle": "support"})
    assert (reserved.status_code, reserved.json()["code"]) == (409, "handle_taken")
    for bad in ("ab", "has space", "x" * 31, "émile"):
        assert (await alice.client.put(HANDLE, json={"handle": bad})).status_code == 422

    assert (await bob.client.delete(HANDLE)).status_code == 204
    assert (await bob.client.delete(HANDLE)).status_code == 404
    gone = await alice.post(P2P, {"to": {"username": handle}, "amount": 1, "currency": "EUR"})
    assert (gone.status_code, gone.json()["code"]) == (404, "recipient_not_found")
    # Freed, the handle can be taken by someone else.
    assert (await alice.client.put(HANDLE, json={"handle": handle})).status_code == 200
    assert await balance(db, bob.wallet) == 120


async def test_paying_someone_without_a_wallet_yet_opens_theirs(
    make_person: MakePerson, db: Database
) -> None:
    alice = await make_person(funded=1_000)
    async with db.transaction() as conn:
        newcomer = await create_user(conn, email=f"new-{uuid4().hex[:10]}@example.com")
    email = await scalar(db, "SELECT email FROM users WHERE id = %s", newcomer)
    response = await alice.post(P2P, {"to": {"email": email}, "amount": 75, "currency": "EUR"})
    assert response.status_code == 201, response.text
    async with db.connection() as conn:
        wallet = await wallets.wallet_for_user(conn, newcomer)
    assert response.json()["counterparty_wallet_id"] == wallet.id
    assert await balance(db, wallet) == 75
