"""Checks that hold across the web app: redirects stay on this site, typed amounts are read
exactly or refused with a message, never a server error."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from finhub.web.forms import FormError, parse_amount, safe_next
from finhub.web.pages.inbox import link_of
from tests.web.conftest import PersonFactory


async def _csrf_token(client: AsyncClient) -> str:
    page = await client.get("/")
    return page.text.split('name="csrf_token" value="')[1].split('"')[0]


@pytest.mark.parametrize(
    "target", ["//evil.example/", "/\\evil.example/", "https://evil.example/", "/\t/evil.example"]
)
async def test_the_language_switch_never_leaves_the_site(
    anonymous_client: AsyncClient, target: str
) -> None:
    token = await _csrf_token(anonymous_client)
    response = await anonymous_client.post(
        "/language", data={"language": "th", "next": target, "csrf_token": token}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_the_language_switch_goes_back_to_a_local_page(
    anonymous_client: AsyncClient,
) -> None:
    token = await _csrf_token(anonymous_client)
    response = await anonymous_client.post(
        "/language", data={"language": "en", "next": "/sign-in", "csrf_token": token}
    )
    assert response.headers["location"] == "/sign-in"


@pytest.mark.parametrize(
    "value", ["//x.example", "/\\x.example", "http://x.example", "/a\x7fb", "/a\nb", "", "x"]
)
def test_only_local_paths_are_next_pages(value: str) -> None:
    assert safe_next(value) is None


@pytest.mark.parametrize(
    ("text", "minor"),
    [("12.50", 1250), ("12,50", 1250), ("1 234.5", 123450), (".5", 50), ("5.", 500)],
)
def test_amounts_are_read_exactly(text: str, minor: int) -> None:
    assert parse_amount(text, "EUR") == minor


@pytest.mark.parametrize(
    "text",
    [
        "1e999999",  # overflowed the decimal context: a server error before
        "1e-9999999",  # underflowed to zero: sent to the API as 0 before
        "9" * 5000,
        "1_000",
        "nan",
        "1.000000000000000000000000000001",  # rounded to 1.00 before
        "92233720368547758.08",
    ],
)
def test_odd_amounts_are_refused_with_a_message(text: str) -> None:
    with pytest.raises(FormError) as refused:
        parse_amount(text, "EUR")
    assert refused.value.errors["amount"]


@pytest.mark.parametrize(
    ("kind", "data", "href"),
    [
        ("support.replied", {"ticket_id": "tkt_01ABC"}, "/help/tickets/tkt_01ABC"),
        ("payment_request.created", {"payment_request_id": "prq_9z"}, "/request/prq_9z"),
        ("scheduled_payment.failed", {"scheduled_payment_id": "sch_1"}, "/scheduled"),
        ("security.new_sign_in", {"session_id": "ses_1"}, "/settings/security/devices"),
        ("support.replied", {"ticket_id": "../../sign-out"}, None),
        ("support.replied", {}, None),
        ("payment.completed", {"payment_id": "pay_1"}, None),
    ],
)
def test_an_inbox_item_links_to_what_it_is_about(
    kind: str, data: dict[str, str], href: str | None
) -> None:
    assert link_of({"kind": kind, "data": data}) == href


async def test_odd_numbers_in_a_query_or_form_get_a_page_not_a_server_error(
    app: Any, make_person: PersonFactory
) -> None:
    person = await make_person(display_name="Odd Numbers")
    cookies = {"fh_session": person.token}
    transport = ASGITransport(app=app)
    async with AsyncClient(
        transport=transport, base_url="http://finhub.test", cookies=cookies
    ) as c:
        for step in ("\u00b2", "9" * 5000):
            assert (await c.get("/welcome", params={"step": step})).status_code == 200
        form = await c.get("/scheduled/new")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        fields = {"to": "someone@example.com", "amount": "5", "currency": "EUR"}
        fields.update(start_date="2030-01-15", repeat="monthly", count="\u00b2")
        answer = await c.post("/scheduled/new", data={**fields, "csrf_token": token})
        assert answer.status_code == 422
        assert "Enter a whole number from 1 to" in answer.text
