"""Payment requests through the API: addressed and open, paid once, canceled, expired."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import zxingcpp
from PIL import Image

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.payments.transfers.qr import crc16, emvco_payload, finhub_fields, parse_emvco
from tests.payments.transfers.conftest import MakePerson, Person, balance, scalar

REQUESTS = "/v1/payment-requests"


async def ask(
    requester: Person, amount: int, payer: Person | None = None, **extra: object
) -> dict[str, Any]:
    body: dict[str, object] = {"amount": amount, "currency": "EUR", "note": "concert tickets"}
    if payer is not None:
        body["from"] = {"email": payer.email}
    response = await requester.post(REQUESTS, {**body, **extra})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_an_addressed_request_is_paid_once(
    make_person: MakePerson, db: Database, clock: OffsetClock, ledger: LedgerService
) -> None:
    alice = await make_person(display_name="Alice")
    bob = await make_person(funded=10_000, display_name="Bob")
    created = await ask(alice, 4_000, bob)
    assert created["status"] == "open"
    assert created["role"] == "requester"
    assert created["payer"] == {"wallet_id": bob.wallet.id, "name": "Bob"}
    assert created["token"]
    assert created["qr_payload"]
    expires_at = datetime.fromisoformat(created["expires_at"])
    assert abs(expires_at - (clock.now() + timedelta(days=7))) < timedelta(minutes=1)
    # Bob was told in his inbox, and his webhooks get the event.
    title = await scalar(
        db, "SELECT title FROM notifications WHERE user_id = %s AND kind = %s",
        bob.user_id, "payment_request.created",
    )  # fmt: skip
    assert title == "Alice asks you for 40.00 EUR"
    assert await scalar(
        db, "SELECT count(*) FROM outbox_events WHERE type = 'payment_request.created'"
        " AND owner = %s AND data->>'id' = %s", f"user:{bob.user_id}", created["id"],
    ) == 1  # fmt: skip

    seen = (await bob.client.get(f"{REQUESTS}/{created['id']}")).json()
    assert seen["role"] == "payer"
    assert "token" not in seen  # the share token is the requester's
    paid = await bob.post(f"{REQUESTS}/{created['id']}/pay", {}, key="pay-once")
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "paid"
    payment = paid.json()["payment"]
    assert payment["kind"] == "request_payment"
    assert payment["metadata"]["payment_request_id"] == created["id"]
    replay = await bob.post(f"{REQUESTS}/{created['id']}/pay", {}, key="pay-once")
    assert replay.json()["payment"]["id"] == payment["id"]
    twice = await bob.post(f"{REQUESTS}/{created['id']}/pay", {})
    assert twice.status_code == 409
    assert twice.json()["code"] == "payment_request_paid"
    assert await balance(db, alice.wallet) == 4_000
    assert await balance(db, bob.wallet) == 6_000
    listed = (await alice.client.get(REQUESTS, params={"status": "paid", "role": "sent"})).json()
    assert [r["id"] for r in listed["data"]] == [created["id"]]
    assert listed["data"][0]["payment_id"] == payment["id"]
    async with db.connection() as conn:
        assert (await ledger.verify(conn)).ok


async def test_only_the_addressee_pays_and_only_the_requester_cancels(
    make_person: MakePerson, db: Database
) -> None:
    alice = await make_person()
    bob = await make_person(funded=1_000)
    carol = await make_person(funded=1_000)
    created = await ask(alice, 100, bob)
    path = f"{REQUESTS}/{created['id']}"
    for attempt in (carol.client.get(path), carol.post(f"{path}/pay", {}),
                    carol.post(f"{path}/cancel", {}),
                    carol.post(f"{REQUESTS}/pay-by-token", {"token": created["token"]}),
                    carol.client.get(f"{path}/qr.png")):  # fmt: skip
        response = await attempt
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "payment_request_not_found"
    own = await alice.post(f"{path}/pay", {})
    assert (own.status_code, own.json()["code"]) == (422, "self_payment")
    refused = await bob.post(f"{path}/cancel", {})
    assert (refused.status_code, refused.json()["code"]) == (403, "not_requester")
    canceled = await alice.post(f"{path}/cancel", {})
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    late = await bob.post(f"{path}/pay", {})
    assert (late.status_code, late.json()["code"]) == (409, "payment_request_closed")
    assert await balance(db, bob.wallet) == 1_000


async def test_an_open_request_is_paid_through_its_link_once(
    make_person: MakePerson, db: Database
) -> None:
    alice = await make_person()
    bob = await make_person(funded=1_000)
    carol = await make_person(funded=1_000)
    created = await ask(alice, 250)
    assert created["payer"] is None
    assert created["link"].endswith("#" + created["token"])
    # Nobody but Alice can see an open request by its id.
    assert (await bob.client.get(f"{REQUESTS}/{created['id']}")).status_code == 404
    paid = await bob.post(f"{REQUESTS}/pay-by-token", {"token": created["token"]})
    assert paid.status_code == 201, paid.text
    assert paid.json()["payer"]["wallet_id"] == bob.wallet.id
    second = await carol.post(f"{REQUESTS}/pay-by-token", {"token": created["token"]})
    assert (second.status_code, second.json()["code"]) == (409, "payment_request_paid")
    unknown = await carol.post(f"{REQUESTS}/pay-by-token", {"token": "x" * 32})
    assert unknown.status_code == 404
    assert await balance(db, alice.wallet) == 250
    assert await balance(db, carol.wallet) == 1_000


async def test_requests_expire(make_person: MakePerson, clock: OffsetClock) -> None:
    alice = await make_person()
    bob = await make_person(funded=1_000)
    soon = (clock.now() + timedelta(hours=1)).isoformat()
    created = await ask(alice, 100, bob, expires_at=soon)
    clock.advance(timedelta(hours=2))
    seen = (await bob.client.get(f"{REQUESTS}/{created['id']}")).json()
    assert seen["status"] == "expired"
    expired = (await alice.client.get(REQUESTS, params={"status": "expired"})).json()
    assert [r["id"] for r in expired["data"]] == [created["id"]]
    assert (await alice.client.get(REQUESTS, params={"status": "open"})).json()["data"] == []
    late = await bob.post(f"{REQUESTS}/{created['id']}/pay", {})
    assert (late.status_code, late.json()["code"]) == (409, "payment_request_closed")
    past = await alice.post(
        REQUESTS, {"amount": 1, "currency": "EUR", "expires_at": "2000-01-01T00:00:00Z"}
    )
    assert (past.status_code, past.json()["code"]) == (422, "invalid_expiry")


async def test_listing_pages_through_sent_and_received(make_person: MakePerson) -> None:
    alice = await make_person()
    bob = await make_person()
    ids = [(await ask(alice, n + 1, bob))["id"] for n in range(3)]
    ids.append((await ask(bob, 9, alice))["id"])
    first = (await alice.client.get(REQUESTS, params={"limit": 2})).json()
    assert first["has_more"] is True
    rest = (
        await alice.client.get(
            REQUESTS, params={"limit": 2, "starting_after": first["next_starting_after"]}
        )
    ).json()
    assert [r["id"] for r in first["data"] + rest["data"]] == ids[::-1]
    received = (await alice.client.get(REQUESTS, params={"role": "received"})).json()
    assert [r["id"] for r in received["data"]] == [ids[3]]


async def test_requesting_from_an_unknown_person_or_yourself(make_person: MakePerson) -> None:
    alice = await make_person()
    unknown = await alice.post(
        REQUESTS, {"amount": 1, "currency": "EUR", "from": {"email": "nobody@example.com"}}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "recipient_not_found")
    own = await alice.post(
        REQUESTS, {"amount": 1, "currency": "EUR", "from": {"wallet_id": alice.wallet.id}}
    )
    assert (own.status_code, own.json()["code"]) == (422, "self_payment")


async def test_the_request_qr_scans_and_pays_in_one_call(
    make_person: MakePerson, db: Database
) -> None:
    alice = await make_person(display_name="Alice's Bakery")
    bob = await make_person(funded=5_000)
    created = await ask(alice, 1_999)
    image = await alice.client.get(f"{REQUESTS}/{created['id']}/qr.png")
    assert image.headers["content-type"] == "image/png"
    [barcode] = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.content)))
    assert barcode.text == created["qr_payload"]
    fields = finhub_fields(parse_emvco(barcode.text))
    assert (fields.amount, fields.currency, fields.token) == (1_999, "EUR", created["token"])
    svg = await alice.client.get(f"{REQUESTS}/{created['id']}/qr.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in svg.content

    wrong = await bob.post("/v1/payments/qr", {"payload": barcode.text, "amount": 1})
    assert (wrong.status_code, wrong.json()["code"]) == (422, "qr_amount_mismatch")
    # A code re-made with a smaller amount (its CRC recomputed) doesn't pay the request.
    forged = emvco_payload(replace(fields, amount=1))
    refused = await bob.post("/v1/payments/qr", {"payload": forged})
    assert (refused.status_code, refused.json()["code"]) == (422, "qr_amount_mismatch")
    paid = await bob.post("/v1/payments/qr", {"payload": barcode.text}, key="scan-1")
    assert paid.status_code == 201, paid.text
    assert paid.json()["metadata"]["payment_request_id"] == created["id"]
    again = await bob.post("/v1/payments/qr", {"payload": barcode.text})
    assert (again.status_code, again.json()["code"]) == (409, "payment_request_paid")
    assert await balance(db, alice.wallet) == 1_999


async def test_the_static_qr_pays_whatever_amount_the_payer_sends(
    make_person: MakePerson, db: Database
) -> None:
    shop = await make_person(display_name="Corner Shop")
    bob = await make_person(funded=5_000)
    image = await shop.client.get("/v1/payments/static-qr.png", params={"currency": "EUR"})
    [barcode] = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.content)))
    described = (await shop.client.get("/v1/payments/static-qr")).json()
    assert described["payload"] == barcode.text
    parsed = parse_emvco(barcode.text)
    assert (parsed["initiation"], parsed["merchant_name"]) == ("static", "Corner Shop")
    svg = await shop.client.get("/v1/payments/static-qr.svg")
    assert b"<svg" in svg.content

    missing = await bob.post("/v1/payments/qr", {"payload": barcode.text})
    assert (missing.status_code, missing.json()["code"]) == (422, "amount_required")
    paid = await bob.post("/v1/payments/qr", {"payload": barcode.text, "amount": 350})
    assert paid.status_code == 201, paid.text
    assert paid.json()["metadata"]["via"] == "qr"
    corrupted = barcode.text[:-1] + ("0" if barcode.text[-1] != "0" else "1")
    bad = await bob.post("/v1/payments/qr", {"payload": corrupted, "amount": 350})
    assert (bad.status_code, bad.json()["code"]) == (422, "qr_invalid")
    assert await balance(db, shop.wallet) == 350
    assert await balance(db, bob.wallet) == 4_650


async def test_the_addressee_may_pay_by_link_too_and_closed_links_refuse(
    make_person: MakePerson, db: Database
) -> None:
    alice = await make_person()
    phone = "+3361" + str(uuid4().int)[:8]
    bob = await make_person(funded=1_000, phone=phone)
    addressed = await alice.post(
        REQUESTS, {"amount": 10, "currency": "EUR", "from": {"phone": phone}}
    )
    assert addressed.status_code == 201, addressed.text
    token = addressed.json()["token"]
    paid = await bob.post(f"{REQUESTS}/pay-by-token", {"token": token})
    assert paid.status_code == 201, paid.text

    open_link = await ask(alice, 20)
    assert (await alice.post(f"{REQUESTS}/{open_link['id']}/cancel", {})).status_code == 200
    canceled = (await alice.client.get(REQUESTS, params={"status": "canceled"})).json()
    assert open_link["id"] in [r["id"] for r in canceled["data"]]
    late = await bob.post(f"{REQUESTS}/pay-by-token", {"token": open_link["token"]})
    assert (late.status_code, late.json()["code"]) == (409, "payment_request_closed")
    scanned = await bob.post("/v1/payments/qr", {"payload": open_link["qr_payload"]})
    assert (scanned.status_code, scanned.json()["code"]) == (409, "payment_request_closed")
    again = await alice.post(f"{REQUESTS}/{open_link['id']}/cancel", {})
    assert (again.status_code, again.json()["code"]) == (409, "payment_request_closed")
    assert await balance(db, bob.wallet) == 990


async def test_a_qr_of_another_scheme_is_refused(make_person: MakePerson) -> None:
    bob = await make_person(funded=1_000)
    body = "00020101021129370016A000000677010111011300668123456785802TH5303764" + "6304"
    promptpay = body + crc16(body.encode())
    response = await bob.post("/v1/payments/qr", {"payload": promptpay, "amount": 100})
    assert (response.status_code, response.json()["code"]) == (422, "qr_invalid")


async def test_people_racing_for_one_link_pay_it_once(
    make_person: MakePerson, db: Database, ledger: LedgerService
) -> None:
    alice = await make_person()
    payers = [await make_person(funded=1_000) for _ in range(6)]
    created = await ask(alice, 300)
    responses = await asyncio.gather(
        *(p.post(f"{REQUESTS}/pay-by-token", {"token": created["token"]}) for p in payers)
    )
    codes = sorted((r.status_code, r.json().get("code")) for r in responses)
    assert codes == [(201, None)] + [(409, "payment_request_paid")] * 5
    assert await balance(db, alice.wallet) == 300
    assert sum([await balance(db, p.wallet) for p in payers]) == 6 * 1_000 - 300
    async with db.connection() as conn:
        assert (await ledger.verify(conn)).ok
