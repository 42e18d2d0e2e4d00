"""Sending money in the browser: the form with recent recipients, the review, the receipt; the
recipient is paid once however often the confirm is sent; errors land on their field and move
no money; a large payment asks for the payment PIN first."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Page, expect

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.web.forms import FormError
from finhub.web.pages.send import recipient_body
from tests.web.conftest import DESKTOP, PHONE, VIEWPORTS, PageFactory, PersonFactory
from tests.web.send_support import activity, balance, inbox_after_payments
from tests.web.shared_support import (
    answer_step_up,
    api,
    api_client,
    check_page,
    csrf_of,
    form_value,
    make_step_up_stale,
    set_pin,
    web_client,
)


async def fill_payment(page: Page, to: str, amount: str, note: str = "") -> None:
    await page.goto("/send")
    await page.locator("#f-recipient").fill(to)
    await page.locator("#f-amount").fill(amount)
    if note:
        await page.get_by_label("Note (optional)").fill(note)
    await page.get_by_role("button", name="Review").click()


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_send_money_to_a_recent_recipient(
    size: str,
    make_person: PersonFactory,
    open_page: PageFactory,
    app: Any,
    db: Database,
    settings: Settings,
    clock: OffsetClock,
) -> None:
    ada = await make_person(display_name="Ada Sender", balances={"EUR": 100_00, "USD": 20_00})
    bob = await make_person(display_name="Bob Receiver")
    await api(
        app,
        ada,
        "POST",
        "/v1/payments/p2p",
        json={"to": {"email": bob.email}, "amount": 1_00, "currency": "EUR"},
    )
    page = await open_page(ada, VIEWPORTS[size])

    await page.goto("/send")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Send money")
    recent = page.get_by_role("button", name="Send to Bob Receiver")
    await expect(recent).to_be_visible()
    await expect(page.locator("select[name=currency] option")).to_have_count(2)
    await check_page(page, f"send-form-{size}")

    await recent.click()
    await expect(page.locator("#f-recipient")).to_have_value(bob.wallet_id)
    await page.locator("#f-amount").fill("12.50")
    await page.get_by_label("Note (optional)").fill("Lunch")
    await page.get_by_role("button", name="Review").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Review your payment")
    await expect(page.locator("dl")).to_contain_text("Bob Receiver")
    await expect(page.locator("dl")).to_contain_text("€12.50")
    await check_page(page, f"send-review-{size}")

    await page.get_by_role("button", name="Send €12.50").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Money sent")
    await expect(page.locator("main")).to_contain_text("Bob Receiver")
    await expect(page.locator(".flash")).to_have_text("Payment sent.")
    await check_page(page, f"send-receipt-{size}")

    assert await balance(app, bob) == 13_50
    assert await balance(app, ada) == 100_00 - 13_50
    received = await activity(app, bob)
    assert received[0]["direction"] == "in"
    assert received[0]["amount"] == 12_50
    assert received[0]["counterparty"] == "Ada Sender"
    assert received[0]["note"] == "Lunch"

    notes = await inbox_after_payments(app, bob, db, settings, clock)
    assert any("12.50" in note["title"] or "12.50" in note["body"] for note in notes), notes


async def test_the_same_confirm_sent_twice_pays_once(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    ada = await make_person(display_name="Ada Twice", balances={"EUR": 50_00})
    bob = await make_person(display_name="Bob Twice")
    page = await open_page(ada, PHONE)
    await fill_payment(page, bob.email, "7")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Review your payment")

    # Two submits of the same confirm form, as a double click on a slow line would send.
    await page.locator("form[action='/send/confirm']").evaluate(
        "form => { form.requestSubmit(); form.requestSubmit(); }"
    )
    await expect(page.get_by_role("heading", level=1)).to_have_text("Money sent")
    await asyncio.sleep(0.5)  # let a queued second submit finish too

    assert await balance(app, bob) == 7_00
    assert await balance(app, ada) == 43_00
    sent = [line for line in await activity(app, ada) if line["direction"] == "out"]
    assert len(sent) == 1


async def test_concurrent_confirms_with_one_key_pay_once(
    make_person: PersonFactory, app: Any
) -> None:
    ada = await make_person(display_name="Ada Racing", balances={"EUR": 50_00})
    bob = await make_person(display_name="Bob Racing")
    async with web_client(app, ada) as web:
        form = await web.get("/send")
        data = {
            "csrf_token": csrf_of(form),
            "idempotency_key": form_value(form, "idempotency_key"),
            "recipient": bob.email,
            "amount": "5",
            "currency": "EUR",
            "note": "",
        }
        answers = await asyncio.gather(*(web.post("/send/confirm", data=data) for _ in range(3)))
    locations = {answer.headers.get("location") for answer in answers}
    assert all(answer.status_code == 303 for answer in answers), [a.text for a in answers]
    assert len(locations) == 1
    assert await balance(app, bob) == 5_00


async def test_insufficient_funds_shows_on_the_amount_and_moves_nothing(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    ada = await make_person(display_name="Ada Short", balances={"EUR": 5_00})
    bob = await make_person(display_name="Bob Short")
    page = await open_page(ada, DESKTOP)
    await fill_payment(page, bob.email, "50")
    await page.get_by_role("button", name="Send €50.00").click()

    amount = page.locator("#f-amount")
    await expect(amount).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#e-amount")).to_contain_text("enough money")
    await expect(amount).to_have_value("50")
    await expect(page.locator("#f-recipient")).to_have_value(bob.email)
    await check_page(page, "send-error-desktop")
    assert await balance(app, ada) == 5_00
    assert await balance(app, bob) == 0


async def test_unknown_and_own_addresses_show_on_the_recipient(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    ada = await make_person(display_name="Ada Lost", balances={"EUR": 10_00})
    page = await open_page(ada, PHONE)
    await fill_payment(page, "nobody-here@example.org", "1")
    await page.get_by_role("button", name="Send €1.00").click()
    await expect(page.locator("#e-recipient")).to_contain_text("couldn't find anyone")

    await fill_payment(page, ada.wallet_id, "1")
    await page.get_by_role("button", name="Send €1.00").click()
    await expect(page.locator("#e-recipient")).to_contain_text("yourself")

    await fill_payment(page, "not an address", "abc")
    await expect(page.locator("#e-recipient")).to_be_visible()
    await expect(page.locator("#e-amount")).to_be_visible()
    assert await balance(app, ada) == 10_00


async def test_too_many_unknown_recipients_are_answered_on_the_field(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    ada = await make_person(display_name="Ada Guesser", balances={"EUR": 10_00})
    async with api_client(app, ada.token) as client:
        for n in range(10):
            body = {"to": {"email": f"guess-{n}@example.org"}, "amount": 1, "currency": "EUR"}
            await client.post("/v1/payments/p2p", json=body)
    page = await open_page(ada, PHONE)
    await fill_payment(page, "guess-11@example.org", "1")
    await page.get_by_role("button", name="Send €1.00").click()
    await expect(page.locator("#e-recipient")).to_contain_text("Too many unknown recipients")


async def test_a_large_payment_asks_for_the_payment_pin(
    make_person: PersonFactory, open_page: PageFactory, app: Any, db: Database
) -> None:
    ada = await make_person(display_name="Ada Large", balances={"EUR": 2_000_00})
    bob = await make_person(display_name="Bob Large")
    await set_pin(app, ada)
    await make_step_up_stale(db, ada)
    page = await open_page(ada, PHONE)
    await fill_payment(page, bob.email, "600")
    await page.get_by_role("button", name="Send €600.00").click()

    await expect(page.get_by_role("group", name="Confirm it's you")).to_be_visible()
    assert await balance(app, bob) == 0
    await answer_step_up(page, "000000")
    await page.get_by_role("button", name="Send €600.00").click()
    await expect(page.locator("#e-step_up_code")).to_be_visible()
    await check_page(page, "send-step-up-phone")

    await answer_step_up(page)
    await page.get_by_role("button", name="Send €600.00").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Money sent")
    assert await balance(app, bob) == 600_00


@pytest.mark.parametrize("language", ["zh-Hans", "th"])
async def test_the_send_page_speaks_the_persons_language(
    language: str, make_person: PersonFactory, open_page: PageFactory
) -> None:
    ada = await make_person(display_name="Ada Polyglot", balances={"EUR": 10_00}, locale=language)
    page = await open_page(ada, PHONE)
    await page.goto("/send")
    heading = await page.get_by_role("heading", level=1).inner_text()
    assert heading != "Send money"
    await check_page(page, f"send-form-{language}-phone")


def test_what_people_type_in_to_becomes_the_right_recipient() -> None:
    assert recipient_body("@Bob_1") == {"username": "@Bob_1"}
    assert recipient_body("bob_1") == {"username": "bob_1"}
    assert recipient_body(" bob@example.org ") == {"email": "bob@example.org"}
    assert recipient_body("+44 7700 900-123") == {"phone": "+447700900123"}
    assert recipient_body("wal_01abc") == {"wallet_id": "wal_01ABC"}
    for wrong in ("", "12", "bob smith", "+12"):
        with pytest.raises(FormError):
            recipient_body(wrong)
