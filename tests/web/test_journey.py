"""A new person's whole first week in the browser: sign up, confirm the email address, turn on
two-step verification, top up by card, send money to a friend who sees it arrive, exchange,
withdraw to a bank account and download a statement. Every step goes through the pages a person
uses; the checks read the real balances and the ledger afterwards."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, timedelta
from typing import Any

import pyotp
from httpx import ASGITransport, AsyncClient
from playwright.async_api import Page, expect

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from tests.identity.people.support import link_token, unique_email
from tests.payments.topups.support import deliver_webhooks
from tests.support.ledger_checks import assert_ledger_sound
from tests.web.conftest import DESKTOP, PHONE, PageFactory, PersonFactory, shoot

PASSWORD = "correct horse battery staple 42"
GERMAN_IBAN = "DE89370400440532013000"


def api_for(app: Any, token: str) -> AsyncClient:
    return AsyncClient(
        transport=ASGITransport(app=app),
        base_url="http://finhub.test",
        headers={"Authorization": f"Bearer {token}"},
    )


async def session_of(page: Page) -> str:
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    return cookies["fh_session"]


async def balances(api: AsyncClient) -> dict[str, dict[str, int]]:
    wallet = (await api.get("/v1/wallets/me")).json()
    return {b["currency"]: b for b in wallet["balances"]}


async def sign_up_and_confirm(page: Page, db: Database, email: str) -> None:
    await page.goto("/sign-up")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Your name").fill("Mae Jemison")
    await page.locator("#f-password").fill(PASSWORD)
    await page.get_by_label("I accept the terms of service").check()
    await page.get_by_label("I accept the privacy policy").check()
    await page.get_by_role("button", name="Open my account").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    token = await link_token(db, email, "auth.verify_email", "/verify-email")
    await page.goto(f"/verify-email?token={token}")
    await page.get_by_role("button", name="Confirm my email address").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Email address confirmed")

    await page.goto("/sign-in")
    await page.get_by_label("Email address").fill(email)
    await page.locator("#f-password").fill(PASSWORD)
    await page.locator("main").get_by_role("button", name="Sign in", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/welcome$"))


async def turn_on_two_step(page: Page, clock: OffsetClock) -> str:
    await page.goto("/settings/security/two-step")
    await page.get_by_role("button", name="Set up an authenticator app").click()
    secret = (await page.locator("#totp-secret").inner_text()).replace(" ", "")
    await page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).at(clock.now()))
    await page.get_by_role("button", name="Turn on two-step verification").click()
    await expect(page.get_by_text("recovery codes", exact=False).first).to_be_visible()
    return secret


async def top_up_by_card(page: Page, app: Any, api: AsyncClient) -> None:
    await page.goto("/top-up/card")
    await page.fill("#f-amount", "200.00")
    await page.select_option("select[name=currency]", "EUR")
    await page.fill("#f-number", "4242 4242 4242 4242")
    await page.fill("#f-expiry", "12/99")
    await page.fill("#f-cvc", "123")
    await page.click("form[action='/top-up/card'] button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Top-up approved")
    topup = (await api.get(f"/v1/payments/card-topups/{page.url.rsplit('/', 1)[1]}")).json()
    for response in await deliver_webhooks(app, topup["processor_charge_id"]):
        assert response.status_code == 200, response.text
    await expect(page.locator("h1")).to_have_text("Money added", timeout=10_000)


async def send_to(page: Page, email: str, amount: str, note: str) -> None:
    await page.goto("/send")
    await page.locator("#f-recipient").fill(email)
    await page.locator("#f-amount").fill(amount)
    await page.get_by_label("Note (optional)").fill(note)
    await page.get_by_role("button", name="Review").click()
    await page.get_by_role("button", name=re.compile(r"^Send ")).click()
    await expect(page).to_have_url(re.compile(r"/send/sent/pay_\w+$"))
    await expect(page.locator("main")).to_contain_text(note)


async def exchange_to_dollars(page: Page, amount: str) -> None:
    await page.goto("/exchange")
    await page.get_by_label("You convert").first.fill(amount)
    await page.get_by_label("Into").select_option("USD")
    await expect(page.locator("[data-quote-accept]")).to_be_visible()
    await page.get_by_role("button", name="Accept and convert").click()
    await expect(page.get_by_role("heading", name="Money exchanged")).to_be_visible()


async def add_payee_with_step_up(page: Page, secret: str, clock: OffsetClock) -> None:
    await page.goto("/payees/new")
    await page.fill("#f-name", "Mae Jemison")
    await page.fill("#f-iban", GERMAN_IBAN)
    await page.get_by_role("button", name="Add payee").click()
    if await page.locator("#f-step_up_code").count():
        clock.advance(timedelta(seconds=31))  # a fresh code: the one used to enrol is spent
        await page.select_option("#f-step_up_method", "totp")
        await page.fill("#f-step_up_code", pyotp.TOTP(secret).at(clock.now()))
        await page.get_by_role("button", name="Confirm and add payee").click()
    await expect(page.locator(".flash")).to_have_text("Payee added.")


async def withdraw(page: Page, amount: str) -> None:
    await page.goto("/withdraw")
    await page.locator("#f-payee_id").select_option(index=0)
    await page.fill("#f-amount", amount)
    await page.select_option("select[name=currency]", "EUR")
    await page.get_by_role("button", name="Review").click()
    await page.get_by_role("button", name="Confirm withdrawal").click()
    await expect(page.locator(".flash")).to_contain_text("Withdrawal requested.")


async def statement_rows(page: Page, clock: OffsetClock) -> list[dict[str, str]]:
    await page.goto("/activity/statement")
    today = clock.now().astimezone(UTC).date()
    await page.get_by_label("Start date").fill((today - timedelta(days=1)).isoformat())
    await page.get_by_label("End date").fill(today.isoformat())
    await page.get_by_label("Currency").select_option("EUR")
    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Download CSV").click()
    download = await downloading.value
    return list(csv.DictReader(io.StringIO((await download.path()).read_text("utf-8"))))


async def test_a_new_person_from_sign_up_to_a_statement(
    app: Any,
    app_client: AsyncClient,
    db: Database,
    clock: OffsetClock,
    make_person: PersonFactory,
    open_page: PageFactory,
) -> None:
    rate = await app_client.put("/v1/staff/fx/rates/EUR/USD", json={"rate": "1.08"})
    assert rate.status_code == 200, rate.text
    friend = await make_person(display_name="Grace Hopper")
    email = unique_email("mae")
    page = await open_page(viewport=PHONE)

    await sign_up_and_confirm(page, db, email)
    secret = await turn_on_two_step(page, clock)
    async with api_for(app, await session_of(page)) as api:
        await top_up_by_card(page, app, api)
        after_top_up = (await balances(api))["EUR"]["balance"]
        assert after_top_up > 190_00  # €200 less the card fee

        await send_to(page, friend.email, "25.00", "Moon cake")
        friend_page = await open_page(friend, DESKTOP)
        await friend_page.goto("/activity")
        arrived = friend_page.locator("main li, main tr").filter(has_text="Mae Jemison").first
        await expect(arrived).to_contain_text("+€25.00")
        await shoot(friend_page, "journey-friend-activity-desktop")

        await exchange_to_dollars(page, "50")
        await add_payee_with_step_up(page, secret, clock)
        await withdraw(page, "30")
        await shoot(page, "journey-withdrawal-phone")

        held = await balances(api)
        assert held["USD"]["balance"] > 0
        assert held["EUR"]["held"] >= 30_00
        rows = await statement_rows(page, clock)
    kinds = {row["kind"] for row in rows}
    assert {"card_topup", "p2p", "fx_conversion", "withdrawal"} <= kinds, rows
    assert any(row["note"] == "Moon cake" and row["amount"] == "25.00" for row in rows)
    await assert_ledger_sound(db, LedgerService(clock))
