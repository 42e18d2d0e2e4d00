"""Request and response models of payments between people."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from finhub.payments.transfers.service import Recipient

Amount = Annotated[
    int, Field(gt=0, le=2**63 - 1, description="In minor units of `currency` (cents).")
]
Currency = Annotated[str, Field(pattern="^[A-Z]{3}$", description="ISO 4217, e.g. `EUR`.")]
Note = Annotated[str, Field(min_length=1, max_length=500)]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Phone = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164.")]
Username = Annotated[
    str,
    Field(pattern="^@?[A-Za-z0-9_]{3,30}$", description="A handle, with or without the `@`."),
]
WalletId = Annotated[str, Field(min_length=4, max_length=64, pattern="^wal_[0-9A-Z]+$")]
Token = Annotated[str, Field(min_length=20, max_length=64, pattern="^[A-Za-z0-9_-]+$")]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecipientIn(StrictModel):
    """Exactly one of the fields."""

    email: Email | None = None
    phone: Phone | None = None
    username: Username | None = None
    wallet_id: WalletId | None = None

    @model_validator(mode="after")
    def exactly_one(self) -> RecipientIn:
        if len(self.model_fields_set) != 1 or self.as_recipient() is None:
            raise ValueError("give exactly one of email, phone, username or wallet_id")
        return self

    def as_recipient(self) -> Recipient | None:
        for kind in ("email", "phone", "username", "wallet_id"):
            value = getattr(self, kind)
            if value is not None:
                return Recipient(kind, value)
        return None


class PayerIn(StrictModel):
    """Whom a request is addressed to: exactly one of the fields."""

    email: Email | None = None
    phone: Phone | None = None
    wallet_id: WalletId | None = None

    @model_validator(mode="after")
    def exactly_one(self) -> PayerIn:
        if len(self.model_fields_set) != 1 or self.as_recipient() is None:
            raise ValueError("give exactly one of email, phone or wallet_id")
        return self

    def as_recipient(self) -> Recipient | None:
        for kind in ("email", "phone", "wallet_id"):
            value = getattr(self, kind)
            if value is not None:
                return Recipient(kind, value)
        return None


class P2PIn(StrictModel):
    to: RecipientIn
    amount: Amount
    currency: Currency
    note: Note | None = None


class PaymentRequestIn(StrictModel):
    amount: Amount
    currency: Currency
    note: Note | None = None
    from_: PayerIn | None = Field(
        None,
        alias="from",
        description="Whom to ask; leave out for an open request paid through its link or QR.",
    )
    expires_at: AwareDatetime | None = Field(
        None, description="Defaults to 7 days from now; at most 90 days."
    )


class PayByTokenIn(StrictModel):
    token: Token


class PayQrIn(StrictModel):
    payload: str = Field(min_length=20, max_length=512, description="The scanned QR text.")
    amount: Amount | None = Field(
        None, description="Required for a static code; must match a dynamic code's amount."
    )
    note: Note | None = None


# --- responses (documentation of the shapes; payloads are built as dicts) ----------------------


class PaymentOut(BaseModel):
    object: Literal["payment"]
    id: str
    kind: str
    status: str
    wallet_id: str
    counterparty_wallet_id: str | None
    amount: int
    currency: str
    fee: int
    note: str | None
    metadata: dict[str, Any]
    ledger_transaction_id: str | None
    created_at: datetime


class PartyOut(BaseModel):
    wallet_id: str
    name: str = Field(description="Display name, or a masked email.")


class PaymentRequestOut(BaseModel):
    object: Literal["payment_request"]
    id: str
    role: Literal["requester", "payer"]
    status: Literal["open", "paid", "canceled", "expired"]
    amount: int
    currency: str
    note: str | None
    requester: PartyOut
    payer: PartyOut | None
    payment_id: str | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    canceled_at: datetime | None
    token: str | None = Field(None, description="The requester's share token (theirs only).")
    link: str | None = Field(None, description="The requester's share link.")
    qr_payload: str | None = Field(None, description="The EMVCo payload of the request's QR.")
    payment: PaymentOut | None = Field(None, description="Set when this call paid it.")


class HandleIn(StrictModel):
    handle: Username


class HandleOut(BaseModel):
    object: Literal["wallet_handle"]
    id: str = Field(description="The handle itself, lower-case, without the `@`.")
    handle: str
    wallet_id: str


class StaticQrOut(BaseModel):
    object: Literal["static_qr"]
    wallet_id: str
    currency: str
    payload: str
