"""The inbox page: notifications newest first with the unread ones marked, a payment's
notification arriving, marking one read (the layout's badge follows) or all, and paging."""

from __future__ import annotations

import asyncio
import re

import pytest
from httpx import AsyncClient
from playwright.async_api import Page, expect

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.notifications import inbox
from finhub.notifications.mail import Mailer
from finhub.webhooks.payment_notifications import notify_pending
from tests.web.conftest import (
    DESKTOP,
    PHONE,
    VIEWPORTS,
    PageFactory,
    PersonFactory,
    WebPerson,
    assert_accessible,
    shoot,
)
from tests.web.shared_support import (
    ApiFactory,
    api_clients,  # noqa: F401 (the api_as fixture)
)


async def notify(db: Database, person: WebPerson, title: str, body: str = "", **extra: str) -> str:
    async with db.transaction() as conn:
        return await inbox.notify(
            conn, user_id=person.user_id, kind=extra.get("kind", "security.new_sign_in"),
            title=title, body=body,
        )  # fmt: skip


async def unread_count(api: AsyncClient) -> int:
    count: int = (await api.get("/v1/me/notifications/unread-count")).json()["unread"]
    return count


def badge(page: Page) -> object:
    return page.locator("header a.inbox-link .badge")


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_the_inbox_lists_notifications_newest_first_with_unread_marked(
    viewport: str,
    make_person: PersonFactory,
    open_page: PageFactory,
    api_as: ApiFactory,
    db: Database,
) -> None:
    person = await make_person(display_name="Ina Inbox")
    api = api_as(person)
    first = await notify(db, person, "A new sign-in to your account", "Chromium on Linux.")
    await api.post(f"/v1/me/notifications/{first}/read")
    await notify(db, person, "You received €12.00 from Bo", "Lunch", kind="payment.completed")
    page = await open_page(person, VIEWPORTS[viewport])
    await page.goto("/inbox")
    await expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
    items = page.locator("[data-notification]")
    await expect(items).to_have_count(2)
    await expect(items.nth(0)).to_contain_text("You received €12.00 from Bo")
    await expect(items.nth(0)).to_contain_text("New")
    await expect(items.nth(0)).to_have_attribute("data-unread", "true")
    await expect(items.nth(1)).to_have_attribute("data-unread", "false")
    await expect(items.nth(1).get_by_role("button")).to_have_count(0)
    await expect(badge(page)).to_contain_text("1")
    await assert_accessible(page)
    await shoot(page, f"inbox-index-{viewport}")


async def received_notification_shows(page: Page, title: str, db: Database, mailer: Mailer,
                                      clock: OffsetClock) -> None:  # fmt: skip
    """Run the payment notifications consumer (the worker's job) until the page shows it."""
    for _ in range(100):
        await notify_pending(db, mailer, clock)
        await page.goto("/inbox")
        if await page.get_by_text(title).count():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no notification {title!r} arrived")


async def test_a_payment_notification_arrives_and_marking_it_read_updates_the_badge(
    make_person: PersonFactory,
    open_page: PageFactory,
    api_as: ApiFactory,
    db: Database,
    settings: Settings,
    clock: OffsetClock,
) -> None:
    person = await make_person(display_name="Rae Recipient")
    payer = await make_person(display_name="Pim Payer", balances={"EUR": 100_00})
    await notify(db, person, "Your authenticator app was turned on", kind="factor.totp_enabled")
    sent = await api_as(payer).post(
        "/v1/payments/p2p",
        json={"to": {"email": person.email}, "amount": 12_00, "currency": "EUR", "note": "Lunch"},
    )
    assert sent.status_code == 201, sent.text
    page = await open_page(person, DESKTOP)
    title = "You received €12.00 from Pim Payer"
    await received_notification_shows(page, title, db, Mailer(db, settings, clock=clock), clock)
    await expect(badge(page)).to_have_text(re.compile(r"^2\b"))
    item = page.locator("[data-notification]").filter(has_text=title)
    await item.get_by_role("button", name=re.compile("Mark as read")).click()
    await expect(item).to_have_attribute("data-unread", "false")
    await expect(item).to_be_focused()
    await expect(badge(page)).to_have_text(re.compile(r"^1\b"))
    api = api_as(person)
    assert await unread_count(api) == 1
    await page.get_by_role("button", name="Mark all as read").click()
    await expect(page.locator(".flash")).to_have_text("All notifications are marked as read.")
    await expect(badge(page)).to_have_count(0)
    await expect(page.locator("[data-unread='true']")).to_have_count(0)
    assert await unread_count(api) == 0


async def signed_in(client: AsyncClient, person: WebPerson) -> str:
    """The CSRF token of the person's inbox page, read as a browser would."""
    client.cookies.set("fh_session", person.token)
    page = await client.get("/inbox")
    assert page.status_code == 200
    return page.text.split('name="csrf_token" value="')[1].split('"')[0]


async def test_the_inbox_pages_twenty_at_a_time(
    anonymous_client: AsyncClient, make_person: PersonFactory, db: Database
) -> None:
    person = await make_person(display_name="Pa Ging")
    for number in range(23):
        await notify(db, person, f"Notice number {number}")
    await signed_in(anonymous_client, person)
    first = (await anonymous_client.get("/inbox")).text
    assert first.count("data-notification=") == 20
    assert "Notice number 22" in first
    assert "Notice number 2<" not in first
    older = re.search(r'href="(/inbox\?after=ntf_[^"]+)"', first)
    assert older is not None
    second = (await anonymous_client.get(older.group(1))).text
    assert second.count("data-notification=") == 3
    assert "Notice number 0" in second
    assert 'href="/inbox">Newest' in second


async def test_marking_read_without_htmx_goes_back_to_the_inbox_and_only_for_the_owner(
    anonymous_client: AsyncClient, make_person: PersonFactory, db: Database, api_as: ApiFactory
) -> None:
    owner = await make_person(display_name="Own Er")
    other = await make_person(display_name="Oth Er")
    notification = await notify(db, owner, "Only for the owner")
    token = await signed_in(anonymous_client, other)
    refused = await anonymous_client.post(f"/inbox/{notification}/read", data={"csrf_token": token})
    assert refused.status_code == 404
    assert await unread_count(api_as(owner)) == 1
    token = await signed_in(anonymous_client, owner)
    marked = await anonymous_client.post(f"/inbox/{notification}/read", data={"csrf_token": token})
    assert (marked.status_code, marked.headers["location"]) == (303, "/inbox")
    assert await unread_count(api_as(owner)) == 0


@pytest.mark.parametrize(("language", "heading"), [("zh-Hans", "消息"), ("th", "กล่องข้อความ")])
async def test_the_inbox_speaks_chinese_and_thai_and_tags_english_notices(
    language: str, heading: str, make_person: PersonFactory, open_page: PageFactory, db: Database
) -> None:
    person = await make_person(display_name="Lan", locale=language)
    await notify(db, person, "A new sign-in to your account", "Chromium on Linux.")
    page = await open_page(person, PHONE)
    await page.goto("/inbox")
    await expect(page.locator("html")).to_have_attribute("lang", language)
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    title = page.get_by_role("heading", name="A new sign-in to your account")
    await expect(title).to_have_attribute("lang", "en")
    await assert_accessible(page)
    await shoot(page, f"inbox-index-{language}-phone")
