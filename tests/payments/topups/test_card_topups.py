"""Card tokens and card top-ups through the API: each published test card, 3-D Secure, the
hold until the processor's capture webhook, and idempotent retries."""

from __future__ import annotations

from typing import Any

import pytest

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.payments.topups.support import (
    INSUFFICIENT_FUNDS,
    PROCESSING_ERROR,
    STOLEN,
    SUCCESS,
    THREE_D_SECURE,
    Person,
    card_token,
    deliver_webhooks,
    eur_balance,
    new_person,
    scalar,
    top_up,
    transaction_status,
)

pytestmark = pytest.mark.usefixtures("ledger_is_clean")


async def test_a_card_is_tokenised_to_brand_last4_and_expiry(person: Person) -> None:
    response = await person.client.post(
        "/v1/payments/card-tokens",
        json={"number": "4242 4242 4242 4242", "exp_month": 7, "exp_year": 2031, "cvc": "314"},
    )
    assert response.status_code == 201
    card = response.json()
    assert card["id"].startswith("ctok_")
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == (
        "visa", "4242", 7, 2031
    )  # fmt: skip
    assert set(card) == {"object", "id", "brand", "last4", "exp_month", "exp_year", "created_at"}


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"number": "4242424242424241"}, "card_number_invalid"),  # fails the Luhn check
        ({"number": "42424242"}, "card_number_invalid"),  # too short
        ({"number": "4242-abcd-4242-4242"}, "card_number_invalid"),
        ({"exp_month": 1, "exp_year": 2020}, "card_expired"),
        ({"cvc": "12"}, "cvc_invalid"),
        ({"number": "378282246310005", "cvc": "123"}, "cvc_invalid"),  # amex needs 4 digits
        ({"exp_month": 13}, "validation_error"),
    ],
)
async def test_invalid_card_details_are_refused_and_nothing_is_stored(
    person: Person, db: Database, overrides: dict[str, Any], code: str
) -> None:
    body = {"number": SUCCESS, "exp_month": 12, "exp_year": 2099, "cvc": "123", **overrides}
    response = await person.client.post("/v1/payments/card-tokens", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    stored = await scalar(
        db, "SELECT count(*) FROM payment_cards WHERE user_id = %s", person.user_id
    )
    assert stored == 0


async def test_an_approved_card_holds_the_money_until_the_capture_webhook(
    app: Any, person: Person, db: Database
) -> None:
    created = await top_up(person, await card_token(person), 10_000)
    assert created.status_code == 201, created.text
    topup = created.json()
    assert topup["status"] == "processing"
    assert topup["hold_transaction_id"] is not None
    assert topup["card"]["last4"] == "4242"
    held = await eur_balance(db, person.user_id)
    assert held is not None
    assert (held.balance, held.available) == (0, 0)

    [receipt] = await deliver_webhooks(app, topup["processor_charge_id"])
    assert receipt.status_code == 200
    assert receipt.json()["result"] == "applied"
    shown = (await person.client.get(f"/v1/payments/card-topups/{topup['id']}")).json()
    assert shown["status"] == "completed"
    assert shown["captured_amount"] == 10_000
    assert shown["capture_transaction_id"] is not None
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert (balance.balance, balance.available) == (10_000, 10_000)


@pytest.mark.parametrize(
    ("number", "code"),
    [
        (INSUFFICIENT_FUNDS, "insufficient_funds"),
        (STOLEN, "stolen_card"),
        (PROCESSING_ERROR, "processing_error"),
    ],
)
async def test_declined_and_failed_cards_fail_without_a_hold(
    app: Any, person: Person, db: Database, number: str, code: str
) -> None:
    created = await top_up(person, await card_token(person, number), 5_000)
    assert created.status_code == 201
    topup = created.json()
    assert topup["status"] == "failed"
    assert topup["failure_code"] == code
    assert topup["failure_message"]
    assert topup["hold_transaction_id"] is None
    balance = await eur_balance(db, person.user_id)
    assert balance is None or balance.balance == 0
    # The processor's own failure event changes nothing more.
    receipts = await deliver_webhooks(app, topup["processor_charge_id"])
    assert [r.json()["result"] for r in receipts] == ["ignored"]
    again = (await person.client.get(f"/v1/payments/card-topups/{topup['id']}")).json()
    assert again["status"] == "failed"


async def test_three_d_secure_approved_completes_after_the_webhook(
    app: Any, person: Person, db: Database
) -> None:
    created = (await top_up(person, await card_token(person, THREE_D_SECURE), 2_500)).json()
    assert created["status"] == "requires_action"
    redirect = created["next_action"]["redirect_url"]
    assert redirect.endswith(f"/v1/payments/card-topups/{created['id']}/3ds-challenge")
    page = await person.client.get(redirect)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "Approve" in page.text
    assert "3220" in page.text

    approved = await person.client.post(redirect, json={"outcome": "approve"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "processing"
    assert approved.json()["next_action"] is None
    await deliver_webhooks(app, created["processor_charge_id"])
    shown = (await person.client.get(f"/v1/payments/card-topups/{created['id']}")).json()
    assert shown["status"] == "completed"
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.available == 2_500

    again = await person.client.post(redirect, json={"outcome": "approve"})
    assert again.status_code == 409
    assert again.json()["code"] == "payment_state_conflict"


async def test_three_d_secure_denied_fails_and_releases_the_hold(
    app: Any, person: Person, db: Database, clock: OffsetClock
) -> None:
    created = (await top_up(person, await card_token(person, THREE_D_SECURE), 2_500)).json()
    denied = await person.client.post(
        f"/v1/payments/card-topups/{created['id']}/3ds-challenge", json={"outcome": "deny"}
    )
    assert denied.status_code == 200
    assert denied.json()["status"] == "failed"
    assert denied.json()["failure_code"] == "authentication_failed"
    hold = await transaction_status(db, clock, created["hold_transaction_id"])
    assert hold == "voided"
    receipts = await deliver_webhooks(app, created["processor_charge_id"])
    assert [r.json()["result"] for r in receipts] == ["ignored"]
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert (balance.balance, balance.available) == (0, 0)


async def test_a_retried_top_up_charges_once(app: Any, person: Person, db: Database) -> None:
    token = await card_token(person)
    first = await top_up(person, token, 7_000, key="topup-1")
    second = await top_up(person, token, 7_000, key="topup-1")
    assert first.status_code == second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["id"] == second.json()["id"]
    charges = await scalar(
        db,
        "SELECT count(*) FROM card_sandbox_charges WHERE metadata->>'wallet_id' = %s",
        first.json()["wallet_id"],
    )
    assert charges == 1
    await deliver_webhooks(app, first.json()["processor_charge_id"])
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.balance == 7_000
    other = await top_up(person, token, 8_000, key="topup-1")
    assert other.status_code == 422  # the same key with another body


async def test_another_persons_top_up_and_card_answer_404(
    app: Any, person: Person, db: Database, clock: OffsetClock
) -> None:
    token = await card_token(person)
    topup = (await top_up(person, token, 1_000)).json()
    stranger = await new_person(app, db, clock)
    async with stranger.client:
        seen = await stranger.client.get(f"/v1/payments/card-topups/{topup['id']}")
        assert seen.status_code == 404
        used = await top_up(stranger, token, 1_000)
        assert used.status_code == 404
        assert used.json()["code"] == "card_token_not_found"
        refund = await stranger.client.post(
            f"/v1/payments/card-topups/{topup['id']}/refunds", json={}
        )
        assert refund.status_code == 404
