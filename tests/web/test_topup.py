"""Top-up pages: a card top-up through the card sandbox (approved, declined, 3-D Secure, a
mistyped number) and a bank transfer with its simulated arrival, in Chromium at phone and
desktop size."""

from __future__ import annotations

import re
from typing import Any

import pytest
from httpx import AsyncClient
from playwright.async_api import Page, expect
from psycopg import sql
from structlog.testing import capture_logs

from finhub.kit.db import Database
from tests.payments.topups.support import deliver_webhooks
from tests.web.conftest import VIEWPORTS, PageFactory, PersonFactory, assert_accessible, shoot
from tests.web.money_in_out_support import balance_in
from tests.web.shared_support import (
    ApiFactory,
    api_clients,  # noqa: F401 (the api_as fixture)
    check_page,
    csrf_of,
    web_client,
)

SUCCESS = "4242424242424242"
INSUFFICIENT_FUNDS = "4000000000009995"
THREE_D_SECURE = "4000000000003220"
NOT_LUHN = "4242424242424241"
START = 100_00


async def api_topup(api: AsyncClient, number: str, amount: int = 15_00) -> dict[str, Any]:
    card = await api.post(
        "/v1/payments/card-tokens",
        json={"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"},
    )
    assert card.status_code == 201, card.text
    topup = await api.post(
        "/v1/payments/card-topups",
        json={"card_token": card.json()["id"], "amount": amount, "currency": "EUR"},
    )
    assert topup.status_code == 201, topup.text
    return dict(topup.json())


async def fill_card_form(page: Page, number: str, amount: str = "25.00") -> None:
    await page.goto("/top-up/card")
    await page.fill("#f-amount", amount)
    await page.select_option("select[name=currency]", "EUR")
    await page.fill("#f-number", number)
    await page.fill("#f-expiry", "12/99")
    await page.fill("#f-cvc", "123")
    await page.click("form[action='/top-up/card'] button[type=submit]")


async def tables_holding(db: Database, text: str) -> list[str]:
    """Every table of the database with a row whose text contains `text`."""
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        tables = [row["table_name"] for row in await cursor.fetchall()]
        holding = []
        for table in tables:
            query = sql.SQL("SELECT count(*) AS n FROM {} t WHERE t::text LIKE %s")
            cursor = await conn.execute(query.format(sql.Identifier(table)), (f"%{text}%",))
            row = await cursor.fetchone()
            if row and row["n"]:
                holding.append(table)
    return holding


