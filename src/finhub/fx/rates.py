"""Where exchange rates come from (the `RatesSource` port) and which rate is in force.

Sources: the ECB's daily euro foreign exchange reference rates (an XML document, read from a
file or fetched from a URL) and rates set by staff. Every source yields `RateFact`s; storing
them is the same for all (`import_rates`). The rate in force for a pair is the newest one
known, whatever its source, taken directly, inverted, or crossed via EUR (the ECB publishes
EUR -> X only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information

from finhub.fx import repository
from finhub.fx.errors import InvalidRatesFile, RatesSourceUnavailable
from finhub.fx.models import MidRate, RateFact, StoredRate
from finhub.kit.db.engine import Connection
from finhub.kit.money import EXACT

ECB_DAILY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
ECB_NAMESPACE = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
GESMES_NAMESPACE = "http://www.gesmes.org/xml/2002-08-01"
# The ECB fixes its reference rates at 14:10 and publishes them around 16:00 Frankfurt time.
ECB_PUBLICATION = time(16, 0)
FRANKFURT = ZoneInfo("Europe/Berlin")
MAX_DOCUMENT_BYTES = 16_000_000  # a daily file is 2 KB; the history since 1999 a few MB
PIVOT = "EUR"
CURRENCY_CODE = re.compile(r"[A-Z]{3}")
# Mid rates derived by inversion or crossing are kept to this many significant digits.
MID_RATE_CONTEXT = Context(prec=20, rounding=ROUND_HALF_EVEN)


class RatesSource(Protocol):
    """Anything that can tell today's rates: the ECB feed, a file, a staff member."""

    @property
    def name(self) -> str:
        """Stored with each rate: `ecb` or `manual`."""
        ...

    async def fetch(self) -> list[RateFact]: ...


# --- the ECB reference rates ------------------------------------------------------------------


def parse_ecb_xml(document: bytes) -> list[RateFact]:
    """The rates of an ECB eurofxref document (daily, 90-day or full history): one
    `EUR -> currency` fact per `<Cube currency= rate=>` under each `<Cube time=>`.

    Anything unexpected (not XML, another document, a bad date, currency or rate) raises
    `InvalidRatesFile`: a half-read file must store nothing."""
    if len(document) > MAX_DOCUMENT_BYTES:
        raise InvalidRatesFile("The rates file is larger than any ECB reference rates file.")
    root = _parse(document)
    if root.tag != f"{{{GESMES_NAMESPACE}}}Envelope":
        raise InvalidRatesFile("Not an ECB reference rates document (no gesmes:Envelope).")
    days = root.findall(f"{{{ECB_NAMESPACE}}}Cube/{{{ECB_NAMESPACE}}}Cube")
    if not days:
        raise InvalidRatesFile("The document holds no rates (no Cube with a time).")
    facts = [fact for day in days for fact in _day_rates(day)]
    if not facts:
        raise InvalidRatesFile("The document holds no rates.")
    return facts


def _parse(document: bytes) -> Any:
    # No entities, DTDs or network: the document comes from outside.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        return etree.fromstring(document, parser=parser)
    except etree.XMLSyntaxError as error:
        raise InvalidRatesFile(f"The rates file is not well-formed XML: {error}.") from None


def _day_rates(day: Any) -> list[RateFact]:
    as_of_date = _ecb_date(day.get("time"))
    as_of = datetime.combine(as_of_date, ECB_PUBLICATION, tzinfo=FRANKFURT)
    facts = []
    for cube in day.findall(f"{{{ECB_NAMESPACE}}}Cube"):
        currency = cube.get("currency") or ""
        if not CURRENCY_CODE.fullmatch(currency) or currency == PIVOT:
            raise InvalidRatesFile(f"Bad currency {currency!r} in the rates file.")
        facts.append(RateFact(PIVOT, currency, _ecb_rate(cube.get("rate")), as_of_date, as_of))
    return facts


def _ecb_date(value: str | None) -> date:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        raise InvalidRatesFile(f"Bad date {value!r} in the rates file.") from None


