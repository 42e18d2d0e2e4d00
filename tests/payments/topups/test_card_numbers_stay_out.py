"""The card number is tokenised at the edge: no finhub table, audit record, event or log line
ever holds it, and the CVC is kept nowhere, not even hashed."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from psycopg import sql
from structlog.testing import capture_logs

from finhub.kit.db import Database
from tests.payments.topups.support import Person, card_token, deliver_webhooks, top_up

PAN = "4000000000009979"  # the stolen-card test number: tokenised, then declined
CVC = "731"


async def test_the_card_number_is_in_no_log_line(
    app: Any, person: Person, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with capture_logs() as events:
        token = await card_token(person, PAN, cvc=CVC)
        topup = (await top_up(person, token, 900)).json()
        await deliver_webhooks(app, topup["processor_charge_id"])
        bad = await person.client.post(
            "/v1/payments/card-tokens",
            json={"number": PAN[:-1] + "8", "exp_month": 1, "exp_year": 2099, "cvc": CVC},
        )
        assert bad.status_code == 422
        assert PAN[:-1] not in bad.text
    assert events, "the requests were logged"
    logged = repr(events) + caplog.text
    assert PAN not in logged
    assert PAN[:-1] not in logged
    assert "4000 0000 0000 9979" not in logged


async def test_the_card_number_and_cvc_are_stored_nowhere_readable(
    app: Any, person: Person, db: Database
) -> None:
    token = await card_token(person, PAN, cvc=CVC)
    await top_up(person, token, 900, key="pan-check")
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        tables = [row["table_name"] for row in await cursor.fetchall()]
        holding = []
        for table in tables:
            query = sql.SQL("SELECT count(*) AS n FROM {} t WHERE t::text LIKE %s")
            cursor = await conn.execute(query.format(sql.Identifier(table)), (f"%{PAN}%",))
            row = await cursor.fetchone()
            if row and row["n"]:
                holding.append(table)
        cursor = await conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name IN ('payment_cards', 'card_topups')"
        )
        columns = {row["column_name"] for row in await cursor.fetchall()}
        cursor = await conn.execute(
            "SELECT brand, last4 FROM payment_cards WHERE id = %s", (token,)
        )
        card = await cursor.fetchone()
    assert holding == []
    assert not columns & {"number", "pan", "cvc", "cvv", "cvc_hash", "card_number"}
    assert card == {"brand": "visa", "last4": "9979"}
