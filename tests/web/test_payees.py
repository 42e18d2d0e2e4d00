"""Payee pages: the list, adding an account (after confirming it's you) with the bank-detail
checks on the right field, and removing one, in Chromium at phone and desktop size."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.web.conftest import VIEWPORTS, PageFactory, PersonFactory, assert_accessible, shoot
from tests.web.money_in_out_support import add_payee, not_stepped_up
from tests.web.shared_support import (
    ApiFactory,
    answer_step_up,
    api_clients,  # noqa: F401 (the api_as fixture)
    check_page,
    set_pin,
)

GERMAN_IBAN = "DE89 3704 0044 0532 0130 00"


async def payee_names(api: Any) -> list[str]:
    return [payee["name"] for payee in (await api.get("/v1/payees")).json()["data"]]


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_the_payee_pages_at_each_size(
    size: str, make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(display_name="Lena Vogel")
    api = api_as(person)
    await add_payee(api, name="Lena Vogel", nickname="My Sparkasse")
    uk = await add_payee(
        api,
        name="Lena Vogel",
        currency="GBP",
        iban=None,
        account_number="31926819",
        sort_code="60-16-13",
        country="GB",
    )
    page = await open_page(person, VIEWPORTS[size])

    await page.goto("/payees")
    await expect(page.locator("h1")).to_have_text("Payees")
    await expect(page.get_by_role("heading", name="My Sparkasse")).to_be_visible()
    await expect(page.get_by_text("DE89 3704 0044 0532 0130 00")).to_be_visible()
    await expect(page.get_by_text("31926819")).to_be_visible()
    await check_page(page, f"payees-list-{size}")

    await page.goto("/payees/new")
    await expect(page.get_by_label("IBAN", exact=True)).to_be_visible()
    await page.get_by_text("No IBAN? Use a UK or US account number").click()
    await expect(page.get_by_label("Account number")).to_be_visible()
    await check_page(page, f"payees-new-{size}")

    await page.goto(f"/payees/{uk['id']}/remove")
    await expect(page.locator("h1")).to_have_text("Remove Lena Vogel?")
    await check_page(page, f"payees-remove-{size}")


async def test_adding_a_payee_asks_to_confirm_it_is_you_first(
    app: Any,
    db: Database,
    settings: Settings,
    clock: OffsetClock,
    make_person: PersonFactory,
    open_page: PageFactory,
    api_as: ApiFactory,
) -> None:
    person = await make_person(display_name="Omar Haddad")
    await set_pin(app, person)
    signed_in = await not_stepped_up(db, settings, clock, person)
    page = await open_page(signed_in)
    await page.goto("/payees/new")
    await page.fill("#f-name", "Omar Haddad")
    await page.fill("#f-nickname", "Savings")
    await page.fill("#f-iban", GERMAN_IBAN)
    await page.get_by_role("button", name="Add payee").click()

    # The form comes back with what was typed and the step-up field.
    await expect(page.get_by_role("group", name="Confirm it's you")).to_be_visible()
    await expect(page.locator("#f-iban")).to_have_value(GERMAN_IBAN)
    assert await payee_names(api_as(person)) == []
    await assert_accessible(page)
    await shoot(page, "payees-step-up-desktop")

    await answer_step_up(page, "000000")
    await page.get_by_role("button", name="Confirm and add payee").click()
    await expect(page.locator("#e-step_up_code")).to_have_text("That PIN is not right.")
    assert await payee_names(api_as(person)) == []

    await answer_step_up(page)
    await page.get_by_role("button", name="Confirm and add payee").click()
    await expect(page.locator(".flash")).to_have_text("Payee added.")
    await expect(page.get_by_role("heading", name="Savings")).to_be_visible()
    saved = (await api_as(person).get("/v1/payees")).json()["data"]
    assert [(p["name"], p["iban"], p["nickname"]) for p in saved] == [
        ("Omar Haddad", "DE89370400440532013000", "Savings")
    ]


async def test_an_invalid_iban_is_shown_on_its_field_and_saves_nothing(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person()
    page = await open_page(person)
    await page.goto("/payees/new")
    await page.fill("#f-name", "Ada Lovelace")
    await page.fill("#f-iban", "DE89 3704 0044 0532 0130 01")
    await page.get_by_role("button", name="Add payee").click()
    await expect(page.locator("#e-iban")).to_have_text("Check the IBAN.")
    await expect(page.locator("#f-iban")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#f-name")).to_have_value("Ada Lovelace")
    await assert_accessible(page)
    await shoot(page, "payees-invalid-iban-desktop")
    assert await payee_names(api_as(person)) == []

    # A BIC of another bank is refused on the BIC field.
    await page.fill("#f-iban", GERMAN_IBAN)
    await page.fill("#f-bic", "DEUTDEFF")
    await page.get_by_role("button", name="Add payee").click()
    await expect(page.locator("#e-bic")).to_have_text("The BIC doesn't match the IBAN's bank.")
    assert await payee_names(api_as(person)) == []


async def test_a_uk_account_needs_a_valid_sort_code(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person()
    page = await open_page(person)
    await page.goto("/payees/new")
    await page.fill("#f-name", "Ada Lovelace")
    await page.select_option("#f-currency", "GBP")
    await page.get_by_text("No IBAN? Use a UK or US account number").click()
    await page.select_option("#f-country", "GB")
    await page.fill("#f-account_number", "31926819")
    await page.fill("#f-bank_code", "60-16")
    await page.get_by_role("button", name="Add payee").click()
    await expect(page.locator("#e-bank_code")).to_have_text("Check the sort code: it has 6 digits.")
    await page.fill("#f-bank_code", "60-16-13")
    await page.get_by_role("button", name="Add payee").click()
    await expect(page.locator(".flash")).to_have_text("Payee added.")
    saved = (await api_as(person).get("/v1/payees")).json()["data"]
    assert [(p["sort_code"], p["account_number"]) for p in saved] == [("601613", "31926819")]


async def test_removing_a_payee(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person()
    api = api_as(person)
    await add_payee(api, name="Old Account")
    page = await open_page(person)
    await page.goto("/payees")
    await page.get_by_role("link", name="Remove Old Account").click()
    await page.get_by_role("button", name="Remove payee").click()
    await expect(page.locator(".flash")).to_have_text("Payee removed.")
    await expect(page.get_by_text("You haven't added a payee yet.")).to_be_visible()
    assert await payee_names(api) == []


@pytest.mark.parametrize(("locale", "heading"), [("zh-Hans", "添加收款人"), ("th", "เพิ่มผู้รับเงิน")])
async def test_the_payee_form_speaks_chinese_and_thai(
    locale: str, heading: str, make_person: PersonFactory, open_page: PageFactory
) -> None:
    person = await make_person(locale=locale)
    page = await open_page(person)
    await page.goto("/payees/new")
    await expect(page.locator("h1")).to_have_text(heading)
    await assert_accessible(page)
