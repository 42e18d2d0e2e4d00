"""Errors of payments between people (problem+json codes)."""

from __future__ import annotations

from finhub.errors import Conflict, NotFound, Unprocessable


class RecipientNotFound(NotFound):
    """The same answer for an unknown address, an unverified person and a closed account,
    so the endpoint tells nothing more than "no one to pay here"."""

    code = "recipient_not_found"
    title = "No one to pay at this address"


class InvalidHandle(Unprocessable):
    code = "invalid_handle"
    title = "Not a valid handle"


class HandleTaken(Conflict):
    code = "handle_taken"
    title = "This handle is taken"


class HandleNotFound(NotFound):
    code = "handle_not_found"


class SelfPayment(Unprocessable):
    code = "self_payment"
    title = "You can't pay yourself"


class UnsupportedCurrency(Unprocessable):
    code = "unsupported_currency"
    title = "Not an ISO 4217 currency"


class RecipientWalletClosed(Conflict):
    code = "recipient_wallet_closed"
    title = "The recipient's wallet is closed"


class PaymentRequestNotFound(NotFound):
    code = "payment_request_not_found"


class PaymentRequestPaid(Conflict):
    code = "payment_request_paid"
    title = "The payment request has been paid already"


class PaymentRequestClosed(Conflict):
    """Canceled or expired: it can't be paid any more."""

    code = "payment_request_closed"
    title = "The payment request can no longer be paid"


class QrInvalid(Unprocessable):
    code = "qr_invalid"
    title = "The QR code can't be read"


class QrAmountMismatch(Unprocessable):
    code = "qr_amount_mismatch"
    title = "The amount doesn't match the QR code"


class AmountRequired(Unprocessable):
    code = "amount_required"
    title = "This QR code has no amount: send one"
