"""Checking a payee's bank details before they are saved.

IBANs and BICs are checked with `schwifty` (structure, length, check digits, country). Local
accounts are supported where a payout can reach them without an IBAN: the UK (sort code and
8-digit account number) and the US (ABA routing number with its check digit). Euro payouts go
over SEPA, which needs an IBAN in the SEPA zone.
"""

from __future__ import annotations

import re

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from finhub.kit.money import iso_currency
from finhub.payments.payouts.errors import InvalidBankDetails
from finhub.payments.payouts.models import BankDetails

SEPARATORS = re.compile(r"[\s-]")
ABA_WEIGHTS = (3, 7, 1) * 3
LOCAL_ACCOUNTS = {
    # country: (clearing system, clearing code digits, account number pattern, currency)
    "GB": ("GBDSC", 6, re.compile(r"^[0-9]{8}$"), "GBP"),
    "US": ("USABA", 9, re.compile(r"^[0-9]{4,17}$"), "USD"),
}


def check_bank_details(
    *,
    currency: str,
    iban: str | None,
    bic: str | None,
    account_number: str | None,
    sort_code: str | None,
    routing_number: str | None,
    country: str | None,
) -> BankDetails:
    """Validated, normalised bank details; `InvalidBankDetails` with a specific code when they
    are not (iban_invalid, bic_invalid, bic_mismatch, account_number_invalid, …)."""
    if iso_currency(currency) is None:
        raise InvalidBankDetails(
            f"{currency} is not an ISO 4217 currency.", code="currency_invalid"
        )
    if iban and account_number:
        raise InvalidBankDetails(
            "Give either an IBAN or a local account number, not both.",
            code="account_details_ambiguous",
        )
    if iban:
        if sort_code or routing_number:
            raise InvalidBankDetails(
                "A sort code or routing number goes with a local account number, not an IBAN.",
                code="account_details_ambiguous",
            )
        return _iban_details(currency, iban, bic, country)
    if account_number:
        if bic:
            raise InvalidBankDetails(
                "A BIC goes with an IBAN; give the sort code or routing number for a local "
                "account.",
                code="account_details_ambiguous",
            )
        return _local_details(currency, account_number, sort_code, routing_number, country)
    raise InvalidBankDetails(
        "Give an IBAN, or a local account number with its sort code or routing number.",
        code="account_details_required",
    )


def _iban_details(
    currency: str, raw_iban: str, raw_bic: str | None, country: str | None
) -> BankDetails:
    try:
        iban = IBAN(raw_iban)
    except SchwiftyException as error:
        raise InvalidBankDetails(f"The IBAN is not valid: {error}.", code="iban_invalid") from error
    if country and country.upper() != iban.country_code:
        raise InvalidBankDetails(
            f"The IBAN is from {iban.country_code}, not {country.upper()}.",
            code="country_mismatch",
        )
    bic = _checked_bic(iban, raw_bic) if raw_bic else _known_bic(iban)
    if currency == "EUR" and not iban.in_sepa_zone:
        raise InvalidBankDetails(
            f"Euro payouts go over SEPA; {iban.country_code} IBANs are outside the SEPA zone.",
            code="iban_not_in_sepa_zone",
        )
    return BankDetails(country=iban.country_code, iban=iban.compact, bic=bic)


def _checked_bic(iban: IBAN, raw_bic: str) -> str:
    try:
        bic = BIC(raw_bic)
    except SchwiftyException as error:
        raise InvalidBankDetails(f"The BIC is not valid: {error}.", code="bic_invalid") from error
    if bic.country_code != iban.country_code:
        raise InvalidBankDetails(
            f"The BIC is of a bank in {bic.country_code}, the IBAN of an account in "
            f"{iban.country_code}.",
            code="bic_mismatch",
        )
    registered = iban.bic
    if registered is not None and registered.bank_code != bic.bank_code:
        raise InvalidBankDetails(
            f"The IBAN belongs to {registered.bank_code} ({registered.compact}), not to the "
            f"bank of {bic.compact}.",
            code="bic_mismatch",
        )
    return _eleven(bic)


def _known_bic(iban: IBAN) -> str | None:
    """The BIC schwifty's bank registry knows for the IBAN's bank, if any (SEPA needs none)."""
    registered = iban.bic
    return _eleven(registered) if registered is not None else None


def _eleven(bic: BIC) -> str:
    """BICs are compared and stored in their 11-character form (XXX for the head office)."""
    compact = str(bic.compact)
    return compact if len(compact) == 11 else compact + "XXX"


def _local_details(
    currency: str,
    raw_account: str,
    sort_code: str | None,
    routing_number: str | None,
    country: str | None,
) -> BankDetails:
    country = (country or "").upper()
    if country not in LOCAL_ACCOUNTS:
        raise InvalidBankDetails(
            "Local account numbers are supported for GB and US accounts; use an IBAN elsewhere.",
            code="local_account_unsupported",
        )
    system, digits, account_pattern, local_currency = LOCAL_ACCOUNTS[country]
    if currency != local_currency:
        raise InvalidBankDetails(
            f"A local {country} account takes {local_currency} payouts.",
            code="currency_not_supported",
        )
    code = sort_code if country == "GB" else routing_number
    other = routing_number if country == "GB" else sort_code
    name = "sort_code" if country == "GB" else "routing_number"
    if other or not code:
        raise InvalidBankDetails(f"A {country} account needs its {name}.", code=f"{name}_required")
    code = SEPARATORS.sub("", code)
    if not (code.isdigit() and len(code) == digits) or (system == "USABA" and not _aba_ok(code)):
        raise InvalidBankDetails(
            f"The {name.replace('_', ' ')} is not valid.", code=f"{name}_invalid"
        )
    account = SEPARATORS.sub("", raw_account)
    if not account_pattern.match(account):
        raise InvalidBankDetails("The account number is not valid.", code="account_number_invalid")
    return BankDetails(
        country=country, account_number=account, clearing_system=system, clearing_code=code
    )


def _aba_ok(routing_number: str) -> bool:
    """The ABA check digit: weights 3, 7, 1 repeated; the weighted sum is a multiple of 10."""
    total = sum(
        int(digit) * weight for digit, weight in zip(routing_number, ABA_WEIGHTS, strict=True)
    )
    return total % 10 == 0
