"""Card checks a processor makes before it vaults a card, and the published test cards.

The test numbers and their outcomes follow the ones card processors publish for their test
modes (Stripe's list): any other number that passes the Luhn check is approved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from finhub.payments.topups.ports import CardDetails, CardRejected


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What the sandbox answers when this card is charged."""

    outcome: str  # authorized | requires_action | declined | failed
    decline_code: str | None = None
    message: str | None = None


TEST_CARDS: dict[str, Behaviour] = {
    "4000000000009995": Behaviour("declined", "insufficient_funds", "The card has no funds."),
    "4000000000009979": Behaviour("declined", "stolen_card", "The card was reported stolen."),
    "4000000000000002": Behaviour("declined", "generic_decline", "The card was declined."),
    "4000000000000069": Behaviour("declined", "expired_card", "The card has expired."),
    "4000000000003220": Behaviour("requires_action"),
    "4000000000000119": Behaviour(
        "failed", "processing_error", "The card could not be processed; try again."
    ),
}
APPROVED = Behaviour("authorized")


def behaviour_of(number: str) -> Behaviour:
    return TEST_CARDS.get(number, APPROVED)


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649:
        return "discover"
    if 3528 <= int(number[:4]) <= 3589:
        return "jcb"
    if number.startswith("62"):
        return "unionpay"
    return "unknown"


def normalized_number(raw: str) -> str:
    """Digits only: people type spaces and dashes between groups."""
    return raw.replace(" ", "").replace("-", "")


def check_card(card: CardDetails, now: datetime) -> str:
    """The card's normalised number, or `CardRejected` with the first problem found."""
    number = normalized_number(card.number)
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
        raise CardRejected("The card number is not valid.", code="card_number_invalid")
    if not 1 <= card.exp_month <= 12 or not 2000 <= card.exp_year <= 2100:
        raise CardRejected("The expiry date is not valid.", code="expiry_invalid")
    if (card.exp_year, card.exp_month) < (now.year, now.month):
        raise CardRejected("The card has expired.", code="card_expired")
    cvc_length = 4 if brand_of(number) == "amex" else 3
    if not card.cvc.isdigit() or len(card.cvc) != cvc_length:
        raise CardRejected(f"The security code must be {cvc_length} digits.", code="cvc_invalid")
    return number


def expired(exp_month: int, exp_year: int, now: datetime) -> bool:
    return (exp_year, exp_month) < (now.year, now.month)
