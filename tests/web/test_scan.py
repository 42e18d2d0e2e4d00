"""Paying a QR code in the browser: a payment request's code uploaded as a picture (decoded
by qr-scanner in the page) and paid, a person's own code pasted as text with an amount chosen,
the camera missing, and text that isn't a finhub code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from finhub.kit.db import Database
from tests.web.conftest import PHONE, VIEWPORTS, PageFactory, PersonFactory
from tests.web.send_support import balance
from tests.web.shared_support import (
    answer_step_up,
    api,
    api_client,
    check_page,
    make_step_up_stale,
    set_pin,
)


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_pay_a_request_by_uploading_a_picture_of_its_qr_code(
    size: str, make_person: PersonFactory, open_page: PageFactory, app: Any, tmp_path: Path
) -> None:
    bob = await make_person(display_name="Bob Pizzeria")
    ada = await make_person(display_name="Ada Scanner", balances={"EUR": 30_00})
    asked = await api(
        app,
        bob,
        "POST",
        "/v1/payment-requests",
        json={"amount": 12_34, "currency": "EUR", "note": "Pizza"},
    )
    async with api_client(app, bob.token) as client:
        image = await client.get(f"/v1/payment-requests/{asked['id']}/qr.png")
    assert image.headers["content-type"] == "image/png"
    picture = tmp_path / "request.png"
    picture.write_bytes(image.content)

    page = await open_page(ada, VIEWPORTS[size])
    await page.goto("/scan")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Scan to pay")
    await check_page(page, f"scan-page-{size}")

    await page.get_by_label("Picture of the QR code").set_input_files(picture)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Pay Bob Pizzeria")
    await expect(page.locator("dl")).to_contain_text("€12.34")
    await expect(page.locator("dl")).to_contain_text("Payment request")
    await check_page(page, f"scan-review-{size}")

    await page.get_by_role("button", name="Pay €12.34").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("QR code paid")
    await expect(page.locator("main")).to_contain_text("Bob Pizzeria")
    await check_page(page, f"scan-receipt-{size}")

    paid = await api(app, bob, "GET", f"/v1/payment-requests/{asked['id']}")
    assert paid["status"] == "paid"
    assert await balance(app, bob) == 12_34
    assert await balance(app, ada) == 30_00 - 12_34


async def test_pay_a_persons_own_code_pasted_as_text(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    bob = await make_person(display_name="Bob Stall")
    ada = await make_person(display_name="Ada Paster", balances={"EUR": 10_00})
    code = await api(app, bob, "GET", "/v1/payments/static-qr", params={"currency": "EUR"})
    page = await open_page(ada, PHONE)
    await page.goto("/scan")
    await page.locator("#f-payload").fill(code["payload"])
    await page.get_by_role("button", name="Continue").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Pay Bob Stall")
    await page.locator("#f-amount").fill("3")
    await page.get_by_label("Note (optional)").fill("Apples")
    await check_page(page, "scan-review-static-phone")
    await page.get_by_role("button", name="Pay", exact=True).click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("QR code paid")
    assert await balance(app, bob) == 3_00
    assert await balance(app, ada) == 7_00


async def test_a_paid_request_code_cant_be_paid_again(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    bob = await make_person(display_name="Bob Once")
    ada = await make_person(display_name="Ada Once", balances={"EUR": 10_00})
    asked = await api(
        app, bob, "POST", "/v1/payment-requests", json={"amount": 2_00, "currency": "EUR"}
    )
    page = await open_page(ada, PHONE)
    for _ in range(2):
        await page.goto("/scan")
        await page.locator("#f-payload").fill(asked["qr_payload"])
        await page.get_by_role("button", name="Continue").click()
        await page.get_by_role("button", name="Pay €2.00").click()
    await expect(page.locator("#form-error")).to_contain_text("already paid")
    assert await balance(app, ada) == 8_00


async def test_text_that_is_no_finhub_code_shows_on_the_field(
    make_person: PersonFactory, open_page: PageFactory
) -> None:
    ada = await make_person(display_name="Ada Typo")
    page = await open_page(ada, PHONE)
    await page.goto("/scan")
    await page.locator("#f-payload").fill("00020101021129370016A000000677010111")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.locator("#e-payload")).to_contain_text("not a payment code")
    await expect(page.locator("#f-payload")).to_have_attribute("aria-invalid", "true")


async def test_no_camera_is_explained(make_person: PersonFactory, open_page: PageFactory) -> None:
    ada = await make_person(display_name="Ada Camera")
    page = await open_page(ada, PHONE)
    await page.goto("/scan")
    await page.get_by_role("button", name="Start camera").click()
    status = page.get_by_role("status").filter(has_text="camera")
    await expect(status).to_contain_text("Upload a picture")


@pytest.mark.parametrize(("language", "heading"), [("zh-Hans", "扫码付款"), ("th", "สแกนจ่าย")])
async def test_the_scan_page_speaks_the_persons_language(
    language: str, heading: str, make_person: PersonFactory, open_page: PageFactory
) -> None:
    ada = await make_person(display_name="Ada Polyglot", locale=language)
    page = await open_page(ada, PHONE)
    await page.goto("/scan")
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    await check_page(page, f"scan-page-{language}-phone")


async def test_a_large_code_asks_for_the_payment_pin(
    make_person: PersonFactory, open_page: PageFactory, app: Any, db: Database
) -> None:
    bob = await make_person(display_name="Bob Big")
    ada = await make_person(display_name="Ada Big", balances={"EUR": 1_000_00})
    asked = await api(
        app, bob, "POST", "/v1/payment-requests", json={"amount": 700_00, "currency": "EUR"}
    )
    await set_pin(app, ada)
    await make_step_up_stale(db, ada)
    page = await open_page(ada, PHONE)
    await page.goto("/scan")
    await page.locator("#f-payload").fill(asked["qr_payload"])
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_role("button", name="Pay €700.00").click()

    await expect(page.get_by_role("group", name="Confirm it's you")).to_be_visible()
    await answer_step_up(page)
    await page.get_by_role("button", name="Pay €700.00").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("QR code paid")
    assert await balance(app, bob) == 700_00
