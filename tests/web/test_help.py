"""The help pages: answers to common questions, the contact form that opens a support ticket,
a person's tickets and a ticket's thread with support's answers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from playwright.async_api import expect

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.factories import create_staff, session_token
from tests.web.conftest import PHONE, VIEWPORTS, PageFactory, PersonFactory, WebPerson
from tests.web.shared_support import BASE_URL, check_page, csrf_of, form_value

Client = Callable[..., AsyncClient]
QUESTION = "My card top-up was declined"
DETAILS = "I tried to add 50 EUR with my Visa card twice.\nBoth times it said declined."


@pytest.fixture
async def client_for(app: Any) -> AsyncIterator[Client]:
    """`client_for(token=…)`: the API as a bearer; `client_for(cookie=…)`: the web app as a
    browser with that session cookie."""
    clients: list[AsyncClient] = []

    def make(*, token: str | None = None, cookie: str | None = None) -> AsyncClient:
        client = AsyncClient(
            transport=ASGITransport(app=app),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {token}"} if token else None,
            cookies={"fh_session": cookie} if cookie else None,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def support_token(
    db: Database, settings: Settings, clock: OffsetClock
) -> Callable[[], Awaitable[str]]:
    async def make() -> str:
        async with db.transaction() as conn:
            staff_id = await create_staff(conn, roles=("support",))
            return await session_token(conn, staff_id=staff_id, settings=settings, clock=clock)

    return make


async def open_ticket(api: AsyncClient, subject: str = QUESTION, **changes: Any) -> Any:
    body = {"subject": subject, "category": "cards", "message": DETAILS, **changes}
    response = await api.post("/v1/support/tickets", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def answer(staff: AsyncClient, ticket_id: str, text: str) -> None:
    response = await staff.post(
        f"/v1/staff/support-tickets/{ticket_id}/messages", json={"message": text}
    )
    assert response.status_code == 201, response.text


async def my_tickets(api: AsyncClient) -> list[Any]:
    response = await api.get("/v1/support/tickets")
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


# --- the pages at phone and desktop size --------------------------------------------------------


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_a_visitor_reads_the_answers_and_is_asked_to_sign_in(
    open_page: PageFactory, size: str
) -> None:
    page = await open_page(viewport=VIEWPORTS[size])
    await page.goto("/help")

    await expect(page.get_by_role("heading", level=1)).to_have_text("Help")
    questions = page.locator("details")
    assert 8 <= await questions.count() <= 12
    await questions.filter(has_text="How long do transfers take?").locator("summary").click()
    await expect(page.get_by_text("To another finhub account: instantly")).to_be_visible()
    await expect(page.get_by_role("button", name="Sign in to contact us")).to_be_visible()
    assert await page.locator("form[action='/help']").count() == 0
    await check_page(page, f"help-visitor-{size}")


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_the_help_page_has_a_contact_form_when_signed_in(
    open_page: PageFactory, make_person: PersonFactory, size: str
) -> None:
    person = await make_person(display_name="Grace Hopper")
    page = await open_page(person, viewport=VIEWPORTS[size])
    await page.goto("/help")

    form = page.locator("form[action='/help']")
    await expect(form.get_by_label("Subject")).to_be_visible()
    await expect(form.get_by_label("Topic")).to_have_value("")
    await expect(form.get_by_label("Your message")).to_be_visible()
    await expect(page.get_by_role("link", name="See my support tickets")).to_be_visible()
    await check_page(page, f"help-index-{size}")


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_my_tickets_are_listed_with_their_status(
    open_page: PageFactory,
    make_person: PersonFactory,
    client_for: Client,
    support_token: Callable[[], Awaitable[str]],
    size: str,
) -> None:
    person = await make_person()
    api = client_for(token=person.token)
    first = await open_ticket(api, "Where is my bank top-up?", category="payments")
    await open_ticket(api, "How do I close my account?", category="account")
    await answer(client_for(token=await support_token()), first["id"], "It arrived today.")

    page = await open_page(person, viewport=VIEWPORTS[size])
    await page.goto("/help/tickets")

    tickets = page.locator("[data-ticket]")
    await expect(tickets).to_have_count(2)
    await expect(tickets.nth(0)).to_contain_text("How do I close my account?")
    await expect(tickets.nth(0)).to_contain_text("Waiting for support")
    await expect(tickets.nth(1)).to_contain_text("Where is my bank top-up?")
    await expect(tickets.nth(1)).to_contain_text("Answered")
    await expect(tickets.nth(1)).to_contain_text("Payments and transfers")
    await check_page(page, f"help-tickets-{size}")


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_a_ticket_shows_its_thread_and_a_reply_form(
    open_page: PageFactory,
    make_person: PersonFactory,
    client_for: Client,
    support_token: Callable[[], Awaitable[str]],
    size: str,
) -> None:
    person = await make_person()
    ticket = await open_ticket(client_for(token=person.token))
    await answer(
        client_for(token=await support_token()),
        ticket["id"],
        "Your bank declined the payment.\n\nPlease ask them to allow online payments.",
    )

    page = await open_page(person, viewport=VIEWPORTS[size])
    await page.goto(f"/help/tickets/{ticket['id']}")

    await expect(page.get_by_role("heading", level=1)).to_have_text(QUESTION)
    await expect(page.locator("[data-status]")).to_have_text("Answered")
    messages = page.locator("[data-thread] article")
    await expect(messages).to_have_count(2)
    await expect(messages.nth(0)).to_contain_text("You")
    await expect(messages.nth(0)).to_contain_text("Both times it said declined.")
    await expect(messages.nth(1)).to_contain_text("finhub support")
    await expect(messages.nth(1).locator("p")).to_have_count(2)
    await expect(page.get_by_label("Your reply")).to_be_visible()
    await check_page(page, f"help-thread-{size}")


# --- behaviour ----------------------------------------------------------------------------------


async def test_the_contact_form_opens_a_ticket_support_answers_and_the_person_replies(
    open_page: PageFactory,
    make_person: PersonFactory,
    client_for: Client,
    support_token: Callable[[], Awaitable[str]],
) -> None:
    person = await make_person()
    page = await open_page(person, viewport=PHONE)
    await page.goto("/help")
    await page.get_by_label("Subject").fill(QUESTION)
    await page.get_by_label("Topic").select_option("cards")
    await page.get_by_label("Your message").fill(DETAILS)
    await page.get_by_role("button", name="Send to support").click()

    await expect(page).to_have_url(re.compile(r"/help/tickets/tkt_\w+$"))
    await expect(page.locator(".flash")).to_contain_text("Your message was sent.")
    await expect(page.locator("[data-status]")).to_have_text("Waiting for support")
    ticket_id = page.url.rsplit("/", 1)[1]

    staff = client_for(token=await support_token())
    queue = await staff.get("/v1/staff/support-tickets", params={"status": "open", "limit": 100})
    seen = next(t for t in queue.json()["data"] if t["id"] == ticket_id)
    assert (seen["subject"], seen["category"]) == (QUESTION, "cards")
    assert seen["requester"]["email"] == person.email
    thread = (await staff.get(f"/v1/staff/support-tickets/{ticket_id}")).json()
    assert thread["messages"][0]["body"] == DETAILS
    await answer(staff, ticket_id, "Please check with your bank.")

    await page.reload()
    await expect(page.locator("[data-status]")).to_have_text("Answered")
    await expect(page.locator("[data-author='staff']")).to_contain_text(
        "Please check with your bank."
    )
    await page.get_by_label("Your reply").fill("They say it's fine now. Thanks!")
    await page.get_by_role("button", name="Send reply").click()

    await expect(page.locator(".flash")).to_contain_text("Reply sent.")
    await expect(page.locator("[data-thread] article")).to_have_count(3)
    await expect(page.locator("[data-status]")).to_have_text("Waiting for support")
    inbox = await client_for(token=person.token).get("/v1/me/notifications")
    assert any(n["data"].get("ticket_id") == ticket_id for n in inbox.json()["data"])


async def test_bad_input_is_shown_next_to_the_field_and_opens_no_ticket(
    open_page: PageFactory, make_person: PersonFactory, client_for: Client
) -> None:
    person = await make_person()
    page = await open_page(person, viewport=PHONE)
    await page.goto("/help")
    await page.get_by_label("Subject").fill("   ")
    await page.get_by_label("Your message").fill("Something is wrong with my account.")
    await page.get_by_role("button", name="Send to support").click()

    subject = page.get_by_label("Subject")
    await expect(subject).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#e-subject")).to_have_text("Tell us in a few words what it's about.")
    await expect(page.locator("#e-category")).to_have_text("Choose a topic.")
    await expect(page.get_by_label("Your message")).to_have_value(
        "Something is wrong with my account."
    )
    await expect(page.locator("#form-error")).to_be_visible()
    assert await my_tickets(client_for(token=person.token)) == []


async def test_an_empty_reply_is_refused_and_sends_nothing(
    open_page: PageFactory, make_person: PersonFactory, client_for: Client
) -> None:
    person = await make_person()
    api = client_for(token=person.token)
    ticket = await open_ticket(api)
    page = await open_page(person, viewport=PHONE)
    await page.goto(f"/help/tickets/{ticket['id']}")
    await page.get_by_label("Your reply").fill("  ")
    await page.get_by_role("button", name="Send reply").click()

    await expect(page.locator("#e-message")).to_have_text("Write your message.")
    thread = (await api.get(f"/v1/support/tickets/{ticket['id']}")).json()
    assert thread["message_count"] == 1


async def test_sending_the_contact_form_twice_opens_one_ticket(
    make_person: PersonFactory, client_for: Client
) -> None:
    person = await make_person()
    browser = client_for(cookie=person.token)
    html = (await browser.get("/help")).text
    form = {
        "csrf_token": csrf_of(html),
        "idempotency_key": form_value(html, "idempotency_key"),
        "subject": QUESTION,
        "category": "cards",
        "message": DETAILS,
    }
    first = await browser.post("/help", data=form)
    again = await browser.post("/help", data=form)

    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(await my_tickets(client_for(token=person.token))) == 1


async def test_a_visitor_who_sends_the_form_is_asked_to_sign_in(client_for: Client) -> None:
    browser = client_for()
    html = (await browser.get("/help")).text
    assert 'action="/help"' not in html
    response = await browser.post(
        "/help",
        data={"csrf_token": csrf_of(html), "subject": "x", "category": "other", "message": "y"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/help"


async def test_another_persons_ticket_is_not_shown(
    make_person: PersonFactory, client_for: Client
) -> None:
    owner = await make_person()
    ticket = await open_ticket(client_for(token=owner.token), "A private matter")
    stranger: WebPerson = await make_person()
    browser = client_for(cookie=stranger.token)

    for path in (f"/help/tickets/{ticket['id']}", "/help/tickets/not-a-ticket"):
        page = await browser.get(path)
        assert page.status_code == 404
        assert "A private matter" not in page.text
    html = (await browser.get("/help/tickets")).text
    reply = await browser.post(
        f"/help/tickets/{ticket['id']}",
        data={"csrf_token": csrf_of(html), "message": "Let me in"},
    )
    assert reply.status_code == 404
    thread = (await client_for(token=owner.token).get(f"/v1/support/tickets/{ticket['id']}")).json()
    assert thread["message_count"] == 1
    assert "A private matter" not in html


@pytest.mark.parametrize(
    ("locale", "heading", "faq"),
    [("zh-Hans", "帮助", "转账需要多长时间？"), ("th", "ความช่วยเหลือ", "การโอนเงินใช้เวลานานเท่าไร")],
)
async def test_the_help_pages_speak_the_persons_language(
    make_person: PersonFactory, client_for: Client, locale: str, heading: str, faq: str
) -> None:
    person = await make_person(locale=locale)
    ticket = await open_ticket(client_for(token=person.token))
    browser = client_for(cookie=person.token)

    html = (await browser.get("/help")).text
    assert f"<h1>{heading}</h1>" in html
    assert faq in html
    tickets = (await browser.get("/help/tickets")).text
    assert "Waiting for support" not in tickets
    thread = (await browser.get(f"/help/tickets/{ticket['id']}")).text
    assert "Your reply" not in thread
