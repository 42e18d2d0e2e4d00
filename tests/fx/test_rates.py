"""Rates: reading the ECB file, fetching it by URL, which rate is in force (direct, inverse,
cross via EUR), and `convert` for display totals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from finhub.audit.service import AuditContext
from finhub.fx import service
from finhub.fx.errors import InvalidRatesFile, RatesSourceUnavailable
from finhub.fx.models import RateFact, StoredRate
from finhub.fx.rates import EcbDocument, EcbFeed, RateBook, parse_ecb_xml, store_rates
from finhub.kit.clock import OffsetClock
from finhub.kit.db.engine import Connection
from tests.fx.conftest import ECB_DAILY, ecb_document

ECB_URL = "https://rates.example/eurofxref-daily.xml"


def test_the_ecb_file_reads_as_eur_rates_at_publication_time() -> None:
    facts = parse_ecb_xml(ECB_DAILY.read_bytes())
    assert len(facts) == 30  # BGN included: the parser reads; storing drops unknown codes
    usd = next(fact for fact in facts if fact.quote == "USD")
    assert (usd.base, usd.rate, usd.as_of_date) == ("EUR", Decimal("1.0412"), date(2024, 11, 22))
    assert usd.as_of == datetime(2024, 11, 22, 15, 0, tzinfo=UTC)  # 16:00 in Frankfurt
    assert {fact.base for fact in facts} == {"EUR"}


@pytest.mark.parametrize(
    "document",
    [
        b"",
        b"not xml at all",
        b"<gesmes:Envelope xmlns:gesmes='http://www.gesmes.org/xml/2002-08-01'>",
        b"<html><body>Service unavailable</body></html>",
        ECB_DAILY.read_bytes().replace(b"rate='1.0412'", b"rate='abc'"),
        ECB_DAILY.read_bytes().replace(b"rate='1.0412'", b"rate='-1.0412'"),
        ECB_DAILY.read_bytes().replace(b"rate='1.0412'", b"rate='0'"),
        ECB_DAILY.read_bytes().replace(b"currency='USD'", b"currency='usd'"),
        ECB_DAILY.read_bytes().replace(b"time='2024-11-22'", b"time='22.11.2024'"),
        ECB_DAILY.read_bytes().replace(b"<Cube currency", b"<Other currency"),
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
    ],
)
def test_anything_but_an_ecb_document_is_refused(document: bytes) -> None:
    with pytest.raises(InvalidRatesFile):
        parse_ecb_xml(document)


async def test_the_feed_is_fetched_from_its_url() -> None:
    seen: list[str] = []

    def ecb(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=ecb_document(), headers={"content-type": "text/xml"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(ecb)) as client:
        facts = await EcbFeed(ECB_URL, client).fetch()
    assert seen == [ECB_URL]
    assert len(facts) == 30


@pytest.mark.parametrize(
    "answer",
    [
        lambda request: httpx.Response(503, text="down for maintenance"),
        lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused", request=request)),
    ],
)
async def test_a_feed_that_fails_is_unavailable(answer: object) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:  # type: ignore[arg-type]
        with pytest.raises(RatesSourceUnavailable):
            await EcbFeed(ECB_URL, client).fetch()


# --- the rate in force ------------------------------------------------------------------------

DAY = datetime(2024, 11, 22, 15, tzinfo=UTC)


def stored(
    base: str, quote: str, rate: str, as_of: datetime = DAY, source: str = "ecb"
) -> StoredRate:
    return StoredRate(
        f"rate_{base}{quote}", source, base, quote, Decimal(rate), as_of.date(), as_of, as_of
    )


def test_direct_inverse_and_cross_rates() -> None:
    book = RateBook([stored("EUR", "USD", "1.0412"), stored("EUR", "JPY", "161.13")])
    direct = book.mid("EUR", "USD")
    assert direct is not None
    assert (direct.rate, direct.via) == (Decimal("1.0412"), None)
    inverse = book.mid("JPY", "EUR")
    assert inverse is not None
    assert abs(inverse.rate * Decimal("161.13") - 1) < Decimal("1e-18")
    cross = book.mid("USD", "JPY")
    assert cross is not None
    assert cross.via == "EUR"
    assert cross.source == "ecb"
    assert abs(cross.rate - Decimal("161.13") / Decimal("1.0412")) < Decimal("1e-15")
    assert book.mid("USD", "KWD") is None
    assert book.mid("USD", "USD") is None


def test_the_newest_rate_wins_whatever_its_source() -> None:
    later = DAY + timedelta(hours=2)
    book = RateBook(
        [
            stored("EUR", "USD", "1.0412"),
            stored("EUR", "JPY", "161.13"),
            stored("USD", "JPY", "150", as_of=later, source="manual"),  # set for this pair
        ]
    )
    chosen = book.mid("USD", "JPY")
    assert chosen is not None
    assert (chosen.rate, chosen.source, chosen.via) == (
        Decimal("150"),
        "manual",
        None,
    )
    # A stale pair rate loses to a fresher cross rate.
    book = RateBook(
        [
            stored("USD", "JPY", "150", as_of=DAY - timedelta(days=30), source="manual"),
            stored("EUR", "USD", "1.0412"),
            stored("EUR", "JPY", "161.13"),
        ]
    )
    chosen = book.mid("USD", "JPY")
    assert chosen is not None
    assert chosen.via == "EUR"
    # An inverse newer than the direct one wins.
    book = RateBook([stored("EUR", "USD", "1.0412"), stored("USD", "EUR", "0.5", as_of=later)])
    chosen = book.mid("EUR", "USD")
    assert chosen is not None
    assert chosen.rate == Decimal(2)


def test_a_cross_of_two_sources_is_mixed_and_as_old_as_its_oldest_leg() -> None:
    later = DAY + timedelta(days=1)
    book = RateBook(
        [stored("EUR", "USD", "1.0412"), stored("EUR", "KWD", "0.3210", later, "manual")]
    )
    cross = book.mid("USD", "KWD")
    assert cross is not None
    assert (cross.source, cross.as_of) == ("mixed", DAY)


# --- stored rates and convert (in a rolled-back transaction) ----------------------------------
# These use currencies no API test prices (BHD, OMR, CLP), so committed rates don't interfere.


async def test_convert_uses_the_latest_mid_rate_rounded_half_even(
    conn: Connection, clock: OffsetClock
) -> None:
    now = clock.now() + timedelta(days=3650)  # newer than anything committed
    facts = [
        RateFact("EUR", "BHD", Decimal("0.4"), now.date(), now),
        RateFact("EUR", "CLP", Decimal("1000.5"), now.date(), now),
    ]
    assert await store_rates(conn, "manual", facts, now=now, created_by="stf_test") == 2
    # 1.000 BHD = 2.5 EUR = 2501.25 CLP -> 2501 (half-even keeps .25 down).
    assert await service.convert(conn, 1_000, "BHD", "CLP") == 2_501
    # 0.001 BHD = 0.0025 EUR -> 0 cents at half-even (0.25 of a cent).
    assert await service.convert(conn, 1, "BHD", "EUR") == 0
    # 0.002 BHD = 0.005 EUR -> half a cent, to the even 0.
    assert await service.convert(conn, 2, "BHD", "EUR") == 0
    # 0.006 BHD = 0.015 EUR -> 1.5 cents, to the even 2.
    assert await service.convert(conn, 6, "BHD", "EUR") == 2
    assert await service.convert(conn, 500, "EUR", "BHD") == 2_000
    assert await service.convert(conn, 7, "OMR", "EUR") is None  # no rate for OMR
    assert await service.convert(conn, 7, "NOPE", "EUR") is None
    assert await service.convert(conn, 7, "OMR", "OMR") == 7


async def test_the_same_file_twice_stores_nothing_new(conn: Connection, clock: OffsetClock) -> None:
    day = date(1999, 1, 4)  # older than every other test's rates
    document = ecb_document(day).replace(b"'BGN'", b"'XXY'")  # a code no registry knows
    facts = await EcbDocument(document).fetch()
    audit = AuditContext.system("test")
    first = await service.store_import(conn, "ecb", facts, audit, now=clock.now())
    assert (first.rates, first.stored, first.skipped, first.dates) == (29, 29, ["XXY"], [day])
    again = await service.store_import(conn, "ecb", facts, audit, now=clock.now())
    assert (again.rates, again.stored) == (29, 0)
    corrected = [
        RateFact(f.base, f.quote, f.rate + 1, f.as_of_date, f.as_of) if f.quote == "USD" else f
        for f in facts
        if f.quote != "XXY"
    ]
    assert await store_rates(conn, "ecb", corrected, now=clock.now(), created_by=None) == 1
