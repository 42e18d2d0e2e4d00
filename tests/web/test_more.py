"""The "More" menu: every page without a tab of its own, reachable from the phone's tab bar."""

from __future__ import annotations

import pytest

from tests.web.conftest import (
    PHONE,
    VIEWPORTS,
    PageFactory,
    PersonFactory,
    assert_accessible,
    shoot,
)

LINKS = {
    "Request money": "/request",
    "Top up": "/top-up",
    "Withdraw": "/withdraw",
    "Exchange": "/exchange",
    "Scheduled payments": "/scheduled",
    "Payees": "/payees",
    "Inbox": "/inbox",
    "Settings": "/settings",
    "Help": "/help",
}


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_the_more_menu_links_to_everything_else(
    size: str, open_page: PageFactory, make_person: PersonFactory
) -> None:
    person = await make_person(display_name="Ada Lovelace")
    page = await open_page(person=person, viewport=VIEWPORTS[size])
    await page.goto("/more")
    assert await page.locator("h1").inner_text() == "More"
    main = page.locator("main")
    for label, href in LINKS.items():
        assert await main.get_by_role("link", name=label, exact=True).get_attribute("href") == href
    await assert_accessible(page)
    await shoot(page, f"more-menu-{size}")


async def test_the_tab_bar_opens_the_menu(
    open_page: PageFactory, make_person: PersonFactory
) -> None:
    person = await make_person()
    page = await open_page(person=person, viewport=PHONE)
    await page.goto("/dashboard")
    await page.locator("nav.tab-bar").get_by_role("link", name="More").click()
    await page.wait_for_url("**/more")
    tab = page.locator("nav.tab-bar a[href='/more']")
    assert await tab.get_attribute("aria-current") == "page"


@pytest.mark.parametrize(("locale", "heading", "settings_label"), [
    ("zh-Hans", "更多", "设置"),
    ("th", "เพิ่มเติม", "การตั้งค่า"),
])  # fmt: skip
async def test_the_menu_in_chinese_and_thai(
    locale: str,
    heading: str,
    settings_label: str,
    open_page: PageFactory,
    make_person: PersonFactory,
) -> None:
    person = await make_person(locale=locale)
    page = await open_page(person=person, viewport=PHONE)
    await page.goto("/more")
    assert await page.locator("h1").inner_text() == heading
    assert await page.locator("main").get_by_role("link", name=settings_label).count() == 1
    await assert_accessible(page)
    await shoot(page, f"more-menu-{locale}-phone")
