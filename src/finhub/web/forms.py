"""Reading web forms: amounts typed by people, and the idempotency key a form carries so a
double submit (or a retried request after a lost answer) never moves money twice."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from decimal import Context, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from finhub.kit.idempotency import TRANSIENT, TRANSIENT_CODES
from finhub.kit.money import iso_currency
from finhub.web.client import ApiProblem
from finhub.web.i18n import gettext

IDEMPOTENCY_FIELD = "idempotency_key"
# Digits with one optional point (and a sign, so "-5" is told it must be above zero): no
# exponent ("1e999999" would overflow), no underscores, no other scripts' digits.
AMOUNT_TEXT = re.compile(r"[+-]?[0-9]*\.?[0-9]*")
# The largest amount in minor units the API's 64-bit integers hold.
MAX_MINOR_UNITS = 2**63 - 1


class FormError(Exception):
    """Input a page rejects before calling the API; `errors` maps a field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def new_idempotency_key() -> str:
    """A key rendered into a form; the API call made on its submit sends it."""
    return "web_" + secrets.token_urlsafe(18)


def headed(errors: dict[str, str]) -> dict[str, str]:
    """`errors` headed by "Check the highlighted fields." when they have none for the whole
    form yet (an empty dict stays empty)."""
    if errors and not errors.get(""):
        errors[""] = gettext("Check the highlighted fields.")
    return errors


def key_after(problem: ApiProblem | None, key: str) -> str:
    """The idempotency key for the next submit of a form the API refused with `problem` (None:
    refused before the key was used). The API keeps a refusal under its key and would replay
    it, so a corrected form needs a new key; what depends on the moment (a conflict, a
    throttle, `step_up_required`) and server errors are not kept, and the same key is safe."""
    if problem is None or problem.status >= 500:
        return key
    if problem.status in TRANSIENT or problem.code in TRANSIENT_CODES:
        return key
    return new_idempotency_key()


def form_text(form: Mapping[str, Any], name: str) -> str:
    """A typed value without the spaces around it ("" when the form has none)."""
    return form_exact(form, name).strip()


def form_exact(form: Mapping[str, Any], name: str) -> str:
    """A value exactly as typed, such as a password, where spaces are part of it."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def parse_amount(text: str | None, currency: str, field: str = "amount") -> int:
    """`"12.50"` or `"12,50"` in `currency` → 1250 minor units; anything else is a FormError."""
    raw = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    raw = raw.replace(",", ".") if raw.count(",") == 1 and "." not in raw else raw.replace(",", "")
    asset = iso_currency(currency)
    scale = asset.scale if asset is not None else 2
    try:
        if not AMOUNT_TEXT.fullmatch(raw):
            raise InvalidOperation
        value = Decimal(raw)
    except InvalidOperation:
        raise FormError({field: gettext("Enter an amount like 12.50.")}) from None
    if value <= 0:
        raise FormError({field: gettext("Enter an amount greater than zero.")})
    if value.adjusted() > len(str(MAX_MINOR_UNITS)):
        raise FormError({field: gettext("The amount is too large.")})
    # Exact: the default 28 digits would round away a 29th decimal instead of refusing it.
    minor = value.scaleb(scale, context=Context(prec=len(raw) + scale + 2))
    if minor != minor.to_integral_value():
        raise FormError({field: gettext("Use at most %(digits)d decimals.") % {"digits": scale}})
    if int(minor) > MAX_MINOR_UNITS:
        raise FormError({field: gettext("The amount is too large.")})
    return int(minor)


def safe_next(value: str | None) -> str | None:
    """A local path to go to next (after signing in, after choosing a language); anything
    else (another site, a scheme-relative or backslash URL, control characters) is ignored."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(char) < 32 or ord(char) == 127 for char in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value
