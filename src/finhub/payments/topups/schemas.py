"""Request bodies and response payloads of the top-up endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from finhub.kit.money import MAX_AMOUNT
from finhub.payments.topups.service import CardTopup

Amount = Field(ge=1, le=MAX_AMOUNT, description="In the currency's minor unit (cents).")
Currency = Field(pattern="^[A-Z]{3}$", description="ISO 4217 code, e.g. `EUR`.")


class CardIn(BaseModel):
    """A card as typed in. Its number and CVC go straight to the processor's vault."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    number: str = Field(min_length=1, max_length=32, description="The card number.")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100, description="Four digits, e.g. 2030.")
    cvc: str = Field(min_length=1, max_length=8, description="The security code.")

    def __repr__(self) -> str:  # never a number or CVC in a traceback or log line
        return f"CardIn(exp_month={self.exp_month}, exp_year={self.exp_year})"


class CardTopupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card_token: str = Field(min_length=1, max_length=64, description="A `ctok_…` token.")
    amount: int = Amount
    currency: str = Currency


class ChallengeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["approve", "deny"] = Field(
        description="What the card holder did on the issuer's challenge page."
    )


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int | None = Field(
        default=None, ge=1, le=MAX_AMOUNT, description="Minor units; all that is left if unset."
    )


class BankCreditIn(BaseModel):
    """An incoming bank credit, as the bank would report it."""

    model_config = ConfigDict(extra="forbid")

    reference: str | None = Field(
        default=None, max_length=140, description="The remittance information the sender typed."
    )
    iban: str | None = Field(default=None, max_length=42, description="The IBAN credited.")
    amount: int = Amount
    currency: str = Currency
    sender_name: str = Field(min_length=1, max_length=140)
    bank_transaction_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The bank's id of the transaction; the same id is applied once.",
    )

    @model_validator(mode="after")
    def reference_or_iban(self) -> BankCreditIn:
        if not self.reference and not self.iban:
            raise ValueError("give a reference or an iban")
        return self


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wallet_id: str = Field(min_length=1, max_length=64)


# --- payloads ---------------------------------------------------------------------------------


def card_payload(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "card_token",
        "id": card["id"],
        "brand": card["brand"],
        "last4": card["last4"],
        "exp_month": card["exp_month"],
        "exp_year": card["exp_year"],
        "created_at": card["created_at"],
    }


def topup_payload(topup: CardTopup, public_url: str) -> dict[str, Any]:
    payment, details = topup.payment, topup.details
    next_action = None
    if payment.status == "requires_action":
        next_action = {
            "type": "redirect_to_url",
            "redirect_url": f"{public_url.rstrip('/')}/v1/payments/card-topups/"
            f"{payment.id}/3ds-challenge",
        }
    return {
        "object": "card_topup",
        "id": payment.id,
        "status": payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "fee": payment.fee,
        "net_amount": payment.amount - payment.fee,
        "wallet_id": payment.wallet_id,
        "card": {
            "id": details["card_id"],
            "brand": details["brand"],
            "last4": details["last4"],
            "exp_month": details["exp_month"],
            "exp_year": details["exp_year"],
        },
        "processor_charge_id": details["processor_charge_id"],
        "captured_amount": int(details["captured_amount"]),
        "refunded_amount": int(details["refunded_amount"]),
        "refunds": [
            {
                "id": refund["id"],
                "amount": int(refund["amount"]),
                "fee_returned": int(refund["fee_returned"]),
                "created_at": refund["created_at"],
            }
            for refund in topup.refunds
        ],
        "next_action": next_action,
        "failure_code": payment.failure_code,
        "failure_message": payment.failure_message,
        "hold_transaction_id": payment.hold_transaction_id,
        "capture_transaction_id": details["capture_transaction_id"],
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
    }


def credit_payload(credit: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "bank_credit",
        "id": credit["id"],
        "bank_transaction_id": credit["bank_transaction_id"],
        "status": credit["status"],
        "unmatched_reason": credit["unmatched_reason"],
        "reference": credit["reference"],
        "iban": credit["iban"],
        "amount": int(credit["amount"]),
        "currency": credit["currency"],
        "sender_name": credit["sender_name"],
        "wallet_id": credit["wallet_id"],
        "payment_id": credit["payment_id"],
        "received_at": credit["received_at"],
        "resolved_at": credit["resolved_at"],
    }
