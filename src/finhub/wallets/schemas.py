"""Request and response models of the wallet API (the responses document the OpenAPI schema;
payloads are built as dicts by `finhub.wallets.activity`)."""

from __future__ import annotations

from datetime import datetime
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
