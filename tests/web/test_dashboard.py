"""The dashboard: balances and their total, what is waiting, recent activity, this month's money
in and out and the two charts with their tables, at phone and desktop sizes and in every
language."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.factories import create_user, session_token
from tests.web.conftest import (
    PHONE,
    VIEWPORTS,
    PageFactory,
    PersonFactory,
    assert_accessible,
    shoot,
)
from tests.web.money_story import client_for, tell_story

CHARTS_DRAWN = """() => [...document.querySelectorAll('canvas[data-chart]')]
    .map(canvas => Boolean(window.Chart.getChart(canvas)) && canvas.width > 0)"""


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_the_dashboard_shows_the_whole_wallet(
    size: str,
    open_page: PageFactory,
    make_person: PersonFactory,
    app: Any,
    db: Database,
    clock: OffsetClock,
) -> None:
    story = await tell_story(app, db, clock, make_person)
    page = await open_page(person=story.ada, viewport=VIEWPORTS[size])
    response = await page.goto("/dashboard")
    assert response is not None
    assert response.status == 200
    assert await page.locator("h1").inner_text() == "Hello, Ada"
    # Balances per currency and a total in the home currency.
    balances = page.locator("section[aria-labelledby=total-heading] tbody")
    assert await balances.locator("tr").count() == 2
    assert "€" in await page.locator("[data-total]").inner_text()
    assert "$258.00" in await balances.inner_text()
    assert "€300.00 on hold" in await balances.inner_text()
    # What is waiting: the hold, the unfinished card top-up, Grace's request and the schedule.
    waiting = await page.locator("section[aria-labelledby=pending-heading]").inner_text()
    for expected in (
        "On hold in EUR",
        "Visa •••• 4242",
        "Needs your action",
        "Concert ticket",
        "Book club",
    ):
        assert expected in waiting, expected
    # Recent activity links to each line's page.
    recent = page.locator("section[aria-labelledby=recent-heading] tbody a")
    assert await recent.count() == 8
    assert (await recent.first.get_attribute("href") or "").startswith("/activity/act_")
    # This month and the charts, each with its table.
    assert "€" in await page.locator("[data-month=money_in]").inner_text()
    assert await page.evaluate(CHARTS_DRAWN) == [True, True]
    tables = page.locator("figure details table tbody")
    assert await tables.nth(0).locator("tr").count() == 30
    assert "Sent to people" in (await tables.nth(1).text_content() or "")
    await assert_accessible(page)
    await shoot(page, f"dashboard-home-{size}")


async def test_the_month_matches_the_summary_api(
    open_page: PageFactory, make_person: PersonFactory, app: Any, db: Database, clock: OffsetClock
) -> None:
    story = await tell_story(app, db, clock, make_person)
    async with client_for(app, story.ada) as client:
        summary = (await client.get("/v1/wallets/me/summary")).json()
    page = await open_page(person=story.ada)
    await page.goto("/dashboard")
    money_out = await page.locator("[data-month=money_out]").inner_text()
    expected = summary["month"]["money_out"]["amount"]
    assert money_out == f"€{expected / 100:,.2f}"
    # 42.50 + 0.25 to Grace and 100.00 + 0.50 exchanged, all in EUR.
    assert expected == 42_50 + 25 + 100_00 + 50


async def test_a_recent_line_opens_its_page(
    open_page: PageFactory, make_person: PersonFactory, app: Any, db: Database, clock: OffsetClock
) -> None:
    story = await tell_story(app, db, clock, make_person)
    page = await open_page(person=story.ada, viewport=PHONE)
    await page.goto("/dashboard")
    recent = page.locator("section[aria-labelledby=recent-heading]")
    await recent.get_by_role("link", name="Grace Hopper").first.click()
    await page.wait_for_url("**/activity/act_*")
    assert await page.locator("h1").inner_text() == "Grace Hopper"


@pytest.mark.parametrize(("locale", "heading", "month"), [
    ("zh-Hans", "你好，Ada", "本月"),
    ("th", "สวัสดี Ada", "เดือนนี้"),
])  # fmt: skip
async def test_the_dashboard_in_chinese_and_thai(
    locale: str,
    heading: str,
    month: str,
    open_page: PageFactory,
    make_person: PersonFactory,
    app: Any,
    db: Database,
    clock: OffsetClock,
) -> None:
    story = await tell_story(app, db, clock, make_person, locale=locale)
    page = await open_page(person=story.ada, viewport=PHONE)
    await page.goto("/dashboard")
    assert await page.get_attribute("html", "lang") == locale
    assert await page.locator("h1").inner_text() == heading
    assert await page.locator("#month-heading").inner_text() == month
    assert await page.evaluate(CHARTS_DRAWN) == [True, True]
    await assert_accessible(page)
    await shoot(page, f"dashboard-home-{locale}-phone")


async def test_an_empty_wallet_has_a_calm_dashboard(
    open_page: PageFactory, make_person: PersonFactory
) -> None:
    person = await make_person(display_name="Linus")
    page = await open_page(person=person, viewport=PHONE)
    await page.goto("/dashboard")
    content = await page.locator("main").inner_text()
    assert "Your wallet is empty" in content
    assert "Nothing is waiting" in content
    assert "No money has gone out this month." in content
    assert await page.evaluate(CHARTS_DRAWN) == [True]  # the balance line, flat at zero
    await assert_accessible(page)


async def test_without_a_verified_email_there_is_no_wallet_yet(
    anonymous_client: AsyncClient, db: Database, clock: OffsetClock
) -> None:
    async with db.transaction() as conn:
        user_id = await create_user(conn, display_name="Nova Unverified", status="active")
        await conn.execute("UPDATE users SET email_verified_at = NULL WHERE id = %s", (user_id,))
        token = await session_token(conn, user_id=user_id, clock=clock)
    anonymous_client.cookies.set("fh_session", token)
    response = await anonymous_client.get("/dashboard")
    assert response.status_code == 200
    assert "Your wallet opens once your email address is verified" in response.text


async def test_signed_out_visitors_are_sent_to_sign_in(anonymous_client: AsyncClient) -> None:
    for path in ("/dashboard", "/activity", "/more"):
        response = await anonymous_client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/sign-in?next={path}"
