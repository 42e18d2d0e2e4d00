"""Currency rule errors (problem+json codes)."""

from __future__ import annotations

from finhub.errors import Conflict, FinhubError, NotFound, Unprocessable


class InvalidRatesFile(Unprocessable):
    """The rates document is not a well-formed ECB reference rates file; nothing is stored."""

    code = "invalid_rates_file"
    title = "The rates file can't be read"


class RatesSourceUnavailable(FinhubError):
    status = 502
    code = "rates_source_unavailable"
    title = "The rates source could not be reached"


class RatesUrlMissing(Unprocessable):
    code = "rates_url_missing"
    title = "No rates URL given or configured"


class RateUnavailable(Unprocessable):
    code = "rate_unavailable"
    title = "No exchange rate is known for this pair"


class SameCurrency(Unprocessable):
    code = "same_currency"
    title = "Sell and buy currencies must differ"


class AmountTooSmall(Unprocessable):
    code = "amount_too_small"
    title = "The amount converts to nothing"


class QuoteNotFound(NotFound):
    code = "quote_not_found"


class QuoteExpired(Unprocessable):
    code = "quote_expired"
    title = "The quote has expired"


class QuoteAlreadyAccepted(Conflict):
    code = "quote_already_accepted"
    title = "The quote was accepted already"
