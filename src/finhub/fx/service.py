"""Exchange rates and conversions: importing and setting rates, the settings, and `convert`.

Quotes and their booking live in `finhub.fx.quotes`; where rates come from and which one is
in force, in `finhub.fx.rates`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx

from finhub.audit.service import AuditContext, record
from finhub.fx import repository
from finhub.fx.errors import RatesUrlMissing, SameCurrency
from finhub.fx.maths import exact_buy_amount, rate_text
from finhub.fx.models import FxSettings, MidRate, RateFact
from finhub.fx.rates import (
    EcbDocument,
    EcbFeed,
    ManualRates,
    RatesSource,
    mid_rate,
    rate_book,
    store_rates,
)
from finhub.kit.clock import SystemClock
from finhub.kit.db.engine import Connection
from finhub.kit.money import iso_currency
from finhub.ledger.errors import UnknownAsset
from finhub.ledger.service import LedgerService


async def convert(
    conn: Connection, amount: int, from_currency: str, to_currency: str
) -> int | None:
    """`amount` (minor units of `from_currency`) at the latest mid rate, in minor units of
    `to_currency`, rounded half-even; None when no rate is known. For display totals only:
    money moves through quotes."""
    if from_currency == to_currency:
        return amount
    rate = await mid_rate(conn, from_currency, to_currency)
    from_scale = await _scale(conn, from_currency)
    to_scale = await _scale(conn, to_currency)
    if rate is None or from_scale is None or to_scale is None:
        return None
    exact = exact_buy_amount(amount, rate.rate, from_scale, to_scale)
    return int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))


async def _scale(conn: Connection, code: str) -> int | None:
    currency = iso_currency(code)
    if currency is not None:
        return currency.scale
    try:
        # Custom assets (BTC/8, …) are the ledger's registry; the clock plays no part here.
        return (await LedgerService(SystemClock()).resolve_asset(conn, code)).scale
    except UnknownAsset:
        return None


async def rates_from(conn: Connection, base: str) -> list[MidRate]:
    """The mid rate from `base` to every currency the stored rates reach."""
    book = await rate_book(conn)
    rates = (book.mid(base, quote) for quote in sorted(book.currencies() - {base}))
    return [rate for rate in rates if rate is not None]


# --- importing and setting rates --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportSummary:
    source: str
    rates: int  # how many the source published
    stored: int  # how many were new or changed
    dates: list[date]
    skipped: list[str]  # currencies finhub doesn't know (e.g. retired ones), left out


async def ecb_source(
    conn: Connection, *, document: bytes | None, url: str | None, client: httpx.AsyncClient
) -> RatesSource:
    """An uploaded document, else the URL given, else the configured one."""
    if document is not None:
        return EcbDocument(document)
    url = url or (await repository.get_settings(conn)).ecb_url
    if url is None:
        raise RatesUrlMissing(
            "Upload the rates file, give a url, or configure ecb_url in the FX settings."
        )
    return EcbFeed(url, client)


async def store_import(
    conn: Connection,
    source_name: str,
    facts: Sequence[RateFact],
    audit: AuditContext,
    *,
    now: datetime,
) -> ImportSummary:
    """Store rates a source published (fetched beforehand, outside the transaction) and
    record the import in the audit trail. Rates of currencies that neither ISO 4217 nor the
    ledger's assets know are left out: no wallet can hold them."""
    named = {fact.base for fact in facts} | {fact.quote for fact in facts}
    known = {code for code in named if await _scale(conn, code) is not None}
    usable = [fact for fact in facts if fact.base in known and fact.quote in known]
    stored = await store_rates(conn, source_name, usable, now=now, created_by=audit.actor_id)
    summary = ImportSummary(
        source=source_name,
        rates=len(usable),
        stored=stored,
        dates=sorted({fact.as_of_date for fact in facts}),
        skipped=sorted(named - known),
    )
    await record(
        conn,
        audit,
        "fx.rates_imported",
        object_type="fx_rates",
        object_id=source_name,
        details={
            "rates": summary.rates,
            "stored": summary.stored,
            "dates": [day.isoformat() for day in summary.dates],
            "skipped": summary.skipped,
        },
    )
    return summary


async def set_manual_rate(
    conn: Connection,
    ledger: LedgerService,
    audit: AuditContext,
    *,
    base: str,
    quote: str,
    rate: Decimal,
) -> RateFact:
    """A staff member's rate for one pair, in force from now until a newer one arrives."""
    if base == quote:
        raise SameCurrency(f"Both sides are {base}.")
    await ledger.resolve_asset(conn, base)
    await ledger.resolve_asset(conn, quote)
    now = ledger.clock.now()
    fact = RateFact(base, quote, rate, now.date(), now)
    source = ManualRates([fact])
    await store_rates(conn, source.name, await source.fetch(), now=now, created_by=audit.actor_id)
    await record(
        conn,
        audit,
        "fx.rate_set",
        object_type="fx_rate",
        object_id=f"{base}/{quote}",
        after={"rate": rate_text(rate)},
    )
    return fact


# --- settings ---------------------------------------------------------------------------------

SETTING_NAMES = frozenset({"ecb_url", "spread_bps"})


async def get_settings(conn: Connection) -> FxSettings:
    return await repository.get_settings(conn)


async def update_settings(
    conn: Connection, audit: AuditContext, changes: Mapping[str, Any], *, now: datetime
) -> FxSettings:
    """Change the given settings (`ecb_url`, `spread_bps`), keeping the others."""
    assert set(changes) <= SETTING_NAMES, "the request model allows only settings"
    before = await repository.get_settings(conn, for_update=True)
    merged = {"ecb_url": before.ecb_url, "spread_bps": before.spread_bps, **changes}
    after = await repository.update_settings(
        conn,
        ecb_url=merged["ecb_url"],
        spread_bps=merged["spread_bps"],
        now=now,
        updated_by=audit.actor_id or "system",
    )
    await record(
        conn,
        audit,
        "fx.settings_changed",
        object_type="fx_settings",
        object_id="fx",
        before={"ecb_url": before.ecb_url, "spread_bps": before.spread_bps},
        after={"ecb_url": after.ecb_url, "spread_bps": after.spread_bps},
    )
    return after
