"""Reading web forms: amounts typed by people, and the idempotency key a form carries so a
double submit (or a retried request after a lost answer) never moves money twice."""

from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation

from finhub.kit.money import iso_currency
from finhub.web.i18n import gettext

IDEMPOTENCY_FIELD = "idempotency_key"


class FormError(Exception):
    """Input a page rejects before calling the API; `errors` maps a field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def new_idempotency_key() -> str:
    """A key rendered into a form; the API call made on its submit sends it."""
    return "web_" + secrets.token_urlsafe(18)


def parse_amount(text: str | None, currency: str, field: str = "amount") -> int:
    """`"12.50"` or `"12,50"` in `currency` → 1250 minor units; anything else is a FormError."""
    raw = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    raw = raw.replace(",", ".") if raw.count(",") == 1 and "." not in raw else raw.replace(",", "")
    asset = iso_currency(currency)
    scale = asset.scale if asset is not None else 2
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise FormError({field: gettext("Enter an amount like 12.50.")}) from None
    if not value.is_finite() or value <= 0:
        raise FormError({field: gettext("Enter an amount greater than zero.")})
    minor = value.scaleb(scale)
    if minor != minor.to_integral_value():
        raise FormError({field: gettext("Use at most %(digits)d decimals.") % {"digits": scale}})
    return int(minor)
