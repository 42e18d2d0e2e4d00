"""Request and response shapes of payees, withdrawals and payout batches."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from finhub.ledger.schemas import Amount
from finhub.payments.payouts.models import Payee, Payout, PayoutBatch, ReportOutcome
from finhub.payments.payouts.service import Withdrawal

Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="ISO 4217 currency code.", examples=["EUR"]),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=70)]


class PayeeCreate(BaseModel):
    """An IBAN account (`iban`, optional `bic`), or a local account (`account_number` with
    `sort_code` for GB or `routing_number` for US, and `country`)."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="The account holder's name, as the bank knows it.")
    currency: Currency
    nickname: Annotated[str, StringConstraints(strip_whitespace=True, max_length=70)] | None = None
    iban: Annotated[str, StringConstraints(max_length=50)] | None = Field(
        None, examples=["DE89 3704 0044 0532 0130 00"]
    )
    bic: Annotated[str, StringConstraints(max_length=15)] | None = Field(
        None, description="Optional; checked against the IBAN's country and bank."
    )
    account_number: Annotated[str, StringConstraints(max_length=34)] | None = None
    sort_code: Annotated[str, StringConstraints(max_length=10)] | None = Field(
        None, description="UK sort code of a local GB account.", examples=["60-16-13"]
    )
    routing_number: Annotated[str, StringConstraints(max_length=12)] | None = Field(
        None, description="ABA routing number of a local US account."
    )
    country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")] | None = Field(
        None, description="ISO 3166 country of the account (required for local accounts)."
    )


class WithdrawalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payee_id: Annotated[str, StringConstraints(max_length=64)]
    amount: Amount
    currency: Currency
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class PayoutBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: Currency | None = Field(
        None, description="Only this currency's withdrawals; every currency when omitted."
    )


class PayeeOut(BaseModel):
    object: Literal["payee"]
    id: str
    name: str
    nickname: str | None
    currency: str
    country: str
    iban: str | None
    bic: str | None
    account_number: str | None
    sort_code: str | None
    routing_number: str | None
    created_at: datetime


class WithdrawalOut(BaseModel):
    object: Literal["withdrawal"]
    id: str = Field(description="The payment id (`pay_…`).")
    status: str = Field(description="processing, completed, failed or canceled.")
    payout_status: str = Field(description="pending, batched, paid, failed or canceled.")
    payee_id: str
    amount: int
    fee: int
    currency: str
    note: str | None
    batch_id: str | None
    end_to_end_id: str
    failure_code: str | None
    failure_message: str | None
    hold_transaction_id: str | None
    ledger_transaction_id: str | None
    created_at: datetime
    updated_at: datetime


class PayoutBatchOut(BaseModel):
    object: Literal["payout_batch"]
    id: str
    currency: str
    scheme: str
    message_id: str
    payment_count: int
    control_sum: int
    status: str
    pain001_sha256: str
    created_by: str
    created_at: datetime
    settled_at: datetime | None
    payments: list[dict[str, Any]] | None = None


class PayoutBatchList(BaseModel):
    object: Literal["list"]
    data: list[PayoutBatchOut]


class StatusReportOut(BaseModel):
    object: Literal["payout_status_report"]
    batch_id: str
    message_id: str
    paid: int
    failed: int
    unchanged: int
    already_imported: bool


def payee_out(payee: Payee) -> dict[str, Any]:
    bank = payee.bank
    return {
        "object": "payee",
        "id": payee.id,
        "name": payee.name,
        "nickname": payee.nickname,
        "currency": payee.currency,
        "country": bank.country,
        "iban": bank.iban,
        "bic": bank.bic,
        "account_number": bank.account_number,
        "sort_code": bank.clearing_code if bank.clearing_system == "GBDSC" else None,
        "routing_number": bank.clearing_code if bank.clearing_system == "USABA" else None,
        "created_at": payee.created_at,
    }


def withdrawal_out(withdrawal: Withdrawal) -> dict[str, Any]:
    payment, payout = withdrawal.payment, withdrawal.payout
    return {
        "object": "withdrawal",
        "id": payment.id,
        "status": payment.status,
        "payout_status": payout.status,
        "payee_id": payout.payee_id,
        "amount": payment.amount,
        "fee": payment.fee,
        "currency": payment.currency,
        "note": payment.note,
        "batch_id": payout.batch_id,
        "end_to_end_id": payout.end_to_end_id,
        "failure_code": payment.failure_code,
        "failure_message": payment.failure_message,
        "hold_transaction_id": payment.hold_transaction_id,
        "ledger_transaction_id": payment.ledger_transaction_id,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
    }


def batch_out(batch: PayoutBatch, payouts: list[Payout] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "object": "payout_batch",
        "id": batch.id,
        "currency": batch.currency,
        "scheme": batch.scheme,
        "message_id": batch.message_id,
        "payment_count": batch.payment_count,
        "control_sum": batch.control_sum,
        "status": batch.status,
        "pain001_sha256": batch.pain001_sha256,
        "created_by": batch.created_by,
        "created_at": batch.created_at,
        "settled_at": batch.settled_at,
    }
    if payouts is not None:
        payload["payments"] = [
            {
                "payment_id": payout.payment_id,
                "end_to_end_id": payout.end_to_end_id,
                "amount": payout.amount,
                "status": payout.status,
                "reason_code": payout.reason_code,
            }
            for payout in payouts
        ]
    return payload


def report_out(outcome: ReportOutcome) -> dict[str, Any]:
    return {
        "object": "payout_status_report",
        "batch_id": outcome.batch_id,
        "message_id": outcome.message_id,
        "paid": outcome.paid,
        "failed": outcome.failed,
        "unchanged": outcome.unchanged,
        "already_imported": outcome.already_imported,
    }
