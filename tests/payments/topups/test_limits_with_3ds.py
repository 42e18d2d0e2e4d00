"""Top-ups waiting on 3-D Secure count toward the top-up limits, so approving a pile of them
later can't get around the daily limit."""

from __future__ import annotations

from typing import Any

from finhub.audit.service import AuditContext
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.payments.limits import LimitSet, set_limits
from tests.payments.topups.support import THREE_D_SECURE, card_token, new_person

CURRENCY = "NOK"  # no other test uses it: its basic-tier limits are set here


async def test_a_second_top_up_waiting_on_3ds_is_over_the_daily_limit(
    app: Any, db: Database, clock: OffsetClock
) -> None:
    async with db.transaction() as conn:
        await set_limits(
            conn,
            AuditContext.system("test"),
            LimitSet("basic", CURRENCY, topup_per_payment=1_000, topup_daily=1_000),
            now=clock.now(),
        )
    person = await new_person(app, db, clock)
    async with person.client:
        token = await card_token(person, THREE_D_SECURE)
        body = {"card_token": token, "amount": 1_000, "currency": CURRENCY}
        first = await person.client.post("/v1/payments/card-topups", json=body)
        assert first.status_code == 201, first.text
        assert first.json()["status"] == "requires_action"
        second = await person.client.post("/v1/payments/card-topups", json=body)
    assert second.status_code == 422, second.text
    assert second.json()["code"] == "limit_exceeded"
    assert second.json()["limit"] == "daily"
