"""The scheduled payments pages: the list with the rule in words and the last failure,
scheduling a monthly payment in the browser, cancelling it, and field errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from playwright.async_api import Page, expect

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.throttle import Throttle
from finhub.ledger.service import LedgerService
from finhub.notifications.mail import Mailer
from finhub.payments.scheduled.executor import PaymentServices
from finhub.payments.scheduled.service import run_due
from finhub.web.pages.scheduled import describe_rule, repeat_rule
from tests.payments.scheduled.support import FixedClock
from tests.web.conftest import (
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
    answer_step_up,
    api_clients,  # noqa: F401 (the api_as fixture)
    make_step_up_stale,
    set_pin,
)


async def schedule(api: AsyncClient, to: WebPerson, start: datetime, **extra: Any) -> Any:
    body = {
        "type": "p2p",
        "to": {"wallet_id": to.wallet_id},
        "amount": 12_50,
        "currency": "EUR",
        "start_at": start.isoformat(),
        **extra,
    }
    created = await api.post("/v1/payments/scheduled", json=body)
    assert created.status_code == 201, created.text
    return created.json()


async def schedules_of(api: AsyncClient) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await api.get("/v1/payments/scheduled")).json()["data"]
    return data


def later(clock: OffsetClock, days: int) -> datetime:
    """A morning `days` after the server's today (the shared clock may be far ahead)."""
    day = clock.now().astimezone(UTC).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, 8, tzinfo=UTC)


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_the_list_shows_each_schedule_with_its_rule_in_words(
    viewport: str,
    make_person: PersonFactory,
    open_page: PageFactory,
    api_as: ApiFactory,
    clock: OffsetClock,
) -> None:
    payer = await make_person(display_name="Sam Schedule", balances={"EUR": 200_00})
    landlord = await make_person(display_name="Lena Landlord")
    api = api_as(payer)
    start = later(clock, 3)
    await schedule(api, landlord, start, rule="FREQ=MONTHLY", note="Rent")
    await schedule(api, landlord, later(clock, 5), rule="FREQ=WEEKLY;COUNT=4")
    gone = await schedule(api, landlord, later(clock, 6))
    assert (await api.post(f"/v1/payments/scheduled/{gone['id']}/cancel")).status_code == 200
    page = await open_page(payer, VIEWPORTS[viewport])
    await page.goto("/scheduled")
    await expect(page.get_by_role("heading", name="Scheduled payments", exact=True)).to_be_visible()
    articles = page.locator("[data-schedule]")
    await expect(articles).to_have_count(3)
    main = page.locator("main")
    await expect(main).to_contain_text(f"Every month on day {start.day}")
    await expect(main).to_contain_text("4 payments in all")
    await expect(main).to_contain_text("To Lena Landlord")
    await expect(main).to_contain_text("Note: Rent")
    await expect(page.locator("[data-status='canceled'] [data-status-label]")).to_have_text(
        "Canceled"
    )
    await assert_accessible(page)
    await shoot(page, f"scheduled-index-{viewport}")


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_the_new_schedule_form_renders(
    viewport: str, make_person: PersonFactory, open_page: PageFactory, clock: OffsetClock
) -> None:
    person = await make_person(display_name="Fay Form", balances={"EUR": 10_00})
    page = await open_page(person, VIEWPORTS[viewport])
    await page.goto("/scheduled/new")
    await expect(page.get_by_role("heading", name="Schedule a payment")).to_be_visible()
    today = clock.now().astimezone(UTC).date().isoformat()
    await expect(page.get_by_label("First payment on")).to_have_value(today)
    await expect(page.get_by_label("Once")).to_be_checked()
    await assert_accessible(page)
    await shoot(page, f"scheduled-new-{viewport}")


async def fill_schedule(page: Page, to: str, amount: str, start: date) -> None:
    await page.goto("/scheduled/new")
    await page.locator("#f-to").fill(to)
    await page.locator("#f-amount").fill(amount)
    await page.get_by_label("Note (optional)").fill("Pocket money")
    await page.get_by_label("First payment on").fill(start.isoformat())