def _ecb_rate(value: str | None) -> Decimal:
    try:
        rate = Decimal(value or "")
    except InvalidOperation:
        raise InvalidRatesFile(f"Bad rate {value!r} in the rates file.") from None
    if not rate.is_finite() or rate <= 0:
        raise InvalidRatesFile(f"Bad rate {value!r} in the rates file.")
    return rate


@dataclass(frozen=True, slots=True)
class EcbDocument:
    """An ECB reference rates document already in hand (an uploaded or local file)."""

    document: bytes
    name: str = "ecb"

    async def fetch(self) -> list[RateFact]:
        return parse_ecb_xml(self.document)


@dataclass(frozen=True, slots=True)
class EcbFeed:
    """The ECB reference rates at `url`, fetched with the given client (whose transport a
    test replaces with an `httpx.MockTransport`)."""

    url: str
    client: httpx.AsyncClient
    name: str = "ecb"

    async def fetch(self) -> list[RateFact]:
        try:
            response = await self.client.get(self.url, follow_redirects=True)
        except httpx.HTTPError as error:
            raise RatesSourceUnavailable(f"Could not fetch {self.url}: {error!r}.") from None
        if response.status_code != 200:
            raise RatesSourceUnavailable(
                f"{self.url} answered {response.status_code}.", upstream_status=response.status_code
            )
        return parse_ecb_xml(response.content)


@dataclass(frozen=True, slots=True)
class ManualRates:
    """Rates a staff member set by hand, in force from the moment they are set."""

    facts: Sequence[RateFact]
    name: str = "manual"

    async def fetch(self) -> list[RateFact]:
        return list(self.facts)


async def store_rates(
    conn: Connection,
    source_name: str,
    facts: Sequence[RateFact],
    *,
    now: datetime,
    created_by: str | None,
) -> int:
    """Store what a source published, in the caller's transaction; how many rates were new
    or changed. Fetch first and store after, so no transaction waits on the network."""
    return await repository.upsert_rates(conn, source_name, facts, now=now, created_by=created_by)


# --- the rate in force ------------------------------------------------------------------------


class RateBook:
    """The newest stored rate of each pair, and the mid rate between any two currencies they
    connect: the pair itself, its inverse, or a cross via EUR, whichever is newest (a direct
    or inverse rate wins a tie: it was set for this very pair)."""

    def __init__(self, rates: Iterable[StoredRate]) -> None:
        self.rates = {(rate.base, rate.quote): rate for rate in rates}

    def currencies(self) -> set[str]:
        return {code for pair in self.rates for code in pair}

    def mid(self, sell: str, buy: str) -> MidRate | None:
        if sell == buy:
            return None
        candidates = [self._direct(sell, buy)]
        if PIVOT not in (sell, buy):
            candidates.append(self._cross(sell, buy))
        known = [candidate for candidate in candidates if candidate is not None]
        if not known:
            return None
        return max(known, key=lambda rate: (rate.as_of, rate.via is None))

    def _direct(self, sell: str, buy: str) -> MidRate | None:
        forward = self.rates.get((sell, buy))
        backward = self.rates.get((buy, sell))
        if backward is not None and (forward is None or backward.as_of > forward.as_of):
            inverse = MID_RATE_CONTEXT.divide(Decimal(1), backward.rate)
            return MidRate(sell, buy, inverse, backward.source, backward.as_of)
        if forward is not None:
            return MidRate(sell, buy, forward.rate, forward.source, forward.as_of)
        return None

    def _cross(self, sell: str, buy: str) -> MidRate | None:
        first = self._direct(sell, PIVOT)
        second = self._direct(PIVOT, buy)
        if first is None or second is None:
            return None
        rate = MID_RATE_CONTEXT.plus(EXACT.multiply(first.rate, second.rate))
        source = first.source if first.source == second.source else "mixed"
        return MidRate(sell, buy, rate, source, min(first.as_of, second.as_of), via=PIVOT)


async def rate_book(conn: Connection, *currencies: str) -> RateBook:
    """The rates in force among `currencies` and EUR (all of them when none are named)."""
    wanted = {*currencies, PIVOT} if currencies else None
    return RateBook(await repository.latest_rates(conn, wanted))


async def mid_rate(conn: Connection, sell: str, buy: str) -> MidRate | None:
    return (await rate_book(conn, sell, buy)).mid(sell, buy)
