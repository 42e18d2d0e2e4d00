"""Fee schedules: the maths (half-up rounding, min/max clamps), the lookup with its '*'
fallback, and the staff endpoints with their audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from hypothesis import given
from hypothesis import strategies as st

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.payments.fees import FeeSchedule, compute_fee, fee_for, set_schedule
from tests.payments.scheduled.support import (
    AUDIT,
    client_for,
    person_token,
    rules_app,
    scalar,
    staff_token,
)

# A currency no other test or flow uses: the staff endpoints commit for real.
TEST_CURRENCY = "XFE"


@pytest.fixture(scope="module")
async def app(settings: Settings, database_url: str, clock: OffsetClock) -> AsyncIterator[Any]:
    async with rules_app(settings, database_url, clock) as app:
        yield app


@pytest.fixture
async def app_client(app: Any, admin_token: str) -> AsyncIterator[AsyncClient]:
    async with client_for(app, admin_token) as client:
        yield client


bps_strategy = st.decimals(min_value=0, max_value=10_000, places=4, allow_nan=False)
amounts = st.integers(min_value=1, max_value=2**128 - 1)
fees_minor = st.integers(min_value=0, max_value=10**12)


def schedule(
    fixed: int = 0, bps: Decimal | str = "0", min_fee: int = 0, max_fee: int | None = None
) -> FeeSchedule:
    return FeeSchedule("p2p", "EUR", fixed, Decimal(bps), min_fee, max_fee)


def half_up_share(amount: int, bps: Decimal) -> int:
    """amount * bps / 10 000 rounded half-up, in integers only (bps has ≤ 4 decimals)."""
    scaled_bps = int(bps * 10_000)
    denominator = 10_000 * 10_000
    return (2 * amount * scaled_bps + denominator) // (2 * denominator)


@given(amounts, fees_minor, bps_strategy, fees_minor, st.one_of(st.none(), fees_minor))
def test_fee_is_the_clamped_half_up_formula(
    amount: int, fixed: int, bps: Decimal, low: int, high: int | None
) -> None:
    if high is not None and high < low:
        low, high = high, low
    fee = compute_fee(schedule(fixed, bps, low, high), amount)
    assert isinstance(fee, int)
    assert fee >= 0
    assert fee >= low
    if high is not None:
        assert fee <= high
    expected = max(fixed + half_up_share(amount, bps), low)
    assert fee == (expected if high is None else min(expected, high))


@given(amounts, bps_strategy)
def test_a_larger_amount_never_costs_less(amount: int, bps: Decimal) -> None:
    rule = schedule(25, bps, 50, 5_000)
    assert compute_fee(rule, amount + 1) >= compute_fee(rule, amount)


def test_rounding_is_half_up_to_the_minor_unit() -> None:
    assert compute_fee(schedule(bps="100"), 1_050) == 11  # 10.5 cents → 11
    assert compute_fee(schedule(bps="100"), 1_049) == 10  # 10.49 → 10
    assert compute_fee(schedule(bps="2.5"), 20_000) == 5  # exactly 5
    assert compute_fee(schedule(bps="0.0001"), 50_000_000) == 1  # 0.5 → 1
    assert compute_fee(schedule(fixed=30, bps="150", min_fee=50, max_fee=500), 100) == 50
    assert compute_fee(schedule(fixed=30, bps="150", min_fee=50, max_fee=500), 10_000) == 180
    assert compute_fee(schedule(fixed=30, bps="150", min_fee=50, max_fee=500), 10**9) == 500


async def test_no_schedule_no_fee_and_the_fallback_is_a_percentage(conn: Connection) -> None:
    await conn.execute("DELETE FROM fee_schedules WHERE operation = 'withdrawal'")
    assert await fee_for(conn, "withdrawal", "EUR", 10_000) == 0
    await set_schedule(conn, AUDIT, FeeSchedule("withdrawal", "*", 0, Decimal(50), 0, None),
                       now=OffsetClock().now())  # fmt: skip
    assert await fee_for(conn, "withdrawal", "THB", 10_000) == 50
    await set_schedule(conn, AUDIT, FeeSchedule("withdrawal", "EUR", 100, Decimal(0), 0, None),
                       now=OffsetClock().now())  # fmt: skip
    assert await fee_for(conn, "withdrawal", "EUR", 10_000) == 100  # its own row wins
    assert await fee_for(conn, "withdrawal", "THB", 10_000) == 50


async def test_staff_set_and_list_schedules_and_each_change_is_audited(
    app: Any, app_client: AsyncClient, db: Database
) -> None:
    path = f"/v1/staff/fees/card_topup/{TEST_CURRENCY}"
    first = await app_client.put(path, json={"fixed": 25, "percent_bps": "140.5", "min": 30})
    assert first.status_code == 200, first.text
    assert first.json()["percent_bps"] == "140.5"
    assert first.json()["max"] is None
    second = await app_client.put(path, json={"fixed": 0, "percent_bps": 100, "max": 900})
    assert second.status_code == 200
    listed = (await app_client.get("/v1/staff/fees")).json()["data"]
    mine = [s for s in listed if s["currency"] == TEST_CURRENCY]
    assert mine == [second.json()]
    async with db.connection() as conn:
        assert await fee_for(conn, "card_topup", TEST_CURRENCY, 10_000) == 100
        cursor = await conn.execute(
            "SELECT before, after FROM audit_events WHERE action = 'fees.schedule_changed'"
            " AND object_id = %s ORDER BY seq",
            (f"card_topup/{TEST_CURRENCY}",),
        )
        changes = await cursor.fetchall()
    assert changes[0]["before"] is None
    assert changes[0]["after"] == {"fixed": "25", "percent_bps": "140.5", "min": "30", "max": None}
    assert changes[1]["before"] == changes[0]["after"]
    assert changes[1]["after"]["max"] == "900"


async def test_bad_schedules_are_refused_and_change_nothing(
    app: Any, app_client: AsyncClient, db: Database
) -> None:
    async with db.connection() as conn:
        before = await scalar(conn, "SELECT count(*) FROM fee_schedules")
    for path, body, code in [
        ("/v1/staff/fees/p2p/*", {"fixed": 10}, "invalid_fee_schedule"),
        (f"/v1/staff/fees/p2p/{TEST_CURRENCY}", {"min": 50, "max": 10}, "invalid_fee_schedule"),
        (f"/v1/staff/fees/teleport/{TEST_CURRENCY}", {"fixed": 1}, "unknown_operation"),
        (f"/v1/staff/fees/p2p/{TEST_CURRENCY}", {"fixed": -1}, None),
        (f"/v1/staff/fees/p2p/{TEST_CURRENCY}", {"percent_bps": "10000.5"}, None),
        (f"/v1/staff/fees/p2p/{TEST_CURRENCY}", {"percent_bps": "1.00001"}, None),
        (f"/v1/staff/fees/p2p/{TEST_CURRENCY}", {"surprise": 1}, None),
    ]:
        response = await app_client.put(path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        if code:
            assert response.json()["code"] == code, response.text
    async with db.connection() as conn:
        assert await scalar(conn, "SELECT count(*) FROM fee_schedules") == before


async def test_only_operations_and_admin_change_fees(
    app: Any, db: Database, settings: Settings, anonymous_client: AsyncClient
) -> None:
    path = f"/v1/staff/fees/bank_topup/{TEST_CURRENCY}"
    assert (await anonymous_client.get("/v1/staff/fees")).status_code == 401
    _, support = await staff_token(db, settings, "support")
    _, operations = await staff_token(db, settings, "operations")
    _, person = await person_token(db, settings)
    async with client_for(app, support) as client:
        assert (await client.get("/v1/staff/fees")).status_code == 200
        assert (await client.put(path, json={"fixed": 5})).status_code == 403
    async with client_for(app, person) as client:
        assert (await client.get("/v1/staff/fees")).status_code == 403
        assert (await client.put(path, json={"fixed": 5})).status_code == 403
    async with db.connection() as conn:
        assert await fee_for(conn, "bank_topup", TEST_CURRENCY, 1_000) == 0
    async with client_for(app, operations) as client:
        assert (await client.put(path, json={"fixed": 5})).status_code == 200
    async with db.connection() as conn:
        assert await fee_for(conn, "bank_topup", TEST_CURRENCY, 1_000) == 5
