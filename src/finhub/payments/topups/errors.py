"""Top-up rule errors (problem+json codes)."""

from __future__ import annotations

from finhub.errors import Conflict, FinhubError, Forbidden, NotFound, Unprocessable


class CardTokenNotFound(NotFound):
    code = "card_token_not_found"


class TopupNotFound(NotFound):
    code = "payment_not_found"


class CardExpired(Unprocessable):
    code = "card_expired"
    title = "The card has expired"


class RefundTooLarge(Unprocessable):
    code = "refund_exceeds_captured"
    title = "The refund is larger than what is left to refund"


class NotRefundable(Conflict):
    code = "payment_state_conflict"
    title = "The payment is not in a state that allows this"


class ChallengeNotPending(Conflict):
    code = "payment_state_conflict"
    title = "The payment has no 3-D Secure challenge waiting"


class UnknownCharge(FinhubError):
    """A processor webhook for a charge finhub has not recorded (yet): the processor retries."""

    status = 409
    code = "charge_unknown"
    title = "No top-up has this charge"


class SimulationNotAllowed(Forbidden):
    code = "test_mode_only"
    title = "Only in test mode"


class BankCreditNotFound(NotFound):
    code = "bank_credit_not_found"


class BankCreditResolved(Conflict):
    code = "bank_credit_already_resolved"
    title = "The bank credit has been assigned already"


class NoMatchTarget(Unprocessable):
    code = "reference_or_iban_required"
    title = "Give a reference or an IBAN"