async def submit(page: Page) -> None:
    """Send the form and wait until the answer has settled: after a boosted swap the layout
    moves focus to the main content, so keys typed before then would land there."""
    await page.get_by_role("button", name="Schedule payment").click()
    await expect(page.locator("#main")).to_be_focused()


async def test_a_monthly_payment_scheduled_in_the_browser_is_listed_and_can_be_canceled(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory, clock: OffsetClock
) -> None:
    parent = await make_person(display_name="Pat Parent", balances={"EUR": 300_00})
    child = await make_person(display_name="Kit Child")
    api = api_as(parent)
    start = later(clock, 4).date()
    page = await open_page(parent, PHONE)
    await fill_schedule(page, child.email, "20", start)
    await page.get_by_label("Every month").check()
    await page.get_by_label("Or after this many payments").fill("12")
    await page.get_by_role("button", name="Schedule payment").click()
    await expect(page.locator(".flash")).to_have_text("Payment scheduled.")
    [created] = await schedules_of(api)
    assert (created["amount"], created["currency"], created["note"]) == (
        20_00,
        "EUR",
        "Pocket money",
    )
    assert created["to"]["wallet_id"] == child.wallet_id
    assert created["rule"] == repeat_rule("monthly", start, 12)
    assert datetime.fromisoformat(created["start_at"]) == later(clock, 4)
    article = page.locator(f"[data-schedule='{created['id']}']")
    await expect(article).to_contain_text("To Kit Child")
    await expect(article).to_contain_text("12 payments in all")
    await expect(article).to_contain_text("Active")
    await article.get_by_text("Cancel this payment").click()
    await article.get_by_role("button", name="Yes, cancel it").click()
    await expect(page.locator(".flash")).to_have_text("Scheduled payment canceled.")
    canceled = page.locator(f"[data-schedule='{created['id']}']")
    await expect(canceled.locator("[data-status-label]")).to_have_text("Canceled")
    await expect(canceled.get_by_text("Cancel this payment")).to_have_count(0)
    [after] = await schedules_of(api)
    assert after["status"] == "canceled"


async def test_bad_input_is_explained_next_to_each_field_and_nothing_is_scheduled(
    make_person: PersonFactory, open_page: PageFactory, api_as: ApiFactory, clock: OffsetClock
) -> None:
    person = await make_person(display_name="Err Ol", balances={"EUR": 50_00})
    friend = await make_person(display_name="Fren D")
    api = api_as(person)
    page = await open_page(person, PHONE)
    await fill_schedule(page, friend.email, "5", later(clock, 2).date())
    await page.get_by_label("Every week").check()
    await page.get_by_label("Last payment on or before").fill(later(clock, 30).date().isoformat())
    await page.get_by_label("Or after this many payments").fill("3")
    await submit(page)
    await expect(page.locator("#e-count")).to_have_text(
        "Give an end date or a number of payments, not both."
    )
    await expect(page.get_by_label("Or after this many payments")).to_have_attribute(
        "aria-invalid", "true"
    )
    await page.get_by_label("Or after this many payments").fill("")
    await page.get_by_label("First payment on").fill(later(clock, -2).date().isoformat())
    await submit(page)
    await expect(page.locator("#e-start_date")).to_have_text("Choose a date from today on.")
    await page.get_by_label("First payment on").fill(later(clock, 2).date().isoformat())
    await page.locator("#f-to").fill("@nobody_here_at_all")
    await submit(page)
    await expect(page.locator("#e-to")).to_contain_text("We couldn't find anyone")
    await expect(page.get_by_label("Note (optional)")).to_have_value("Pocket money")
    assert await schedules_of(api) == []


async def test_a_failed_payment_shows_as_the_last_failure(
    make_person: PersonFactory,
    open_page: PageFactory,
    api_as: ApiFactory,
    clock: OffsetClock,
    db: Database,
    settings: Settings,
) -> None:
    broke = await make_person(display_name="Bo Broke", balances={"EUR": 1_00})
    friend = await make_person(display_name="Fi Friend")
    api = api_as(broke)
    start = later(clock, 1)
    created = await schedule(api, friend, start, rule="FREQ=WEEKLY")
    at = FixedClock(start + timedelta(minutes=1))  # the runner's own clock, a day ahead
    report = await run_due(
        db, at, PaymentServices(LedgerService(at), Throttle(db)), Mailer(db, settings, clock=at)
    )
    assert report.retrying >= 1
    page = await open_page(broke, PHONE)
    await page.goto("/scheduled")
    failure = page.locator(f"[data-schedule='{created['id']}'] [data-failure]")
    await expect(failure).to_contain_text("Last payment failed")
    await expect(failure).to_contain_text("You don't have enough money for this")
    await expect(failure).to_contain_text("We'll try again")


