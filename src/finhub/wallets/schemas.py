"""Request and response models of the wallet API (the responses document the OpenAPI schema;
payloads are built as dicts by `finhub.wallets.activity`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

AssetCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,15}$"),
    Field(description="ISO 4217 code or a registered custom asset's code.", examples=["USD"]),
]
CurrencyCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="An ISO 4217 currency code.", examples=["EUR"]),
]
ActivityKind = Literal[
    "p2p", "card_topup", "bank_topup", "withdrawal", "fx_conversion", "request_payment", "refund"
]
ActivityStatus = Literal[
    "requires_action", "processing", "completed", "failed", "canceled", "refunded"
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BalanceOpen(StrictModel):
    currency: AssetCode


class WalletPatch(StrictModel):
    home_currency: CurrencyCode


class BalanceOut(BaseModel):
    object: Literal["wallet_balance"] = "wallet_balance"
    currency: str
    balance: int = Field(description="Posted balance in minor units.")
    available: int = Field(description="What can be spent now: balance less holds.")
    held: int = Field(description="Held for payments still in progress.")


class TotalOut(BaseModel):
    currency: str = Field(description="The wallet's home currency.")
    amount: int | None = Field(
        description="Every balance converted at the latest rates, in minor units; null when "
        "a rate is missing."
    )
    missing_rates: list[str] = Field(description="Currencies with no rate to the home one.")


class WalletOut(BaseModel):
    object: Literal["wallet"] = "wallet"
    id: str
    home_currency: str
    status: Literal["active", "closed"]
    payment_reference: str = Field(description="Quote it on a bank transfer to top up.")
    balances: list[BalanceOut]
    total: TotalOut
    created_at: datetime
    closed_at: datetime | None


class ActivityOut(BaseModel):
    object: Literal["wallet_activity"] = "wallet_activity"
    id: str
    payment_id: str
    kind: str
    direction: Literal["in", "out"]
    amount: int = Field(description="Minor units of `currency`.")
    currency: str
    fee: int
    counterparty: str | None
    note: str | None
    status: str
    created_at: datetime
    updated_at: datetime


class ActivityDetailOut(ActivityOut):
    payment: dict[str, Any] = Field(description="The payment behind the line.")


# --- the summary ------------------------------------------------------------------------------

SpendingCategory = Literal["people", "withdrawals", "exchanges", "refunds", "fees", "other"]


class CurrencyAmount(BaseModel):
    currency: str
    amount: int = Field(description="Minor units of `currency`.")


class ConvertedAmount(BaseModel):
    currency: str = Field(description="The wallet's home currency.")
    amount: int | None = Field(
        description="The sum of `by_currency` at the latest rates, in minor units of the home "
        "currency; null when a rate is missing (see `missing_rates` of the summary)."
    )
    by_currency: list[CurrencyAmount] = Field(description="Per currency, largest first.")


class MonthOut(BaseModel):
    start: datetime = Field(description="The first moment of the current month (UTC).")
    end: datetime = Field(description="Now: the month so far.")
    money_in: ConvertedAmount = Field(
        description="What arrived: completed (or later refunded) incoming lines, net of fees."
    )
    money_out: ConvertedAmount = Field(
        description="What left: completed (or later refunded) outgoing lines, fees included."
    )


class SpendingOut(ConvertedAmount):
    category: SpendingCategory = Field(
        description="What kind of movement: `people` (payments and paid requests), "
        "`withdrawals`, `exchanges` (the sold side of a conversion), `refunds` (card top-ups "
        "paid back), `fees` (fees on outgoing lines) or `other`."
    )


class BalancePointOut(BaseModel):
    day: date = Field(description="A day (UTC); the balances are those at its end.")
    total: int | None = Field(
        description="Every balance at the latest rates in the home currency; null when a "
        "rate is missing."
    )
    balances: dict[str, int] = Field(description="Currency → posted balance in minor units.")


class SummaryOut(BaseModel):
    object: Literal["wallet_summary"] = "wallet_summary"
    home_currency: str
    as_of: datetime
    missing_rates: list[str] = Field(description="Currencies with no rate to the home one.")
    month: MonthOut
    spending: list[SpendingOut] = Field(
        description="This month's money out by category, largest first (in the home currency "
        "where rates allow); the categories add up to `month.money_out`."
    )
    balance_history: list[BalancePointOut] = Field(
        description="One point per day, oldest first, today last."
    )
