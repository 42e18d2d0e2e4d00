"""Withdrawal pages: the form with my withdrawals, the review, step-up for large amounts, the
held money and cancelling, in Chromium at phone and desktop size."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.web.conftest import VIEWPORTS, PageFactory, PersonFactory, assert_accessible, shoot
from tests.web.money_in_out_support import add_payee, balance_in, not_stepped_up
from tests.web.shared_support import (
    ApiFactory,
    answer_step_up,
    api_clients,  # noqa: F401 (the api_as fixture)
    check_page,
    set_pin,
)

START = 200_00


async def fill_withdrawal(page: Page, payee_id: str, amount: str) -> None:
    await page.goto("/withdraw")
    await page.select_option("#f-payee_id", payee_id)
    await page.fill("#f-amount", amount)
    await page.select_option("select[name=currency]", "EUR")
    await page.get_by_role("button", name="Review").click()
    await expect(page.locator("h1")).to_have_text("Review your withdrawal")


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_the_withdrawal_pages_at_each_size(
    size: str, make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(display_name="Sofia Rossi", balances={"EUR": START})
    api = api_as(person)
    payee = await add_payee(api, name="Sofia Rossi", nickname="Household account")
    earlier = await api.post(
        "/v1/payments/withdrawals",
        json={"payee_id": payee["id"], "amount": 20_00, "currency": "EUR"},
    )
    assert earlier.status_code == 201, earlier.text
    page = await open_page(person, VIEWPORTS[size])

    await page.goto("/withdraw")
    await expect(page.locator("h1")).to_have_text("Withdraw")
    rows = page.locator("table").last.locator("tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("€20.00")
    await expect(rows.first).to_contain_text("Pending")
    await check_page(page, f"withdraw-form-{size}")

    await fill_withdrawal(page, payee["id"], "15.50")
    await expect(page.get_by_text("DE89 3704 0044 0532 0130 00")).to_be_visible()
    await check_page(page, f"withdraw-review-{size}")

    await page.goto(f"/withdraw/{earlier.json()['id']}")
    await expect(page.locator("h1")).to_have_text("Withdrawal of €20.00")
    await check_page(page, f"withdraw-detail-{size}")


async def test_a_withdrawal_holds_the_money(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(balances={"EUR": START})
    api = api_as(person)
    payee = await add_payee(api)
    page = await open_page(person)
    await fill_withdrawal(page, payee["id"], "30")
    await page.get_by_role("button", name="Confirm withdrawal").click()

    await expect(page.locator(".flash")).to_contain_text("Withdrawal requested.")
    await expect(page.locator("h1")).to_have_text("Withdrawal of €30.00")
    await expect(page.get_by_text("Pending", exact=True)).to_be_visible()
    withdrawal = await api.get(f"/v1/payments/withdrawals/{page.url.rsplit('/', 1)[1]}")
    assert withdrawal.json()["status"] == "processing"
    assert withdrawal.json()["payout_status"] == "pending"
    fee = withdrawal.json()["fee"]
    assert await balance_in(api) == {
        "balance": START,
        "available": START - 30_00 - fee,
        "held": 30_00 + fee,
    }
    await expect(page.locator("[data-held]")).to_have_text(f"€{(30_00 + fee) / 100:.2f}")

    # Listed with its status, and cancelling gives the money back.
    await page.get_by_role("button", name="Cancel withdrawal").click()
    await expect(page.locator(".flash")).to_have_text("Withdrawal canceled.")
    assert await balance_in(api) == {"balance": START, "available": START, "held": 0}
    await page.get_by_role("button", name="All withdrawals").click()
    await expect(page.locator("table").last.locator("tbody tr").first).to_contain_text("Canceled")


async def test_more_than_is_available_is_refused_on_the_amount(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(balances={"EUR": 10_00})
    api = api_as(person)
    payee = await add_payee(api)
    page = await open_page(person)
    await fill_withdrawal(page, payee["id"], "50")
    await page.get_by_role("button", name="Confirm withdrawal").click()
    await expect(page.locator("#e-amount")).to_contain_text("enough money")
    await expect(page.locator("#f-amount")).to_have_value("50")
    await assert_accessible(page)
    assert await balance_in(api) == {"balance": 10_00, "available": 10_00, "held": 0}


async def test_a_payee_in_another_currency_is_refused_before_the_review(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(balances={"EUR": START})
    payee = await add_payee(
        api_as(person),
        currency="GBP",
        iban=None,
        account_number="31926819",
        sort_code="601613",
        country="GB",
    )
    page = await open_page(person)
    await page.goto("/withdraw")
    await page.select_option("#f-payee_id", payee["id"])
    await page.fill("#f-amount", "5")
    await page.select_option("select[name=currency]", "EUR")
    await page.get_by_role("button", name="Review").click()
    await expect(page.locator("#e-payee_id")).to_have_text(
        "This account receives GBP. Withdraw in GBP."
    )


async def test_a_large_withdrawal_asks_to_confirm_it_is_you(
    app: Any,
    db: Database,
    settings: Settings,
    clock: OffsetClock,
    make_person: PersonFactory,
    open_page: PageFactory,
    api_as: ApiFactory,
) -> None:
    person = await make_person(balances={"EUR": 2_000_00})
    api = api_as(person)
    payee = await add_payee(api)
    await set_pin(app, person)
    page = await open_page(await not_stepped_up(db, settings, clock, person))
    large = f"{(settings.step_up_payment_threshold + 100_00) / 100:.2f}"
    await fill_withdrawal(page, payee["id"], large)
    await page.get_by_role("button", name="Confirm withdrawal").click()
    await expect(page.get_by_role("group", name="Confirm it's you")).to_be_visible()
    assert await balance_in(api) == {"balance": 2_000_00, "available": 2_000_00, "held": 0}
    await assert_accessible(page)
    await shoot(page, "withdraw-step-up-desktop")

    await answer_step_up(page)
    await page.get_by_role("button", name="Confirm withdrawal").click()
    await expect(page.locator(".flash")).to_contain_text("Withdrawal requested.")
    held = (await balance_in(api))["held"]
    assert held >= settings.step_up_payment_threshold + 100_00


async def test_without_payees_the_page_leads_to_adding_one(
    make_person: PersonFactory, open_page: PageFactory
) -> None:
    person = await make_person(balances={"EUR": START})
    page = await open_page(person)
    await page.goto("/withdraw")
    await page.get_by_role("button", name="Add a payee").click()
    await expect(page.locator("h1")).to_have_text("Add a payee")


@pytest.mark.parametrize(("locale", "heading"), [("zh-Hans", "提现"), ("th", "ถอนเงิน")])
async def test_the_withdrawal_page_speaks_chinese_and_thai(
    locale: str, heading: str, make_person: PersonFactory, open_page: PageFactory
) -> None:
    person = await make_person(locale=locale, balances={"EUR": START})
    page = await open_page(person)
    await page.goto("/withdraw")
    await expect(page.locator("h1")).to_have_text(heading)
    await assert_accessible(page)
