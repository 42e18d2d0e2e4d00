"""Money-out rule errors (problem+json codes)."""

from __future__ import annotations

from finhub.errors import Conflict, NotFound, Unprocessable


class PayeeNotFound(NotFound):
    code = "payee_not_found"
    title = "No such payee"


class InvalidBankDetails(Unprocessable):
    """Raised with the specific code: iban_invalid, bic_invalid, bic_mismatch, …"""

    code = "invalid_bank_details"
    title = "The bank details are not valid"


class PayeeCurrencyMismatch(Unprocessable):
    code = "currency_mismatch"
    title = "The payee's account is in another currency"


class WithdrawalNotFound(NotFound):
    code = "withdrawal_not_found"
    title = "No such withdrawal"


class WithdrawalAlreadyBatched(Conflict):
    code = "withdrawal_already_batched"
    title = "The withdrawal has already been sent to the bank"


class PayoutBatchNotFound(NotFound):
    code = "payout_batch_not_found"
    title = "No such payout batch"


class InvalidStatusReport(Unprocessable):
    code = "invalid_status_report"
    title = "The status report can't be read"


class StatusReportMismatch(Unprocessable):
    """The report is for another file, or names payments that are not in this batch."""

    code = "status_report_mismatch"
    title = "The status report does not match the batch"


class PayoutStatusConflict(Conflict):
    code = "payout_status_conflict"
    title = "The report contradicts a status the bank gave before"
