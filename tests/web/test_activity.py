"""The activity pages: the feed with its filters, search and "Load more", one movement's page,
other people's movements, and statement downloads (CSV and PDF)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from tests.wallets.conftest import pay
from tests.web.conftest import (
    DESKTOP,
    PHONE,
    VIEWPORTS,
    PageFactory,
    PersonFactory,
    assert_accessible,
    shoot,
)
from tests.web.money_story import Story, client_for, tell_story, wallet_of

ROWS = "#activity-rows tr"
LINKS = f"{ROWS} td:first-child a:not([data-load-more])"


@pytest.fixture
async def story(make_person: PersonFactory, app: Any, db: Database, clock: OffsetClock) -> Story:
    return await tell_story(app, db, clock, make_person)


async def row_titles(page: Any) -> list[str]:
    return [
        text.strip() for text in await page.locator(f"{ROWS} td:first-child a").all_inner_texts()
    ]


async def first_line_id(app: Any, story: Story, **params: Any) -> str:
    async with client_for(app, story.ada) as client:
        feed = (await client.get("/v1/wallets/me/activity", params=params)).json()
    line_id: str = feed["data"][0]["id"]
    return line_id


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_the_feed_lists_every_movement(
    size: str, story: Story, open_page: PageFactory
) -> None:
    page = await open_page(person=story.ada, viewport=VIEWPORTS[size])
    response = await page.goto("/activity")
    assert response is not None
    assert response.status == 200
    assert await page.locator("h1").inner_text() == "Activity"
    titles = await row_titles(page)
    assert len(titles) == 8
    assert titles[:3] == ["Visa •••• 4242", "My bank", "Exchange"]
    assert titles[-1] == "ACME Ltd"
    amounts = await page.locator(f"{ROWS} td.money").all_inner_texts()
    for expected in ("-€42.50", "+€2,400.00", "+$108.00"):
        assert expected in amounts
    assert await page.locator("[data-load-more]").count() == 0
    await assert_accessible(page)
    await shoot(page, f"activity-feed-{size}")


async def test_search_and_filters_narrow_the_feed(story: Story, open_page: PageFactory) -> None:
    page = await open_page(person=story.ada, viewport=PHONE)
    await page.goto("/activity")
    await page.get_by_label("Search names and notes").fill("luigi")
    await page.get_by_role("button", name="Search", exact=True).click()
    await page.wait_for_url("**q=luigi**")
    assert await row_titles(page) == ["Grace Hopper"]
    assert "Dinner" not in page.url  # only what was typed is in the address
    # Type, status, currency and dates, through the filter form.
    await page.goto("/activity")
    await page.locator("details summary").click()
    await page.get_by_label("Type").select_option("fx_conversion")
    await page.get_by_role("button", name="Apply filters").click()
    await page.wait_for_url("**kind=fx_conversion**")
    assert await row_titles(page) == ["Exchange", "Exchange"]
    await page.get_by_label("Type").select_option("")
    await page.get_by_label("Currency").select_option("USD")
    await page.get_by_role("button", name="Apply filters").click()
    await page.wait_for_url("**currency=USD**")
    assert await row_titles(page) == ["Exchange", "Visa •••• 4242"]
    await page.get_by_label("Currency").select_option("")
    await page.get_by_label("Status").select_option("processing")
    await page.get_by_role("button", name="Apply filters").click()
    await page.wait_for_url("**status=processing**")
    assert await row_titles(page) == ["My bank"]
    await assert_accessible(page)
    await shoot(page, "activity-filtered-phone")


async def test_a_date_range_and_bad_dates(
    story: Story, anonymous_client: AsyncClient, clock: OffsetClock
) -> None:
    anonymous_client.cookies.set("fh_session", story.ada.token)
    today = clock.now().astimezone(UTC).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    later = await anonymous_client.get("/activity", params={"from": tomorrow})
    assert later.status_code == 200
    assert "Nothing matches these filters." in later.text
    around = await anonymous_client.get(
        "/activity", params={"from": today.isoformat(), "to": tomorrow}
    )
    assert around.text.count('href="/activity/act_') == 8
    wrong = await anonymous_client.get(
        "/activity", params={"from": tomorrow, "to": today.isoformat()}
    )
    assert wrong.status_code == 422
    assert "The end date must be on or after the start date." in wrong.text
    garbled = await anonymous_client.get("/activity", params={"from": "31/12/2026"})
    assert garbled.status_code == 422
    assert 'aria-invalid="true"' in garbled.text
    assert "Enter a date like 2026-01-31." in garbled.text


async def test_load_more_appends_the_next_page(
    story: Story, open_page: PageFactory, db: Database, clock: OffsetClock
) -> None:
    ledger = LedgerService(clock)
    mine, hers = await wallet_of(db, story.ada), await wallet_of(db, story.grace)
    for n in range(15):
        await pay(db, ledger, mine, hers, 1_00 + n, note=f"Coffee {n}")
    page = await open_page(person=story.ada, viewport=DESKTOP)
    await page.goto("/activity")
    assert await page.locator(LINKS).count() == 20
    address = page.url
    await page.locator("[data-load-more]").click()
    await page.locator(LINKS).nth(22).wait_for()
    titles = await row_titles(page)
    assert len(titles) == 23
    hrefs = await page.locator(LINKS).evaluate_all("links => links.map(link => link.href)")
    assert len(set(hrefs)) == 23
    assert titles[-1] == "ACME Ltd"
    assert await page.locator("[data-load-more]").count() == 0
    assert page.url == address
    # Focus moved to the first of the new rows, where reading goes on.
    focused = await page.evaluate("() => document.activeElement.getAttribute('href')")
    assert focused == hrefs[20].removeprefix(page.url.split("/activity")[0])
    await assert_accessible(page)


async def test_load_more_keeps_the_filters(
    story: Story, anonymous_client: AsyncClient, db: Database, clock: OffsetClock
) -> None:
    ledger = LedgerService(clock)
    mine, hers = await wallet_of(db, story.ada), await wallet_of(db, story.grace)
    for n in range(22):
        await pay(db, ledger, mine, hers, 2_00, note=f"Lunch {n}")
    anonymous_client.cookies.set("fh_session", story.ada.token)
    first = await anonymous_client.get("/activity", params={"q": "lunch"})
    more = first.text.split('hx-get="')[1].split('"')[0].replace("&amp;", "&")
    assert more.startswith("/activity?q=lunch&after=act_")
    rest = await anonymous_client.get(more, headers={"HX-Request": "true"})
    assert rest.status_code == 200
    assert "<html" not in rest.text  # just the next rows
    assert rest.text.count("Grace Hopper") == 2


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_one_movements_page(
    size: str, story: Story, open_page: PageFactory, app: Any
) -> None:
    page = await open_page(person=story.ada, viewport=VIEWPORTS[size])
    await page.goto("/activity?q=luigi")
    await page.get_by_role("link", name="Grace Hopper").click()
    await page.wait_for_url("**/activity/act_*")
    assert await page.locator("h1").inner_text() == "Grace Hopper"
    details = await page.locator("main table").inner_text()
    for expected in ("Payment", "Money out", "€42.50", "€0.25", "€42.75", "Dinner at Luigi's"):
        assert expected in details, expected
    assert story.dinner.id in details.replace("\u200b", "")
    assert await page.locator(".big-number").inner_text() == "-€42.50"
    await assert_accessible(page)
    await shoot(page, f"activity-detail-{size}")


async def test_another_persons_movement_is_not_found(
    story: Story, open_page: PageFactory, app: Any, anonymous_client: AsyncClient
) -> None:
    adas_line = await first_line_id(app, story)
    anonymous_client.cookies.set("fh_session", story.grace.token)
    for line_id in (adas_line, "act_00000000000000000000000000", "nonsense", "act_" + "x" * 70):
        response = await anonymous_client.get(f"/activity/{line_id}")
        assert response.status_code == 404, line_id
        assert "find this movement" in response.text
        assert "Visa" not in response.text
    # The same page in the browser (shown with a 200 here: Chromium logs every 404 it loads
    # as a console error, which would fail the test by itself).
    statuses: list[int] = []

    async def as_ok(route: Any) -> None:
        fetched = await route.fetch()
        statuses.append(fetched.status)
        await route.fulfill(response=fetched, status=200)

    page = await open_page(person=story.grace, viewport=PHONE)
    await page.route("**/activity/act_*", as_ok)
    await page.goto(f"/activity/{adas_line}")
    assert statuses == [404]
    assert await page.locator("h1").inner_text() == "We couldn't find this movement"
    await assert_accessible(page)
    await shoot(page, "activity-not-found-phone")


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_the_statement_page(size: str, story: Story, open_page: PageFactory) -> None:
    page = await open_page(person=story.ada, viewport=VIEWPORTS[size])
    await page.goto("/activity")
    await page.get_by_role("button", name="Download a statement").click()
    await page.wait_for_url("**/activity/statement")
    assert await page.locator("h1").inner_text() == "Download a statement"
    currencies = await page.locator("#f-currency option").all_inner_texts()
    assert currencies == ["All currencies", "EUR", "USD"]
    await assert_accessible(page)
    await shoot(page, f"activity-statement-{size}")


async def test_a_csv_statement_downloads_the_period(
    story: Story, open_page: PageFactory, clock: OffsetClock
) -> None:
    page = await open_page(person=story.ada, viewport=PHONE)
    await page.goto("/activity/statement")
    today = clock.now().astimezone(UTC).date()
    await page.get_by_label("Start date").fill((today - timedelta(days=3)).isoformat())
    await page.get_by_label("End date").fill(today.isoformat())
    await page.get_by_label("Currency").select_option("EUR")
    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Download CSV").click()
    download = await downloading.value
    assert download.suggested_filename.endswith(".csv")
    assert "ada" not in download.suggested_filename.lower()
    text = (await download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["currency"] for row in rows} == {"EUR"}
    dinner = next(row for row in rows if row["note"] == "Dinner at Luigi's")
    assert (dinner["direction"], dinner["amount"], dinner["fee"]) == ("out", "42.50", "0.25")
    assert dinner["counterparty"] == "Grace Hopper"
    assert len(rows) == 6  # EUR: salary, dinner, cinema, exchange out, withdrawal, card
    assert page.url.endswith("/activity/statement")  # the page stayed


async def test_a_pdf_statement_and_a_wrong_period(
    story: Story, anonymous_client: AsyncClient, clock: OffsetClock
) -> None:
    anonymous_client.cookies.set("fh_session", story.ada.token)
    today = clock.now().astimezone(UTC).date()
    period = {"from": (today - timedelta(days=40)).isoformat(), "to": today.isoformat()}
    pdf = await anonymous_client.get(
        "/activity/statement", params={**period, "currency": "EUR", "format": "pdf"}
    )
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf.headers["content-disposition"]
    backwards = await anonymous_client.get(
        "/activity/statement", params={"from": period["to"], "to": period["from"], "format": "csv"}
    )
    assert backwards.status_code == 422
    assert "The end date must be on or after the start date." in backwards.text
    empty = await anonymous_client.get("/activity/statement", params={"format": "pdf"})
    assert empty.status_code == 422
    assert "Choose a date." in empty.text


@pytest.mark.parametrize(("locale", "heading"), [("zh-Hans", "动态"), ("th", "รายการเคลื่อนไหว")])
async def test_the_feed_in_chinese_and_thai(
    locale: str,
    heading: str,
    open_page: PageFactory,
    make_person: PersonFactory,
    app: Any,
    db: Database,
    clock: OffsetClock,
) -> None:
    story = await tell_story(app, db, clock, make_person, locale=locale)
    page = await open_page(person=story.ada, viewport=PHONE)
    await page.goto("/activity")
    assert await page.locator("h1").inner_text() == heading
    await assert_accessible(page)
    await shoot(page, f"activity-feed-{locale}-phone")