# --- every page at phone and desktop size ------------------------------------------------------


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_the_top_up_pages_at_each_size(
    size: str, app: Any, make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(display_name="Mia Chen", balances={"EUR": START})
    api = api_as(person)
    declined = await api_topup(api, INSUFFICIENT_FUNDS)
    waiting = await api_topup(api, THREE_D_SECURE)
    completed = await api_topup(api, SUCCESS)
    await deliver_webhooks(app, completed["processor_charge_id"])
    page = await open_page(person, VIEWPORTS[size])

    await page.goto("/top-up")
    await expect(page.locator("h1")).to_have_text("Top up")
    await expect(page.get_by_role("button", name="Top up by card")).to_be_visible()
    await check_page(page, f"topup-choose-{size}")

    await page.goto("/top-up/card")
    await expect(page.get_by_label("Card number").first).to_be_visible()
    await expect(page.locator("#f-cvc")).to_have_attribute("autocomplete", "cc-csc")
    await page.get_by_text("Sandbox test cards").click()
    await check_page(page, f"topup-card-{size}")

    await page.goto(f"/top-up/card/{completed['id']}")
    await expect(page.locator("h1")).to_have_text("Money added")
    await expect(page.get_by_text("Visa •••• 4242").first).to_be_visible()
    await check_page(page, f"topup-completed-{size}")

    await page.goto(f"/top-up/card/{declined['id']}")
    await expect(page.locator("h1")).to_have_text("Card declined")
    await expect(page.get_by_role("alert")).to_have_text("The card doesn't have enough funds.")
    await check_page(page, f"topup-declined-{size}")

    await page.goto(f"/top-up/card/{waiting['id']}/verify")
    await expect(page.locator("h1")).to_have_text("Confirm this payment")
    await expect(page.get_by_text("Visa •••• 3220")).to_be_visible()
    await check_page(page, f"topup-challenge-{size}")

    await page.goto("/top-up/bank")
    instructions = (await api.get("/v1/payments/bank-topups/instructions")).json()
    await expect(page.get_by_text(instructions["payment_reference"])).to_be_visible()
    await expect(page.get_by_text(instructions["iban_formatted"])).to_be_visible()
    await check_page(page, f"topup-bank-{size}")


@pytest.mark.parametrize(
    ("locale", "heading"), [("zh-Hans", "银行转账充值"), ("th", "เติมเงินด้วยการโอนผ่านธนาคาร")]
)
async def test_the_top_up_pages_speak_chinese_and_thai(
    locale: str, heading: str, make_person: PersonFactory, open_page: PageFactory
) -> None:
    person = await make_person(locale=locale, balances={"EUR": START})
    page = await open_page(person)
    await page.goto("/top-up/bank")
    await expect(page.locator("h1")).to_have_text(heading)
    await expect(page.locator("html")).to_have_attribute("lang", locale)
    await assert_accessible(page)


# --- card top-ups ------------------------------------------------------------------------------


async def test_a_card_top_up_with_the_success_card_adds_the_money(
    app: Any,
    db: Database,
    make_person: PersonFactory,
    open_page: PageFactory,
    api_as: ApiFactory,
) -> None:
    person = await make_person(balances={"EUR": START})
    api = api_as(person)
    page = await open_page(person)
    with capture_logs() as logged:
        await fill_card_form(page, "4242 4242 4242 4242")
        await expect(page.locator("h1")).to_have_text("Top-up approved")
    assert re.search(r"/top-up/card/pay_\w+$", page.url)
    assert SUCCESS not in page.url
    topup = (await api.get(f"/v1/payments/card-topups/{page.url.rsplit('/', 1)[1]}")).json()
    assert topup["status"] == "processing"
    assert topup["card"]["last4"] == "4242"
    assert "4242 4242 4242 4242" not in await page.content()

    # The processor confirms the capture; the waiting page notices on its own.
    for response in await deliver_webhooks(app, topup["processor_charge_id"]):
        assert response.status_code == 200, response.text
    await expect(page.locator("h1")).to_have_text("Money added", timeout=10_000)
    await expect(page.get_by_text("Visa •••• 4242").first).to_be_visible()
    await shoot(page, "topup-card-completed-desktop")

    balance = await balance_in(api)
    assert balance["balance"] == START + topup["net_amount"]
    assert topup["net_amount"] == 25_00 - topup["fee"]
    assert await tables_holding(db, SUCCESS) == []
    assert SUCCESS not in repr(logged)


async def test_a_declined_card_says_why_and_changes_no_balance(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(balances={"EUR": START})
    api = api_as(person)
    page = await open_page(person)
    await fill_card_form(page, INSUFFICIENT_FUNDS)
    await expect(page.locator("h1")).to_have_text("Card declined")
    await expect(page.get_by_role("alert")).to_have_text("The card doesn't have enough funds.")
    await expect(page.get_by_text("Visa •••• 9995").first).to_be_visible()
    assert await balance_in(api) == {"balance": START, "available": START, "held": 0}


async def test_the_3d_secure_challenge_completes_the_top_up(
    app: Any, make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(balances={"EUR": START})
    api = api_as(person)
    page = await open_page(person)
    await fill_card_form(page, THREE_D_SECURE, amount="12.00")
    await expect(page.locator("h1")).to_have_text("Confirm this payment")
    assert page.url.endswith("/verify")
    await page.get_by_role("button", name="Complete verification").click()
    await expect(page.locator("h1")).to_have_text("Top-up approved")
    payment_id = page.url.rsplit("/", 1)[1]
    topup = (await api.get(f"/v1/payments/card-topups/{payment_id}")).json()
    assert topup["status"] == "processing"
    await deliver_webhooks(app, topup["processor_charge_id"])
    await expect(page.locator("h1")).to_have_text("Money added", timeout=10_000)
    assert (await balance_in(api))["balance"] == START + topup["net_amount"]


async def test_failing_the_3d_secure_challenge_declines_the_top_up(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(balances={"EUR": START})
    page = await open_page(person)
    await fill_card_form(page, THREE_D_SECURE, amount="12.00")
    await page.get_by_role("button", name="Fail verification").click()
    await expect(page.locator("h1")).to_have_text("Card declined")
    await expect(page.get_by_role("alert")).to_contain_text("3-D Secure")
    assert (await balance_in(api_as(person)))["available"] == START


async def test_a_card_number_that_fails_the_luhn_check_is_a_field_error(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(balances={"EUR": START})
    page = await open_page(person)
    await fill_card_form(page, NOT_LUHN)
    await expect(page.locator("#e-number")).to_have_text("Check the card number.")
    await expect(page.locator("#f-number")).to_have_attribute("aria-invalid", "true")
    # What was typed comes back, except the card number and the security code.
    await expect(page.locator("#f-number")).to_have_value("")
    await expect(page.locator("#f-cvc")).to_have_value("")
    await expect(page.locator("#f-amount")).to_have_value("25.00")
    await expect(page.locator("#f-expiry")).to_have_value("12/99")
    await assert_accessible(page)
    cards = await api_as(person).get("/v1/wallets/me/activity", params={"kind": "card_topup"})
    assert cards.json()["data"] == []


async def test_the_card_form_never_echoes_the_card_number(
    app: Any, make_person: PersonFactory
) -> None:
    person = await make_person(balances={"EUR": START})
    async with web_client(app, person) as browser:
        form = await browser.get("/top-up/card")
        answer = await browser.post(
            "/top-up/card",
            data={
                "csrf_token": csrf_of(form),
                "idempotency_key": "web_echo_check",
                "amount": "10",
                "currency": "EUR",
                "number": "4111 1111 1111 1111",
                "expiry": "13/99",
                "cvc": "731",
            },
        )
    assert answer.status_code == 422
    assert "Enter the expiry date as MM/YY." in answer.text
    assert "1111 1111" not in answer.text
    assert "4111111111111111" not in answer.text
    assert 'value="731"' not in answer.text


# --- bank transfers ----------------------------------------------------------------------------


async def test_a_simulated_bank_transfer_raises_the_balance(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(display_name="Ana Silva", balances={"EUR": START})
    api = api_as(person)
    page = await open_page(person)
    await page.goto("/top-up/bank")
    await expect(page.get_by_role("button", name="Copy IBAN")).to_be_visible()
    await expect(page.locator("#f-sender_name")).to_have_value("Ana Silva")
    await page.fill("#f-amount", "40")
    await page.select_option("select[name=currency]", "EUR")
    await page.get_by_role("button", name="Simulate transfer").click()
    await expect(page.locator(".flash")).to_have_text(
        "The transfer arrived: the money is in your wallet."
    )
    lines = (await api.get("/v1/wallets/me/activity", params={"kind": "bank_topup"})).json()
    assert [line["status"] for line in lines["data"]] == ["completed"]
    received = lines["data"][0]["amount"]
    assert received == 40_00 - lines["data"][0]["fee"]
    assert (await balance_in(api))["balance"] == START + received


async def test_the_copy_button_copies_the_reference(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(balances={"EUR": START})
    page = await open_page(person)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.goto("/top-up/bank")
    reference = (await api_as(person).get("/v1/wallets/me")).json()["payment_reference"]
    await page.get_by_role("button", name="Copy reference").click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == reference

    # The IBAN is copied without the spaces it is shown with.
    iban = (await api_as(person).get("/v1/payments/bank-topups/instructions")).json()["iban"]
    await page.get_by_role("button", name="Copy IBAN").click()
    await expect(page.locator("button[data-copy-target=bank-iban]")).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == iban
