"""Quotes and conversions through the API: the maths for EUR, USD, JPY and KWD, the spread,
expiry, accepting once, another person's quote, insufficient funds, and the ledger
transaction balancing per currency with the rounding account."""

from __future__ import annotations

from collections import defaultdict
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from httpx import ASGITransport, AsyncClient

from finhub.audit.service import AuditContext
from finhub.fx.quotes import QUOTE_TTL
from finhub.identity.api_keys.models import NewKey
from finhub.identity.api_keys.service import create_key
from finhub.identity.principal import Principal
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.payments.fees import fee_for
from tests.fx.conftest import MakePerson, balance, scalar, set_rate

QUOTES = "/v1/fx/quotes"


@asynccontextmanager
async def spread(staff: AsyncClient, bps: int) -> Any:
    """The spread set to `bps` for the block, then back to what it was."""
    before = (await staff.get("/v1/staff/fx/settings")).json()["spread_bps"]
    assert (await staff.patch("/v1/staff/fx/settings", json={"spread_bps": bps})).is_success
    try:
        yield
    finally:
        await staff.patch("/v1/staff/fx/settings", json={"spread_bps": before})


async def transaction_entries(db: Database, transaction_id: str) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            """
            SELECT e.account_id, e.direction, e.amount, e.asset, a.external_ref
            FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
            WHERE e.transaction_id = %s
            """,
            (transaction_id,),
        )
        return list(await cursor.fetchall())


def net_by_asset(entries: list[dict[str, Any]]) -> dict[str, int]:
    net: dict[str, int] = defaultdict(int)
    for entry in entries:
        amount = int(entry["amount"])
        net[entry["asset"]] += amount if entry["direction"] == "debit" else -amount
    return dict(net)


def moved(entries: list[dict[str, Any]], external_ref_prefix: str) -> int:
    """Credits minus debits on the accounts whose reference starts with the prefix."""
    total = 0
    for entry in entries:
        if (entry["external_ref"] or "").startswith(external_ref_prefix):
            amount = int(entry["amount"])
            total += amount if entry["direction"] == "credit" else -amount
    return total


async def ledger_is_sound(db: Database, clock: OffsetClock) -> bool:
    async with db.transaction() as conn:
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        report = await LedgerService(clock).verify(conn)
    return report.ok


async def test_convert_eur_to_usd_end_to_end(
    app_client: AsyncClient, make_person: MakePerson, db: Database, clock: OffsetClock
) -> None:
    await set_rate(app_client, "EUR", "USD", "1.1")
    person = await make_person(EUR=20_000)
    async with spread(app_client, 50):
        response = await person.post(QUOTES, {"sell_currency": "EUR", "buy_currency": "USD",
                                              "sell_amount": 10_000})  # fmt: skip
    assert response.status_code == 201, response.text
    quote = response.json()
    assert quote["id"].startswith("qte_")
    assert (quote["status"], quote["rate"], quote["mid_rate"]) == ("open", "1.0945", "1.1")
    async with db.connection() as conn:  # no fx fee is seeded, but staff may set one
        fee = await fee_for(conn, "fx_conversion", "EUR", 10_000)
    assert (quote["sell_amount"], quote["fee"], quote["total_debit"]) == (10_000, fee, 10_000 + fee)
    assert quote["buy_amount"] == 10_945
    assert (quote["spread_bps"], quote["rate_source"]) == (50, "manual")
    created = datetime.fromisoformat(quote["created_at"])
    assert datetime.fromisoformat(quote["expires_at"]) - created == QUOTE_TTL

    accepted = await person.post(f"{QUOTES}/{quote['id']}/accept", key="convert-1")
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "accepted"
    payment = body["payment"]
    assert (payment["kind"], payment["status"]) == ("fx_conversion", "completed")
    assert (payment["amount"], payment["currency"], payment["fee"]) == (10_000, "EUR", fee)
    assert payment["metadata"]["quote_id"] == quote["id"]
    assert await balance(db, person.wallet, "EUR") == 10_000 - fee
    assert await balance(db, person.wallet, "USD") == 10_945

    lines = await _activity(db, payment["id"])
    assert lines == [("in", 10_945, "USD"), ("out", 10_000, "EUR")]
    entries = await transaction_entries(db, payment["ledger_transaction_id"])
    assert net_by_asset(entries) == {"EUR": 0, "USD": 0}
    assert moved(entries, "system:fx_position:EUR") == 10_000
    assert moved(entries, "system:fx_position:USD") < 0

    replay = await person.post(f"{QUOTES}/{quote['id']}/accept", key="convert-1")
    assert replay.json() == body
    twice = await person.post(f"{QUOTES}/{quote['id']}/accept")
    assert twice.status_code == 409
    assert twice.json()["code"] == "quote_already_accepted"
    assert await balance(db, person.wallet, "USD") == 10_945
    assert await ledger_is_sound(db, clock)


