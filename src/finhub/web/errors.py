"""The API's problem codes as messages a person reads, in their language, on the right field.

Pages show a field-level message next to the input the problem is about and a form-level
message otherwise. Codes not listed here fall back to a general message by HTTP status, so a
new API error can never leave a form without an explanation.
"""

from __future__ import annotations

from typing import Any

from babel.support import LazyProxy

from finhub.web.client import ApiProblem
from finhub.web.i18n import lazy_gettext as _

MESSAGES: dict[str, LazyProxy] = {
    # sign-in, sign-up and the account
    "invalid_credentials": _("That email and password don't match an account."),
    "authentication_failed": _("That didn't work. Check what you entered and try again."),
    "email_taken": _("That email can't be used. Try another or sign in."),
    "email_not_verified": _("Verify your email address first: follow the link we sent you."),
    "password_too_short": _("Use at least 12 characters."),
    "password_too_long": _("Use at most 128 characters."),
    "password_too_common": _("This password is too common. Choose one that is hard to guess."),
    "password_contains_personal_info": _("Don't use your name or email in your password."),
    "password_required": _("Enter your current password."),
    "consent_version_mismatch": _("The terms changed while you were signing up. Reload the page."),
    "invalid_token": _("This link is not valid or has expired. Ask for a new one."),
    "invalid_session": _("Your session has ended. Sign in again."),
    "account_disabled": _("This account is disabled. Contact support."),
    "too_many_attempts": _("Too many attempts. Wait a moment and try again."),
    "csrf_token_invalid": _("This page has expired. Reload it and try again."),
    "invalid_second_factor": _("That code is not right. Try the current code."),
    "code_already_used": _("That code was already used. Wait for the next one."),
    "second_factor_required": _("Enter the code from your authenticator app."),
    "no_second_factor": _("Set up two-step verification first."),
    "totp_already_enabled": _("Two-step verification is already on."),
    "totp_not_started": _("Start the authenticator set-up again."),
    "factor_not_enrolled": _("That method is not set up on your account."),
    "invalid_passkey": _("The passkey could not be verified. Try again."),
    "passkey_exists": _("This passkey is already registered."),
    "passkey_counter_regressed": _("This passkey looks cloned and was refused."),
    "step_up_required": _("Confirm it's you to continue."),
    "invalid_pin": _("That PIN is not right."),
    "invalid_pin_format": _("The PIN is 6 digits."),
    "pin_too_weak": _("Choose a PIN that is harder to guess."),
    "current_pin_required": _("Enter your current PIN."),
    "invalid_home_currency": _("Choose a supported currency."),
    "unsupported_currency": _("This currency is not supported."),
    "api_key_not_found": _("That API key no longer exists."),
    "unknown_scope": _("Choose permissions from the list."),
    "invalid_ip_range": _("Enter IP addresses or ranges like 203.0.113.0/24."),
    "invalid_expiry": _("Choose a date in the future."),
    "invalid_grace_period": _("Choose a grace period from the list."),
    # money
    "insufficient_funds": _("You don't have enough money for this, fees included."),
    "limit_exceeded": _("This is over your limit."),
    "amount_too_small": _("The amount is too small."),
    "amount_too_large": _("The amount is too large."),
    "amount_required": _("Enter an amount."),
    "amount_overflow": _("The amount is too large."),
    "currency_invalid": _("Choose a currency."),
    "currency_mismatch": _("The currencies don't match."),
    "currency_not_supported": _("This currency is not supported."),
    "same_currency": _("Choose two different currencies."),
    "recipient_not_found": _("We couldn't find anyone with those details."),
    "recipient_wallet_closed": _("The recipient can't receive money right now."),
    "self_payment": _("You can't send money to yourself."),
    "wallet_closed": _("This wallet is closed."),
    "wallet_not_available": _("There is no wallet for this account."),
    "wallet_not_found": _("Wallet not found."),
    "handle_taken": _("That username is taken."),
    "invalid_handle": _("Use 3 to 30 letters, digits, dots or underscores."),
    "handle_not_found": _("No one uses that username."),
    "qr_invalid": _("This QR code is not a payment code we can read."),
    "qr_amount_mismatch": _("The amount doesn't match the QR code."),
    "payment_request_closed": _("This request is no longer open."),
    "payment_request_paid": _("This request was already paid."),
    "payment_request_not_found": _("Payment request not found."),
    "not_requester": _("Only the person who asked can do this."),
    "payment_not_found": _("Payment not found."),
    "payment_state_conflict": _("This payment can't be changed any more."),
    "card_number_invalid": _("Check the card number."),
    "card_invalid": _("This card can't be used."),
    "card_expired": _("This card has expired."),
    "expiry_invalid": _("Check the expiry date."),
    "cvc_invalid": _("Check the security code."),
    "card_token_invalid": _("Enter your card details again."),
    "processor_unavailable": _("Card payments are unavailable right now. Try again later."),
    "authorization_expired": _("The card authorisation expired. Start again."),
    "refund_exceeds_captured": _("That is more than was paid."),
    "refund_not_possible": _("This payment can't be refunded."),
    "iban_invalid": _("Check the IBAN."),
    "iban_not_in_sepa_zone": _("This IBAN is outside the SEPA zone."),
    "bic_invalid": _("Check the BIC."),
    "bic_mismatch": _("The BIC doesn't match the IBAN's bank."),
    "account_number_invalid": _("Check the account number."),
    "account_details_required": _("Enter an IBAN or an account number."),
    "account_details_ambiguous": _("Enter either an IBAN or an account number, not both."),
    "invalid_bank_details": _("Check the bank details."),
    "country_mismatch": _("The country doesn't match the account."),
    "local_account_unsupported": _("Local account numbers aren't supported for this country."),
    "payee_not_found": _("Payee not found."),
    "withdrawal_not_found": _("Withdrawal not found."),
    "withdrawal_already_batched": _("This withdrawal is already on its way."),
    "quote_expired": _("The quote expired. Get a new one."),
    "quote_already_accepted": _("You already accepted this quote."),
    "quote_not_found": _("Quote not found."),
    "rate_unavailable": _("No exchange rate is available for these currencies right now."),
    "scheduled_payment_not_found": _("Scheduled payment not found."),
    "scheduled_payment_state_conflict": _("This scheduled payment can't be changed now."),
    "start_in_past": _("Choose a date from today on."),
    "invalid_rule": _("Choose how often the payment repeats."),
    "invalid_end": _("The end must be after the start."),
    "invalid_period": _("Choose a valid period."),
    "activity_not_found": _("Not found."),
    "notification_not_found": _("Notification not found."),
    "idempotency_key_in_use": _("This is already being processed. Wait a moment."),
    "idempotency_key_reused": _("This form was already sent with other values. Start again."),
    "test_mode_only": _("This only works in the sandbox."),
    "sandbox_only_in_test_mode": _("This only works in the sandbox."),
    "validation_error": _("Check the highlighted fields."),
}
# Field errors from the request's validation (`validation_error` → `errors[].type`).
VALIDATION_MESSAGES: dict[str, LazyProxy] = {
    "missing": _("This field is required."),
    "string_too_short": _("This is too short."),
    "string_too_long": _("This is too long."),
    "string_pattern_mismatch": _("This is not in the right format."),
    "greater_than": _("Enter a larger number."),
    "greater_than_equal": _("Enter a larger number."),
    "less_than_equal": _("Enter a smaller number."),
    "int_parsing": _("Enter a whole number."),
    "literal_error": _("Choose one of the options."),
    "enum": _("Choose one of the options."),
    "value_error": _("This value is not valid."),
}
BY_STATUS: dict[int, LazyProxy] = {
    401: _("Sign in to continue."),
    403: _("You're not allowed to do this."),
    404: _("Not found."),
    409: _("This changed in the meantime. Reload and try again."),
    429: _("Too many attempts. Wait a moment and try again."),
}
GENERAL = _("Something went wrong. Try again.")


def message_for(problem: ApiProblem) -> str:
    """The message for a problem as a whole."""
    known = MESSAGES.get(problem.code) or BY_STATUS.get(problem.status) or GENERAL
    return str(known)


def field_errors(problem: ApiProblem, fields: dict[str, str] | None = None) -> dict[str, str]:
    """Messages per form field. `fields` maps a problem code to the field it is about
    (`{"insufficient_funds": "amount"}`); validation errors name their field themselves.
    Anything not tied to a field is under the key `""` (shown at the top of the form)."""
    errors: dict[str, str] = {}
    if problem.code == "validation_error":
        for item in problem.problem.get("errors", []):
            field = _field_name(item)
            if field and field not in errors:
                errors[field] = str(VALIDATION_MESSAGES.get(item.get("type", ""), GENERAL))
        if errors:
            errors[""] = message_for(problem)
            return errors
    field = (fields or {}).get(problem.code, "")
    errors[field] = message_for(problem)
    if field:
        errors[""] = message_for(problem)
    return errors


def _field_name(item: dict[str, Any]) -> str:
    location = [part for part in item.get("location", []) if part not in ("body", "query")]
    return str(location[0]) if location else ""