def test_rules_read_as_words() -> None:
    start = "2027-01-31T08:00:00+00:00"
    assert describe_rule(None, start, None) == ["Once"]
    assert describe_rule("FREQ=MONTHLY;BYMONTHDAY=-1", start, None) == [
        "Every month on the last day"
    ]
    assert describe_rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;COUNT=1", start, None) == [
        "Every 2 weeks on Monday, Friday",
        "1 payment in all",
    ]
    assert describe_rule("FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1", start, None) == [
        "Every month on day 30, or its last day if shorter"
    ]
    assert describe_rule("FREQ=DAILY", start, "2027-03-01T23:59:59+00:00") == [
        "Every day",
        "Until Mar 1, 2027",
    ]
    assert describe_rule("FREQ=MONTHLY;BYDAY=1MO", start, None) == [
        "Custom rule: FREQ=MONTHLY;BYDAY=1MO"
    ]


def test_monthly_rules_keep_to_the_end_of_short_months() -> None:
    assert repeat_rule("monthly", date(2027, 1, 15), None) == "FREQ=MONTHLY"
    assert repeat_rule("monthly", date(2027, 1, 31), 3) == "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=3"
    assert (
        repeat_rule("monthly", date(2027, 1, 30), None)
        == "FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1"
    )
    assert repeat_rule("weekly", date(2027, 1, 30), 2) == "FREQ=WEEKLY;COUNT=2"


@pytest.mark.parametrize(
    ("language", "heading", "monthly"),
    [("zh-Hans", "预约付款", "每月 {day} 日"), ("th", "การชำระเงินตามกำหนด", "ทุกเดือน วันที่ {day}")],
)
async def test_the_scheduled_pages_speak_chinese_and_thai(
    language: str,
    heading: str,
    monthly: str,
    make_person: PersonFactory,
    open_page: PageFactory,
    api_as: ApiFactory,
    clock: OffsetClock,
) -> None:
    person = await make_person(display_name="Som", balances={"EUR": 90_00}, locale=language)
    friend = await make_person(display_name="Nok")
    start = later(clock, 2)
    await schedule(api_as(person), friend, start, rule="FREQ=MONTHLY;COUNT=3")
    page = await open_page(person, PHONE)
    await page.goto("/scheduled")
    await expect(page.locator("html")).to_have_attribute("lang", language)
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    await expect(page.locator("main")).to_contain_text(monthly.format(day=start.day))
    await assert_accessible(page)
    await shoot(page, f"scheduled-index-{language}-phone")
    await page.goto("/scheduled/new")
    await assert_accessible(page)
    await shoot(page, f"scheduled-new-{language}-phone")


async def test_a_large_payment_asks_to_confirm_it_is_you_first(
    make_person: PersonFactory,
    open_page: PageFactory,
    api_as: ApiFactory,
    app: Any,
    clock: OffsetClock,
    db: Database,
) -> None:
    person = await make_person(display_name="Big Spender", balances={"EUR": 2_000_00})
    friend = await make_person(display_name="Lucky Friend")
    api = api_as(person)
    await set_pin(app, person)
    await make_step_up_stale(db, person)
    page = await open_page(person, PHONE)
    await fill_schedule(page, friend.email, "600", later(clock, 3).date())
    await submit(page)
    await expect(page.get_by_role("group", name="Confirm it's you")).to_be_visible()
    assert await schedules_of(api) == []
    await answer_step_up(page)
    await page.get_by_role("button", name="Schedule payment").click()
    await expect(page.locator(".flash")).to_have_text("Payment scheduled.")
    [created] = await schedules_of(api)
    assert (created["amount"], created["to"]["wallet_id"]) == (600_00, friend.wallet_id)