async def _activity(db: Database, payment_id: str) -> list[tuple[str, int, str]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT direction, amount, currency FROM wallet_activity WHERE payment_id = %s"
            " ORDER BY direction",
            (payment_id,),
        )
        return [(r["direction"], int(r["amount"]), r["currency"]) for r in await cursor.fetchall()]


async def _quote(person: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = await person.post(QUOTES, body)
    assert response.status_code == 201, response.text
    quote: dict[str, Any] = response.json()
    return quote


async def test_quote_maths_for_jpy_and_kwd(
    app_client: AsyncClient, make_person: MakePerson
) -> None:
    await set_rate(app_client, "EUR", "JPY", "161.13")
    await set_rate(app_client, "EUR", "KWD", "0.3210")
    person = await make_person()
    async with spread(app_client, 50):
        # 10.01 EUR at 160.32435 = 1604.8467435 JPY: 1604 (yen have no minor unit).
        jpy = await _quote(person, {"sell_currency": "EUR", "buy_currency": "JPY",
                                    "sell_amount": 1_001})  # fmt: skip
        # Exactly 5000 JPY: 31.19 EUR is the least that buys it.
        exact = await _quote(person, {"sell_currency": "EUR", "buy_currency": "JPY",
                                      "buy_amount": 5_000})  # fmt: skip
        # 100.00 EUR at 0.319395 = 31.9395 KWD: 31.939 (fils are thousandths).
        kwd = await _quote(person, {"sell_currency": "EUR", "buy_currency": "KWD",
                                    "sell_amount": 10_000})  # fmt: skip
        # 100000 JPY to KWD crosses via EUR: 0.3210 / 161.13 less 50 bps, cut to 10 digits.
        cross = await _quote(person, {"sell_currency": "JPY", "buy_currency": "KWD",
                                      "sell_amount": 100_000})  # fmt: skip
    assert (jpy["rate"], jpy["buy_amount"]) == ("160.32435", 1_604)
    assert (exact["sell_amount"], exact["buy_amount"]) == (3_119, 5_000)
    assert (kwd["rate"], kwd["buy_amount"]) == ("0.319395", 31_939)
    assert (cross["rate"], cross["buy_amount"]) == ("0.001982219326", 198_221)
    assert cross["rate_source"] == "manual via EUR"


async def test_the_spread_is_taken_off_the_mid_rate(
    app_client: AsyncClient, make_person: MakePerson
) -> None:
    await set_rate(app_client, "EUR", "USD", "1.1")
    person = await make_person()
    body = {"sell_currency": "EUR", "buy_currency": "USD", "sell_amount": 10_000}
    async with spread(app_client, 0):
        none = await _quote(person, body)
    async with spread(app_client, 100):
        one_percent = await _quote(person, body)
    assert (none["rate"], none["buy_amount"]) == ("1.1", 11_000)
    assert (one_percent["rate"], one_percent["buy_amount"]) == ("1.089", 10_890)
    # The other way round the customer also gets less than mid.
    async with spread(app_client, 100):
        back = await _quote(person, {"sell_currency": "USD", "buy_currency": "EUR",
                                     "sell_amount": 11_000})  # fmt: skip
    assert back["buy_amount"] == 9_900


async def test_an_expired_quote_cannot_be_accepted(
    app_client: AsyncClient, make_person: MakePerson, db: Database, clock: OffsetClock
) -> None:
    await set_rate(app_client, "EUR", "USD", "1.1")
    person = await make_person(EUR=10_000)
    quote = await _quote(person, {"sell_currency": "EUR", "buy_currency": "USD",
                                  "sell_amount": 5_000})  # fmt: skip
    clock.advance(QUOTE_TTL + timedelta(seconds=1))
    response = await person.post(f"{QUOTES}/{quote['id']}/accept", key="late")
    assert response.status_code == 422
    assert response.json()["code"] == "quote_expired"
    assert await balance(db, person.wallet, "EUR") == 10_000
    assert await balance(db, person.wallet, "USD") == 0
    shown = await person.client.get(f"{QUOTES}/{quote['id']}")
    assert shown.json()["status"] == "expired"


async def test_another_persons_quote_is_not_found(
    app_client: AsyncClient, make_person: MakePerson, db: Database
) -> None:
    await set_rate(app_client, "EUR", "USD", "1.1")
    owner = await make_person(EUR=10_000)
    intruder = await make_person(EUR=10_000)
    quote = await _quote(owner, {"sell_currency": "EUR", "buy_currency": "USD",
                                 "sell_amount": 5_000})  # fmt: skip
    for response in (
        await intruder.client.get(f"{QUOTES}/{quote['id']}"),
        await intruder.post(f"{QUOTES}/{quote['id']}/accept"),
        await intruder.post(f"{QUOTES}/qte_01J00000000000000000000000/accept"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "quote_not_found"
    assert await balance(db, owner.wallet, "EUR") == 10_000
    assert await balance(db, intruder.wallet, "EUR") == 10_000
    assert (await owner.client.get(f"{QUOTES}/{quote['id']}")).json()["status"] == "open"


async def test_insufficient_funds_records_nothing(
    app_client: AsyncClient, make_person: MakePerson, db: Database
) -> None:
    await set_rate(app_client, "EUR", "JPY", "161.13")
    person = await make_person(EUR=999)
    quote = await _quote(person, {"sell_currency": "EUR", "buy_currency": "JPY",
                                  "sell_amount": 1_001})  # fmt: skip
    carry_before = await _carry(db, "JPY")
    response = await person.post(f"{QUOTES}/{quote['id']}/accept", key="short")
    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_funds"
    payments = await scalar(
        db, "SELECT count(*) FROM payments WHERE wallet_id = %s", person.wallet.id
    )
    assert payments == 0
    assert await balance(db, person.wallet, "EUR") == 999
    assert await _carry(db, "JPY") == carry_before
    assert (await person.client.get(f"{QUOTES}/{quote['id']}")).json()["status"] == "open"


async def _carry(db: Database, currency: str) -> Decimal:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT carry FROM fx_rounding_carry WHERE currency = %s", (currency,)
        )
        row = await cursor.fetchone()
    return row["carry"] if row else Decimal(0)


async def test_rounding_remainders_reach_the_rounding_account(
    app_client: AsyncClient, make_person: MakePerson, db: Database, clock: OffsetClock
) -> None:
    """Two conversions each withhold 0.8467435 yen; together they pass at least one whole
    yen, which goes to the rounding account. Remainders = rounding account + carry change."""
    await set_rate(app_client, "EUR", "JPY", "161.13")
    person = await make_person(EUR=10_000)
    carry_before = await _carry(db, "JPY")
    to_rounding, remainders = 0, Decimal(0)
    async with spread(app_client, 50):
        for attempt in range(2):
            quote = await _quote(person, {"sell_currency": "EUR", "buy_currency": "JPY",
                                          "sell_amount": 1_001})  # fmt: skip
            remainder = await scalar(
                db, "SELECT remainder FROM fx_quotes WHERE id = %s", quote["id"]
            )
            assert remainder == Decimal("0.8467435")
            accepted = await person.post(f"{QUOTES}/{quote['id']}/accept", key=f"r{attempt}")
            assert accepted.status_code == 200, accepted.text
            transaction_id = accepted.json()["payment"]["ledger_transaction_id"]
            entries = await transaction_entries(db, transaction_id)
            assert net_by_asset(entries) == {"EUR": 0, "JPY": 0}
            assert moved(entries, f"wallet:{person.wallet.id}:JPY") == 1_604
            to_rounding += moved(entries, "system:rounding:JPY")
            remainders += remainder
    assert to_rounding >= 1
    assert to_rounding + await _carry(db, "JPY") == carry_before + remainders
    assert await balance(db, person.wallet, "JPY") == 2 * 1_604
    assert await ledger_is_sound(db, clock)


async def test_quotes_are_checked(app_client: AsyncClient, make_person: MakePerson) -> None:
    await set_rate(app_client, "EUR", "JPY", "161.13")
    person = await make_person()
    for body, code in (
        ({"sell_currency": "EUR", "buy_currency": "EUR", "sell_amount": 1}, "same_currency"),
        ({"sell_currency": "EUR", "buy_currency": "OMR", "sell_amount": 100}, "rate_unavailable"),
        ({"sell_currency": "EUR", "buy_currency": "ZZZ", "sell_amount": 100}, "unknown_asset"),
        ({"sell_currency": "JPY", "buy_currency": "EUR", "sell_amount": 1}, "amount_too_small"),
        ({"sell_currency": "EUR", "buy_currency": "JPY"}, "validation_error"),
        ({"sell_currency": "EUR", "buy_currency": "JPY", "sell_amount": 1, "buy_amount": 1},
         "validation_error"),
        ({"sell_currency": "EUR", "buy_currency": "JPY", "sell_amount": 0}, "validation_error"),
        ({"sell_currency": "EUR", "buy_currency": "JPY", "sell_amount": 1.5},
         "validation_error"),
    ):  # fmt: skip
        response = await person.post(QUOTES, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] == code, body


async def test_a_conversion_over_the_limit_is_refused(
    app_client: AsyncClient, make_person: MakePerson, db: Database
) -> None:
    await set_rate(app_client, "EUR", "USD", "1.1")
    person = await make_person(EUR=500_000)  # basic tier: at most 1 000 EUR per payment
    quote = await _quote(person, {"sell_currency": "EUR", "buy_currency": "USD",
                                  "sell_amount": 150_000})  # fmt: skip
    response = await person.post(f"{QUOTES}/{quote['id']}/accept")
    assert response.status_code == 422
    assert response.json()["code"] == "limit_exceeded"
    assert await balance(db, person.wallet, "EUR") == 500_000
    assert await balance(db, person.wallet, "USD") == 0


async def test_api_keys_need_the_payments_scopes(
    app: Any, app_client: AsyncClient, make_person: MakePerson, db: Database, clock: OffsetClock
) -> None:
    await set_rate(app_client, "EUR", "USD", "1.1")
    person = await make_person(EUR=10_000)
    body = {"sell_currency": "EUR", "buy_currency": "USD", "sell_amount": 1_000}
    for scopes, status in ((["payments:read"], 403), (["payments:write"], 201)):
        async with db.transaction() as conn:
            issued = await create_key(
                conn,
                AuditContext.system("test"),
                Principal(kind="user", id=person.user_id, user_id=person.user_id),
                NewKey(name="fx test", mode="test", scopes=scopes),
                now=clock.now(),
            )
        async with AsyncClient(
            transport=ASGITransport(app=app),
            base_url="http://finhub.test",
            headers={"Authorization": f"Bearer {issued.secret}"},
        ) as client:
            response = await client.post(QUOTES, json=body)
        assert response.status_code == status, response.text
