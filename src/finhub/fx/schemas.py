"""Request and response shapes of the currencies API. Rates are decimal strings, amounts
integers in minor units."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, model_validator

from finhub.fx.maths import rate_text
from finhub.fx.models import FxSettings, MidRate, Quote, RateFact
from finhub.fx.service import ImportSummary
from finhub.kit.money import MAX_AMOUNT
from finhub.payments.core import payment_payload
from finhub.payments.models import Payment

CurrencyCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,15}$"),
    Field(description="ISO 4217 code or a custom asset's code.", examples=["EUR", "JPY"]),
]
Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT, description="Minor units (cents, yen, fils).")]
RateValue = Annotated[
    Decimal,
    Field(
        gt=0,
        max_digits=30,
        decimal_places=18,
        description="Units of the quote currency per unit of the base currency.",
        examples=["1.0412"],
    ),
]
Url = Annotated[HttpUrl, Field(max_length=2000)]


# --- requests ---------------------------------------------------------------------------------


class QuoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sell_currency: CurrencyCode
    buy_currency: CurrencyCode
    sell_amount: Amount | None = Field(None, description="How much to sell (or give buy_amount).")
    buy_amount: Amount | None = Field(None, description="How much to receive (or sell_amount).")

    @model_validator(mode="after")
    def one_amount(self) -> QuoteCreate:
        if (self.sell_amount is None) == (self.buy_amount is None):
            raise ValueError("give exactly one of sell_amount and buy_amount")
        return self


class ManualRateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: RateValue


class EcbImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = Field(
        None, description="Where to fetch the ECB XML; the configured `ecb_url` when absent."
    )


class SettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ecb_url: Url | None = Field(
        None, description="The daily import's source; null turns the daily import off."
    )
    spread_bps: int | None = Field(
        None, ge=0, le=5000, description="Spread off the mid rate, in basis points."
    )

    @model_validator(mode="after")
    def spread_given(self) -> SettingsPatch:
        if "spread_bps" in self.model_fields_set and self.spread_bps is None:
            raise ValueError("spread_bps can't be null")
        return self

    def changes(self) -> dict[str, Any]:
        """Only the settings the request named; a null ecb_url clears it."""
        given = self.model_dump(exclude_unset=True)
        if given.get("ecb_url") is not None:
            given["ecb_url"] = str(self.ecb_url)
        return given


# --- responses --------------------------------------------------------------------------------


class RateOut(BaseModel):
    object: Literal["fx_rate"]
    base: str
    quote: str
    rate: str
    source: str = Field(description="`ecb`, `manual`, or `mixed` for a cross rate of both.")
    as_of: datetime
    via: str | None = Field(description="`EUR` for a cross rate, else null.")


class RateListOut(BaseModel):
    object: Literal["list"]
    data: list[RateOut]
    has_more: bool


class ManualRateOut(BaseModel):
    object: Literal["fx_rate"]
    base: str
    quote: str
    rate: str
    source: Literal["manual"]
    as_of: datetime


class ImportOut(BaseModel):
    object: Literal["fx_rate_import"]
    source: str
    rates: int
    stored: int
    dates: list[date]
    skipped: list[str] = Field(description="Currencies finhub doesn't know, left out.")


class SettingsOut(BaseModel):
    object: Literal["fx_settings"]
    ecb_url: str | None
    spread_bps: int
    updated_at: datetime
    updated_by: str | None


class QuoteOut(BaseModel):
    object: Literal["fx_quote"]
    id: str
    status: Literal["open", "expired", "accepted"]
    sell_currency: str
    buy_currency: str
    sell_amount: int
    fee: int
    total_debit: int = Field(description="sell_amount + fee, taken from the wallet.")
    buy_amount: int = Field(description="What the wallet receives (rounded down).")
    rate: str = Field(description="The customer's rate: mid less the spread.")
    mid_rate: str
    spread_bps: int
    rate_source: str
    rate_as_of: datetime
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    payment_id: str | None
    payment: dict[str, Any] | None = Field(None, description="The conversion, once accepted.")


def mid_rate_payload(rate: MidRate) -> dict[str, Any]:
    return {
        "object": "fx_rate",
        "base": rate.base,
        "quote": rate.quote,
        "rate": rate_text(rate.rate),
        "source": rate.source,
        "as_of": rate.as_of,
        "via": rate.via,
    }


def manual_rate_payload(fact: RateFact) -> dict[str, Any]:
    return {
        "object": "fx_rate",
        "base": fact.base,
        "quote": fact.quote,
        "rate": rate_text(fact.rate),
        "source": "manual",
        "as_of": fact.as_of,
    }


def import_payload(summary: ImportSummary) -> dict[str, Any]:
    return {
        "object": "fx_rate_import",
        "source": summary.source,
        "rates": summary.rates,
        "stored": summary.stored,
        "dates": [day.isoformat() for day in summary.dates],
        "skipped": summary.skipped,
    }


def settings_payload(settings: FxSettings) -> dict[str, Any]:
    return {
        "object": "fx_settings",
        "ecb_url": settings.ecb_url,
        "spread_bps": settings.spread_bps,
        "updated_at": settings.updated_at,
        "updated_by": settings.updated_by,
    }


def quote_payload(quote: Quote, now: datetime, payment: Payment | None = None) -> dict[str, Any]:
    return {
        "object": "fx_quote",
        "id": quote.id,
        "status": quote.status(now),
        "sell_currency": quote.sell_currency,
        "buy_currency": quote.buy_currency,
        "sell_amount": quote.sell_amount,
        "fee": quote.fee,
        "total_debit": quote.sell_amount + quote.fee,
        "buy_amount": quote.buy_amount,
        "rate": rate_text(quote.rate),
        "mid_rate": rate_text(quote.mid_rate),
        "spread_bps": quote.spread_bps,
        "rate_source": quote.rate_source,
        "rate_as_of": quote.rate_as_of,
        "created_at": quote.created_at,
        "expires_at": quote.expires_at,
        "accepted_at": quote.accepted_at,
        "payment_id": quote.payment_id,
        "payment": payment_payload(payment) if payment is not None else None,
    }
