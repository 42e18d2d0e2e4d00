"""Requesting money in the browser: a link request with its QR code and share link, the open
requests (cancel), requests waiting to be paid (pay), the person's own QR code, and the page a
share link opens, signed out (sign in first) and signed in (see and pay)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from finhub.web.pages.request import share_link
from tests.web.conftest import DESKTOP, PHONE, VIEWPORTS, PageFactory, PersonFactory, WebPerson
from tests.web.send_support import balance
from tests.web.shared_support import api, check_page


async def image_loaded(page: Page, selector: str) -> bool:
    """Waits until the image has loaded and has pixels (fails on a broken image)."""
    await page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth }",
        arg=selector,
    )
    return True


async def ask(app: Any, requester: WebPerson, amount: int, **extra: Any) -> dict[str, Any]:
    body = {"amount": amount, "currency": "EUR", **extra}
    found: dict[str, Any] = await api(app, requester, "POST", "/v1/payment-requests", json=body)
    return found


async def request_status(app: Any, requester: WebPerson, request_id: str) -> str:
    found = await api(app, requester, "GET", f"/v1/payment-requests/{request_id}")
    return str(found["status"])


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_request_money_with_a_link_and_qr_code(
    size: str, make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    ada = await make_person(display_name="Ada Asker", balances={"EUR": 50_00})
    bob = await make_person(display_name="Bob Owes")
    await ask(app, bob, 8_00, note="Cinema", **{"from": {"email": ada.email}})
    page = await open_page(ada, VIEWPORTS[size])

    await page.goto("/request")
    await page.locator("#f-amount").fill("20")
    await page.get_by_label("What it's for (optional)").fill("Concert tickets")
    await page.get_by_role("button", name="Create request").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Request for €20.00")
    qr = page.get_by_role("img", name="QR code to pay €20.00 to Ada Asker")
    await expect(qr).to_be_visible()
    assert await image_loaded(page, "img.qr-image")
    link = page.get_by_label("Share link")
    assert (await link.input_value()).startswith("http://finhub.test/pay#000201")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.get_by_role("button", name="Copy").click()
    await expect(page.locator("#share-link-status")).to_have_text("Link copied")
    assert await page.evaluate("navigator.clipboard.readText()") == await link.input_value()
    await check_page(page, f"request-detail-{size}")

    await page.get_by_role("button", name="Back to requests").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Request money")
    incoming = page.get_by_role("region", name="Waiting for you to pay")
    await expect(incoming).to_contain_text("Bob Owes")
    await expect(incoming).to_contain_text("€8.00")
    mine = page.get_by_role("region", name="Your open requests")
    await expect(mine).to_contain_text("Anyone with the link")
    await expect(mine).to_contain_text("Concert tickets")
    await expect(
        page.get_by_role("img", name="Your QR code for receiving money in EUR")
    ).to_be_visible()
    assert await image_loaded(page, "#my-code img")
    await check_page(page, f"request-index-{size}")


async def test_paying_a_request_waiting_for_me(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    ada = await make_person(display_name="Ada Payer", balances={"EUR": 50_00})
    bob = await make_person(display_name="Bob Asker")
    asked = await ask(app, bob, 8_00, note="Cinema", **{"from": {"email": ada.email}})
    page = await open_page(ada, PHONE)
    await page.goto("/request")
    await page.get_by_role("button", name="Pay €8.00 to Bob Asker").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Request paid")
    await check_page(page, "request-paid-phone")
    assert await request_status(app, bob, asked["id"]) == "paid"
    assert await balance(app, bob) == 8_00
    assert await balance(app, ada) == 42_00


async def test_canceling_an_open_request(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    ada = await make_person(display_name="Ada Cancels")
    asked = await ask(app, ada, 3_00, note="Coffee")
    page = await open_page(ada, DESKTOP)
    await page.goto("/request")
    await page.get_by_role("button", name="Cancel the request for €3.00").click()
    await expect(page.locator(".flash")).to_have_text("Request canceled.")
    await expect(page.get_by_role("region", name="Your open requests")).not_to_contain_text(
        "Coffee"
    )
    assert await request_status(app, ada, asked["id"]) == "canceled"


async def test_asking_someone_unknown_shows_on_the_from_field(
    make_person: PersonFactory, open_page: PageFactory
) -> None:
    ada = await make_person(display_name="Ada Unknown")
    page = await open_page(ada, PHONE)
    await page.goto("/request")
    await page.locator("#f-amount").fill("5")
    await page.locator("#f-recipient").fill("nobody-asked@example.org")
    await page.get_by_role("button", name="Create request").click()
    await expect(page.locator("#e-recipient")).to_contain_text("couldn't find anyone")
    await expect(page.locator("#f-amount")).to_have_value("5")


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_a_share_link_signs_in_then_shows_and_pays_the_request(
    size: str,
    make_person: PersonFactory,
    open_page: PageFactory,
    app: Any,
    live_server: str,
) -> None:
    bob = await make_person(display_name="Bob Linker")
    ada = await make_person(display_name="Ada Follows", balances={"EUR": 40_00})
    asked = await ask(app, bob, 15_00, note="Taxi")
    link = share_link(asked)
    assert link is not None
    page = await open_page(None, VIEWPORTS[size])

    await page.goto(link.replace("http://finhub.test", live_server))
    await expect(page).to_have_url(re.compile(r"/sign-in\?next=/pay$"))

    # Signed in (the sign-in page sends the browser back to `next`): the request is shown.
    await page.context.add_cookies(
        [{"name": "fh_session", "value": ada.token, "url": live_server, "httpOnly": True}]
    )
    await page.goto("/pay")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Pay a request")
    await expect(page.locator("main")).to_contain_text("Bob Linker asks you to pay €15.00.")
    await check_page(page, f"request-pay-link-{size}")
    await page.get_by_role("button", name="Pay €15.00").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Request paid")
    assert await request_status(app, bob, asked["id"]) == "paid"
    assert await balance(app, ada) == 25_00
    # The link was used up: the page no longer holds it.
    await page.goto("/pay")
    await expect(page.locator("main")).to_contain_text("This page opens payment links.")


async def test_a_link_of_the_apis_own_format_explains_what_to_do(
    make_person: PersonFactory, open_page: PageFactory, app: Any, live_server: str
) -> None:
    bob = await make_person(display_name="Bob Token")
    ada = await make_person(display_name="Ada Token")
    asked = await ask(app, bob, 2_00)
    page = await open_page(ada, PHONE)
    await page.goto(asked["link"].replace("http://finhub.test", live_server))
    await expect(page.locator("main")).to_contain_text("can't be paid from here")
    assert "#" not in page.url
    await check_page(page, "request-pay-token-phone")
    assert await request_status(app, bob, asked["id"]) == "open"


@pytest.mark.parametrize(("language", "heading"), [("zh-Hans", "收款"), ("th", "ขอเงิน")])
async def test_the_request_page_speaks_the_persons_language(
    language: str, heading: str, make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    ada = await make_person(display_name="Ada Polyglot", locale=language)
    await ask(app, ada, 4_00, note="Tea")
    page = await open_page(ada, PHONE)
    await page.goto("/request")
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    await check_page(page, f"request-index-{language}-phone")
