"""Reading web forms: amounts typed by people, and the idempotency key a form carries so a
double submit (or a retried request after a lost answer) never moves money twice."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from finhub.api import TRANSIENT, TRANSIENT_CODES
from finhub.kit.money import iso_currency
from finhub.web.client import ApiProblem
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
        value = Decimal(raw)
    except InvalidOperation:
        raise FormError({field: gettext("Enter an amount like 12.50.")}) from None
    if not value.is_finite() or value <= 0:
        raise FormError({field: gettext("Enter an amount greater than zero.")})
    minor = value.scaleb(scale)
    if minor != minor.to_integral_value():
        raise FormError({field: gettext("Use at most %(digits)d decimals.") % {"digits": scale}})
    return int(minor)
