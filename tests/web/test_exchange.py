"""The exchange pages: a live quote with its countdown, accepting it, and a late accept refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from httpx import AsyncClient
from playwright.async_api import Page, expect

from finhub.kit.clock import OffsetClock
from tests.web.conftest import (
    PHONE,
    VIEWPORTS,
    PageFactory,
    PersonFactory,
    assert_accessible,
    shoot,
)
from tests.web.shared_support import (
    ApiFactory,
    api_clients,  # noqa: F401 (the api_as fixture)
)

RATE = "1.0800"


@pytest.fixture
async def set_usd_rate(app_client: AsyncClient) -> None:
    """Rates are shared by the whole run: set the one these tests price with right before."""
    response = await app_client.put("/v1/staff/fx/rates/EUR/USD", json={"rate": RATE})
    assert response.status_code == 200, response.text


async def balances_of(api: AsyncClient) -> dict[str, int]:
    wallet = (await api.get("/v1/wallets/me")).json()
    return {b["currency"]: b["balance"] for b in wallet["balances"]}


async def ask_for_quote(page: Page, amount: str) -> None:
    await page.goto("/exchange")
    await page.get_by_label("You convert").first.fill(amount)
    await page.get_by_label("Into").select_option("USD")
    await expect(page.locator("[data-quote-accept]")).to_be_visible()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_the_exchange_page_shows_a_live_quote(
    viewport: str, set_usd_rate: None, make_person: PersonFactory, open_page: PageFactory
) -> None:
    person = await make_person(display_name="Quinn Quote", balances={"EUR": 500_00})
    page = await open_page(person, VIEWPORTS[viewport])
    await ask_for_quote(page, "100")
    quote = page.locator("#quote")
    await expect(quote).to_contain_text(re.compile(r"1 EUR = 1\.07\d* USD"))  # mid less spread
    await expect(quote).to_contain_text("You receive")
    await expect(quote.locator("[data-countdown-clock]")).to_have_text(re.compile(r"0:[0-3]\d"))
    await expect(page.get_by_role("heading", name="Your balances")).to_be_visible()
    await assert_accessible(page)
    await shoot(page, f"exchange-index-{viewport}")


async def test_accepting_a_quote_in_the_browser_converts(
    set_usd_rate: None, make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(display_name="Ada Exchange", balances={"EUR": 500_00})
    api = api_as(person)
    page = await open_page(person, PHONE)
    await ask_for_quote(page, "100")
    clock = page.locator("[data-countdown-clock]")
    first = await clock.text_content()
    await expect(clock).not_to_have_text(first or "")  # the countdown ticks
    await page.get_by_role("button", name="Accept and convert").click()
    await expect(page.get_by_role("heading", name="Money exchanged")).to_be_visible()
    quote_id = page.url.rsplit("/", 1)[1]
    quote = (await api.get(f"/v1/fx/quotes/{quote_id}")).json()
    assert quote["status"] == "accepted"
    assert quote["sell_amount"] == 100_00
    balances = await balances_of(api)
    assert balances["EUR"] == 500_00 - quote["total_debit"]
    assert balances["USD"] == quote["buy_amount"] > 0
    usd = page.locator("[data-balances] [data-currency='USD']")
    await expect(usd).to_contain_text(f"{quote['buy_amount'] / 100:,.2f}")


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_the_result_page_shows_the_conversion_and_new_balances(
    viewport: str,
    set_usd_rate: None,
    make_person: PersonFactory,
    open_page: PageFactory,
    api_as: ApiFactory,
) -> None:
    person = await make_person(display_name="Lin Result", balances={"EUR": 300_00})
    api = api_as(person)
    body = {"sell_currency": "EUR", "buy_currency": "USD", "sell_amount": 50_00}
    quote = (await api.post("/v1/fx/quotes", json=body)).json()
    accepted = await api.post(f"/v1/fx/quotes/{quote['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    page = await open_page(person, VIEWPORTS[viewport])
    await page.goto(f"/exchange/{quote['id']}")
    await expect(page.get_by_role("heading", name="Money exchanged")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("You converted €50.00 to $")
    await expect(page.locator("[data-balances]")).to_contain_text("€250.00")
    await assert_accessible(page)
    await shoot(page, f"exchange-done-{viewport}")


async def test_an_expired_quote_is_refused_with_a_clear_message(
    set_usd_rate: None,
    make_person: PersonFactory,
    open_page: PageFactory,
    api_as: ApiFactory,
    clock: OffsetClock,
) -> None:
    person = await make_person(display_name="Late Larry", balances={"EUR": 200_00})
    api = api_as(person)
    page = await open_page(person, PHONE)
    await ask_for_quote(page, "80")
    clock.advance(timedelta(seconds=31))  # the server's clock only; the page still counts down
    await page.get_by_role("button", name="Accept and convert").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("This quote expired before you accepted it")
    await expect(page.get_by_label("You convert").first).to_have_value("80.00")
    assert await balances_of(api) == {"EUR": 200_00}
    await page.get_by_role("button", name="Get a new quote").click()
    await expect(page.locator("[data-quote-accept]")).to_be_enabled()


async def test_the_countdown_disables_accept_at_expiry_and_offers_a_new_quote(
    set_usd_rate: None, make_person: PersonFactory, open_page: PageFactory
) -> None:
    person = await make_person(display_name="Tick Tock", balances={"EUR": 100_00})
    page = await open_page(person, PHONE)
    await page.clock.install()
    await ask_for_quote(page, "10")
    # Typing the amount and choosing the currency each ask for a quote; wait for the last one,
    # or its countdown could start after the clock is moved on (seen on a loaded machine).
    await page.wait_for_load_state("networkidle")
    await expect(page.locator("[data-countdown-clock]")).to_have_text(re.compile(r"0:[23]\d"))
    live = page.locator("[data-countdown-live]")
    await expect(live).to_have_attribute("aria-live", "polite")
    await expect(live).to_have_text("")
    await page.clock.fast_forward("00:21")
    await expect(live).to_have_text("10 seconds left to accept this quote.")
    await page.clock.fast_forward("00:10")
    await expect(page.get_by_role("button", name="Accept and convert")).to_be_disabled()
    await expect(live).to_contain_text("This quote has expired.")
    await page.get_by_role("button", name="Get a new quote").click()
    await expect(page.get_by_role("button", name="Accept and convert")).to_be_enabled()
    await expect(page.locator("[data-countdown-clock]")).to_have_text(re.compile(r"0:[23]\d"))


async def test_a_bad_amount_gets_an_explanation_in_the_quote(
    make_person: PersonFactory, open_page: PageFactory
) -> None:
    person = await make_person(display_name="Typo Tina", balances={"EUR": 100_00})
    page = await open_page(person, PHONE)
    await page.goto("/exchange")
    await page.get_by_label("You convert").first.fill("12.345")
    await expect(page.locator("#quote").get_by_role("alert")).to_contain_text("Use at most 2")


async def test_the_quote_fragment_answers_htmx_and_needs_a_session(
    anonymous_client: AsyncClient, set_usd_rate: None, make_person: PersonFactory
) -> None:
    anonymous = await anonymous_client.get("/exchange")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/sign-in?next=/exchange"
    person = await make_person(display_name="Htmx Hana", balances={"EUR": 100_00})
    anonymous_client.cookies.set("fh_session", person.token)
    page = await anonymous_client.get("/exchange")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "amount": "10", "currency": "EUR", "buy_currency": "USD"}
    fragment = await anonymous_client.post(
        "/exchange/quote", data=form, headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "data-expires-at=" in fragment.text
    same = await anonymous_client.post(
        "/exchange/quote", data={**form, "buy_currency": "EUR"}, headers={"HX-Request": "true"}
    )
    assert same.status_code == 422
    assert "Choose two different currencies." in same.text


@pytest.mark.parametrize(
    ("language", "heading", "accept"),
    [("zh-Hans", "换汇", "接受并兑换"), ("th", "แลกเงิน", "ยอมรับและแลกเงิน")],
)
async def test_the_exchange_page_speaks_chinese_and_thai(
    language: str,
    heading: str,
    accept: str,
    set_usd_rate: None,
    make_person: PersonFactory,
    open_page: PageFactory,
) -> None:
    person = await make_person(display_name="Mei", balances={"EUR": 90_00}, locale=language)
    page = await open_page(person, PHONE)
    await page.goto("/exchange")
    await expect(page.locator("html")).to_have_attribute("lang", language)
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    await page.locator("#f-amount").fill("20")
    await page.locator("#f-buy_currency").select_option("USD")
    await expect(page.get_by_role("button", name=accept)).to_be_visible()
    await assert_accessible(page)
    await shoot(page, f"exchange-index-{language}-phone")


async def test_accepting_more_than_the_balance_is_refused_next_to_the_amount(
    set_usd_rate: None, make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory
) -> None:
    person = await make_person(display_name="Shy Short", balances={"EUR": 10_00})
    page = await open_page(person, PHONE)
    await ask_for_quote(page, "50")
    await page.get_by_role("button", name="Accept and convert").click()
    await expect(page.locator("#e-amount")).to_have_text(
        "You don't have enough money for this, fees included."
    )
    await expect(page.locator("#f-amount")).to_have_value("50.00")
    assert await balances_of(api_as(person)) == {"EUR": 10_00}
