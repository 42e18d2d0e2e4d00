"""Settings in the browser: the page at phone and desktop size, the language (the page and the
next ones follow it), the home currency, the name, and a phone or email change behind step-up."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from finhub.kit.db import Database
from finhub.web.i18n import translations
from tests.web.conftest import (
    DESKTOP,
    PHONE,
    VIEWPORTS,
    PageFactory,
    PersonFactory,
)
from tests.web.shared_support import (
    PIN,
    answer_step_up,
    api,
    check_page,
    csrf_of,
    make_step_up_stale,
    set_pin,
    web_client,
)


def translated(language: str, message: str) -> str:
    text = translations(language).gettext(message)
    assert text != message, f"{message!r} has no {language} translation"
    return text


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_settings_page(
    size: str, make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    person = await make_person(display_name="Ada Lovelace")
    page = await open_page(person, VIEWPORTS[size])
    await page.goto("/settings")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    await expect(page.locator("#f-display_name")).to_have_value("Ada Lovelace")
    await expect(page.locator("main")).to_contain_text(person.email)
    await expect(page.get_by_label("English")).to_be_checked()
    await expect(page.locator("#f-home_currency")).to_have_value("EUR")
    await expect(page.locator("#f-home_currency option[value=THB]")).to_have_text("THB · Thai Baht")
    await check_page(page, f"settings-index-{size}")


async def test_changing_the_language_changes_this_page_and_the_next(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    person = await make_person()
    page = await open_page(person, PHONE)
    await page.goto("/settings")
    await page.get_by_label("ไทย").check()
    await page.get_by_role("button", name="Save language").click()

    await expect(page.locator("html")).to_have_attribute("lang", "th")
    await expect(page.get_by_role("heading", level=1)).to_have_text(translated("th", "Settings"))
    await expect(page.locator(".flash")).to_have_text(translated("th", "Language saved."))
    await expect(page.get_by_label("ไทย")).to_be_checked()
    await check_page(page, "settings-index-th-phone")
    assert (await api(app, person, "GET", "/v1/me"))["locale"] == "th"

    await page.get_by_role("button", name=translated("th", "Security settings")).click()
    await expect(page.locator("html")).to_have_attribute("lang", "th")
    await expect(page.get_by_role("heading", level=1)).to_have_text(translated("th", "Security"))
    await page.goto("/settings/security/api-keys")
    await expect(page.get_by_role("heading", level=1)).to_have_text(translated("th", "API keys"))

    await page.goto("/settings")
    await page.get_by_label("简体中文").check()
    await page.get_by_role("button", name=translated("th", "Save language")).click()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    heading = translated("zh-Hans", "Settings")
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    await expect(page.locator("#f-home_currency option[value=EUR]")).to_have_text("EUR · 欧元")
    await check_page(page, "settings-index-zh-phone")
    await page.goto("/settings/security/devices")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        translated("zh-Hans", "Devices")
    )


async def test_changing_the_home_currency(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    person = await make_person(balances={"EUR": 10_00})
    page = await open_page(person, PHONE)
    await page.goto("/settings")
    await page.locator("#f-home_currency").select_option("THB")
    await page.get_by_role("button", name="Save home currency").click()

    await expect(page.locator(".flash")).to_have_text("Home currency saved.")
    await expect(page.locator("#f-home_currency")).to_have_value("THB")
    assert (await api(app, person, "GET", "/v1/me"))["home_currency"] == "THB"
    assert (await api(app, person, "GET", "/v1/wallets/me"))["home_currency"] == "THB"


async def test_saving_the_name(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    person = await make_person(display_name="Ada Lovelace")
    page = await open_page(person, DESKTOP)
    await page.goto("/settings")
    await page.locator("#f-display_name").fill("Ada King")
    await page.get_by_role("button", name="Save name").click()
    await expect(page.locator(".flash")).to_have_text("Your profile was saved.")
    assert (await api(app, person, "GET", "/v1/me"))["display_name"] == "Ada King"


async def test_a_phone_change_asks_to_confirm_it_is_you(
    make_person: PersonFactory, open_page: PageFactory, app: Any, db: Database
) -> None:
    person = await make_person()
    await set_pin(app, person)
    await make_step_up_stale(db, person)
    page = await open_page(person, PHONE)
    await page.goto("/settings")
    await page.locator("#f-phone").fill("+66 81 234 5678")
    await page.get_by_role("button", name="Save phone number").click()

    await expect(page.locator("#form-error")).to_have_text("Confirm it's you to continue.")
    await expect(page.locator("#f-phone")).to_have_value("+66 81 234 5678")
    assert (await api(app, person, "GET", "/v1/me"))["phone"] is None
    await check_page(page, "settings-step-up-phone")
    await answer_step_up(page)
    await page.get_by_role("button", name="Save phone number").click()

    await expect(page.locator(".flash")).to_have_text("Your phone number was saved.")
    await expect(page.locator("main")).to_contain_text("+66812345678")
    assert (await api(app, person, "GET", "/v1/me"))["phone"] == "+66812345678"


async def test_a_badly_typed_phone_number_is_shown_on_its_field(
    make_person: PersonFactory, app: Any
) -> None:
    person = await make_person()
    async with web_client(app, person) as web:
        page = await web.get("/settings")
        response = await web.post(
            "/settings/phone", data={"csrf_token": csrf_of(page), "phone": "0812345678"}
        )
    assert response.status_code == 422
    assert 'id="e-phone"' in response.text
    assert (await api(app, person, "GET", "/v1/me"))["phone"] is None


async def test_an_email_change_needs_step_up_and_then_mails_a_link(
    make_person: PersonFactory, app: Any, db: Database
) -> None:
    person = await make_person()
    await set_pin(app, person)
    await make_step_up_stale(db, person)
    new_email = f"new-{person.user_id.lower()}@example.com"
    async with web_client(app, person) as web:
        page = await web.get("/settings")
        form = {"csrf_token": csrf_of(page), "new_email": new_email}
        asked = await web.post("/settings/email", data=form)
        assert asked.status_code == 422
        assert 'name="step_up_code"' in asked.text
        done = await web.post(
            "/settings/email", data={**form, "step_up_method": "pin", "step_up_code": PIN}
        )
    assert done.status_code == 303
    assert done.headers["location"] == "/settings"
    assert new_email not in done.headers["location"]
    assert (await api(app, person, "GET", "/v1/me"))["email"] == person.email
