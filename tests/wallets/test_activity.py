"""The activity feed through the API: lines, every filter, search, pages, one line's detail,
and other people's ids."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.payments.models import Payment
from tests.wallets.conftest import Holder, HolderFactory, pay, top_up, withdraw_pending


@dataclass
class Story:
    """Ada's wallet after a salary, a dinner she paid for, a refund from Grace, a card top-up
    in dollars and a withdrawal still on its way (five lines, oldest first)."""

    ada: Holder
    grace: Holder
    payments: list[Payment]
    midpoint: datetime  # after the first two lines, before the other three


@pytest.fixture
async def story(
    make_holder: HolderFactory, db: Database, ledger: LedgerService, clock: OffsetClock
) -> Story:
    ada = await make_holder(display_name="Ada Lovelace")
    grace = await make_holder(display_name="Grace Hopper")
    salary = await top_up(db, ledger, ada.wallet, 10_000, counterparty="ACME Bank", note="Salary")
    dinner = await pay(db, ledger, ada.wallet, grace.wallet, 1_500, note="Pizza night", fee=50)
    midpoint = clock.now()
    refund = await pay(
        db, ledger, grace.wallet, ada.wallet, 700, note="100%_refund",
        payer_name="Grace Hopper", payee_name="Ada Lovelace",
    )  # fmt: skip
    card = await top_up(
        db, ledger, ada.wallet, 2_000, currency="USD", kind="card_topup",
        counterparty="Visa 4242", note=None,
    )  # fmt: skip
    withdrawal = await withdraw_pending(db, ledger, ada.wallet, 1_000)
    return Story(ada, grace, [salary, dinner, refund, card, withdrawal], midpoint)


async def feed(holder: Holder, **params: Any) -> dict[str, Any]:
    response = await holder.client.get("/v1/wallets/me/activity", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def payment_ids(holder: Holder, **params: Any) -> list[str]:
    return [line["payment_id"] for line in (await feed(holder, **params))["data"]]


async def test_the_feed_lists_every_line_newest_first(story: Story) -> None:
    body = await feed(story.ada)
    assert body["object"] == "list"
    assert body["has_more"] is False
    assert [line["payment_id"] for line in body["data"]] == [p.id for p in reversed(story.payments)]
    dinner = body["data"][3]
    assert dinner["object"] == "wallet_activity"
    assert dinner["id"].startswith("act_")
    assert (dinner["kind"], dinner["direction"], dinner["status"]) == ("p2p", "out", "completed")
    assert (dinner["amount"], dinner["fee"], dinner["currency"]) == (1_500, 50, "EUR")
    assert (dinner["counterparty"], dinner["note"]) == ("Grace Hopper", "Pizza night")
    # Grace sees her side of the same payments only.
    assert await payment_ids(story.grace) == [story.payments[2].id, story.payments[1].id]


async def test_filter_by_kind_repeatable(story: Story) -> None:
    _salary, dinner, refund, card, withdrawal = story.payments
    assert await payment_ids(story.ada, kind="p2p") == [refund.id, dinner.id]
    both = await payment_ids(story.ada, kind=["card_topup", "withdrawal"])
    assert both == [withdrawal.id, card.id]


async def test_filter_by_direction_status_and_currency(story: Story) -> None:
    salary, dinner, refund, card, withdrawal = story.payments
    assert await payment_ids(story.ada, direction="out") == [withdrawal.id, dinner.id]
    assert await payment_ids(story.ada, status="processing") == [withdrawal.id]
    assert await payment_ids(story.ada, status=["processing", "failed"]) == [withdrawal.id]
    assert await payment_ids(story.ada, currency="USD") == [card.id]
    assert await payment_ids(story.ada, currency="EUR", direction="in") == [refund.id, salary.id]


async def test_filter_by_time_range(story: Story) -> None:
    salary, dinner, refund, card, withdrawal = story.payments
    moment = story.midpoint.isoformat()
    assert await payment_ids(story.ada, created_lt=moment) == [dinner.id, salary.id]
    later = await payment_ids(story.ada, created_gte=moment)
    assert later == [withdrawal.id, card.id, refund.id]
    empty = await payment_ids(story.ada, created_gte=moment, created_lt=moment)
    assert empty == []


async def test_filter_by_amount(story: Story) -> None:
    salary, dinner, refund, card, withdrawal = story.payments
    middle = await payment_ids(story.ada, min_amount=1_000, max_amount=2_000)
    assert middle == [withdrawal.id, card.id, dinner.id]
    assert await payment_ids(story.ada, min_amount=5_000) == [salary.id]
    assert await payment_ids(story.ada, max_amount=700) == [refund.id]


async def test_search_in_notes_and_counterparties(story: Story) -> None:
    salary, dinner, refund, card, _withdrawal = story.payments
    assert await payment_ids(story.ada, q="PIZZA") == [dinner.id]
    assert await payment_ids(story.ada, q="acme bank") == [salary.id]
    assert await payment_ids(story.ada, q="4242") == [card.id]
    assert await payment_ids(story.ada, q="grace") == [refund.id, dinner.id]
    # The search is literal: % and _ match themselves, not anything.
    assert await payment_ids(story.ada, q="%") == [refund.id]
    assert await payment_ids(story.ada, q="0%_r") == [refund.id]
    assert await payment_ids(story.ada, q="_") == [refund.id]
    assert await payment_ids(story.ada, q="nothing like this") == []
    # Search combines with the filters.
    assert await payment_ids(story.ada, q="grace", direction="in") == [refund.id]


async def test_pages_follow_one_another(story: Story) -> None:
    seen: list[str] = []
    starting_after = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if starting_after:
            params["starting_after"] = starting_after
        body = await feed(story.ada, **params)
        pages += 1
        seen.extend(line["payment_id"] for line in body["data"])
        if not body["has_more"]:
            assert body["next_starting_after"] is None
            break
        assert body["next_starting_after"] == body["data"][-1]["id"]
        starting_after = body["next_starting_after"]
    assert pages == 3
    assert seen == [p.id for p in reversed(story.payments)]
    filtered = await feed(story.ada, limit=1, kind="p2p")
    rest = await feed(story.ada, kind="p2p", starting_after=filtered["next_starting_after"])
    assert [line["payment_id"] for line in rest["data"]] == [story.payments[1].id]


async def test_bad_queries_are_422(story: Story) -> None:
    graces_line = (await feed(story.grace))["data"][0]["id"]
    for params, code in (
        ({"starting_after": graces_line}, "invalid_cursor"),
        ({"kind": "gift"}, "validation_error"),
        ({"direction": "sideways"}, "validation_error"),
        ({"status": "lost"}, "validation_error"),
        ({"limit": 0}, "validation_error"),
        ({"limit": 101}, "validation_error"),
        ({"min_amount": -1}, "validation_error"),
        ({"created_gte": "2026-01-01T00:00:00"}, "validation_error"),  # no offset
        ({"q": ""}, "validation_error"),
        ({"q": "x" * 101}, "validation_error"),
    ):
        response = await story.ada.client.get("/v1/wallets/me/activity", params=params)
        assert response.status_code == 422, params
        assert response.json()["code"] == code, params


async def test_one_line_with_its_payment(story: Story) -> None:
    line = (await feed(story.ada, q="pizza"))["data"][0]
    response = await story.ada.client.get(f"/v1/wallets/me/activity/{line['id']}")
    assert response.status_code == 200, response.text
    detail = response.json()
    assert {k: v for k, v in detail.items() if k != "payment"} == line
    payment = detail["payment"]
    assert payment["object"] == "payment"
    assert payment["id"] == story.payments[1].id
    assert payment["counterparty_wallet_id"] == story.grace.wallet.id
    assert payment["fee"] == 50
    assert payment["ledger_transaction_id"] == story.payments[1].ledger_transaction_id


async def test_another_persons_line_is_not_found(story: Story, holder: Holder) -> None:
    graces_line = (await feed(story.grace))["data"][0]["id"]
    for client in (story.ada.client, holder.client):
        response = await client.get(f"/v1/wallets/me/activity/{graces_line}")
        assert response.status_code == 404
        assert response.json()["code"] == "activity_not_found"
    missing = await story.ada.client.get("/v1/wallets/me/activity/act_00000000000000000000000000")
    assert missing.status_code == 404
    assert missing.json()["code"] == "activity_not_found"
    # A stranger's own feed and exports hold nothing of Ada's or Grace's.
    assert (await feed(holder))["data"] == []


async def test_search_stays_fast_on_a_large_wallet(holder: Holder, db: Database) -> None:
    """10,000 lines in one wallet (and the others' lines around it): a search that matches
    nothing reads all of this wallet's lines and must still answer quickly."""
    async with db.transaction() as conn:
        await conn.execute(
            """
            INSERT INTO payments (id, kind, status, wallet_id, amount, currency, note,
                                  created_at, updated_at)
            SELECT 'pay_bench_' || %(wallet)s || '_' || i, 'p2p', 'completed', %(wallet)s,
                   100 + i, 'EUR', 'Groceries ' || i,
                   now() - make_interval(mins => i), now() - make_interval(mins => i)
              FROM generate_series(1, 10000) AS i
            """,
            {"wallet": holder.wallet.id},
        )
        await conn.execute(
            """
            INSERT INTO wallet_activity (id, wallet_id, payment_id, kind, direction, amount,
                                         currency, fee, counterparty, note, status,
                                         created_at, updated_at)
            SELECT 'act_bench_' || p.id, p.wallet_id, p.id, p.kind, 'out', p.amount, p.currency,
                   0, 'Corner Shop ' || (p.amount %% 97), p.note, p.status, p.created_at,
                   p.updated_at
              FROM payments p WHERE p.wallet_id = %(wallet)s
            """,
            {"wallet": holder.wallet.id},
        )
    timings = {}
    for label, params in (
        ("first page", {}),
        ("search, no match", {"q": "no such shop"}),
        ("search, rare match", {"q": "groceries 9999"}),
        ("search + filters", {"q": "corner shop 5", "min_amount": 5_000, "currency": "EUR"}),
    ):
        started = time.perf_counter()
        body = await feed(holder, limit=20, **params)
        timings[label] = time.perf_counter() - started
        if label == "search, rare match":
            assert [line["note"] for line in body["data"]] == ["Groceries 9999"]
        if label == "search, no match":
            assert body["data"] == []
    print({label: f"{seconds * 1000:.1f} ms" for label, seconds in timings.items()})
    assert max(timings.values()) < 1.0, timings
