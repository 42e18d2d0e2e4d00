"""Payees: the bank accounts a person withdraws to. Listing, adding (an IBAN with an optional
BIC, or a UK or US local account number) and removing.

Adding a payee needs a fresh second factor: once saved, a payee is somewhere money can go. The
API answers `step_up_required`, the form comes back with the step-up field in it, and the next
submit proves the factor and saves the payee without the person typing anything again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from finhub.web.client import Api, ApiProblem
from finhub.web.errors import field_errors, message_for
from finhub.web.forms import form_text, key_after, new_idempotency_key
from finhub.web.i18n import babel_locale
from finhub.web.i18n import lazy_gettext as _
from finhub.web.rendering import N_, redirect, render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser, WebUser
from finhub.web.step_up import STEP_UP_REQUIRED, StepUpFailed, with_step_up

router = web_router()

PAYEE_CURRENCIES = ("EUR", "GBP", "USD", "CHF", "PLN", "SEK", "DKK", "NOK", "CZK", "HUF", "RON")
LOCAL_COUNTRIES = ("GB", "US")
# Problem codes about one field of the form (validation_error names its field itself).
PAYEE_FIELDS = {
    "iban_invalid": "iban",
    "iban_not_in_sepa_zone": "iban",
    "account_details_required": "iban",
    "bic_invalid": "bic",
    "bic_mismatch": "bic",
    "country_mismatch": "country",
    "local_account_unsupported": "country",
    "account_number_invalid": "account_number",
    "currency_not_supported": "currency",
    "currency_invalid": "currency",
}
# Codes of the local-account checks that the shared messages don't cover.
BANK_CODE_MESSAGES = {
    "sort_code_required": _("Enter the sort code of the UK account."),
    "sort_code_invalid": _("Check the sort code: it has 6 digits."),
    "routing_number_required": _("Enter the routing number of the US account."),
    "routing_number_invalid": _("Check the routing number: it has 9 digits."),
}
# The API's field names for the one "sort code or routing number" field of the form.
BANK_CODE_KEYS = ("sort_code", "routing_number")
FORM_FIELDS = (
    "name",
    "nickname",
    "currency",
    "iban",
    "bic",
    "country",
    "account_number",
    "bank_code",
)


@router.get("/payees")
async def payees(request: Request, user: CurrentUser) -> Response:
    found = await Api(request).get("/v1/payees", {"limit": 100})
    shown = [as_printed(payee) for payee in found["data"]]
    return render(request, "payees/list.html", {"payees": shown})


@router.get("/payees/new")
async def new_payee(request: Request, user: CurrentUser) -> Response:
    values = dict.fromkeys(FORM_FIELDS, "")
    values.update(currency=_default_currency(user), idempotency_key=new_idempotency_key())
    return _form(request, values, {})


@router.post("/payees")
async def add_payee(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    values = _values(form)
    api = Api(request)
    body, key = payee_body(values), values["idempotency_key"]
    try:
        await with_step_up(api, form, lambda: api.post("/v1/payees", body, idempotency_key=key))
    except StepUpFailed as failed:
        errors = {"step_up_code": message_for(failed.problem)}
        return _form(request, values, errors, step_up=True, status=422)
    except ApiProblem as problem:
        values["idempotency_key"] = key_after(problem, key)
        if problem.code == STEP_UP_REQUIRED:
            return _form(request, values, {}, step_up=True)
        return _form(request, values, payee_errors(problem), status=422)
    return redirect(request, "/payees", flash=N_("Payee added."))


@router.get("/payees/{payee_id}/remove")
async def confirm_removal(request: Request, payee_id: str, user: CurrentUser) -> Response:
    payee = await Api(request).get(f"/v1/payees/{payee_id}")
    return render(request, "payees/remove.html", {"payee": as_printed(payee)})


@router.post("/payees/{payee_id}/remove")
async def remove_payee(request: Request, payee_id: str, user: CurrentUser) -> Response:
    await Api(request).delete(f"/v1/payees/{payee_id}")
    return redirect(request, "/payees", flash=N_("Payee removed."))


def as_printed(payee: dict[str, Any]) -> dict[str, Any]:
    """The payee with its IBAN in groups of four and its sort code in pairs, as banks print
    them."""
    iban = payee.get("iban") or ""
    sort_code = payee.get("sort_code") or ""
    return {
        **payee,
        "iban_grouped": " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)),
        "sort_code": "-".join(sort_code[i : i + 2] for i in range(0, len(sort_code), 2)),
    }


def _default_currency(user: WebUser) -> str:
    return user.home_currency if user.home_currency in PAYEE_CURRENCIES else "EUR"


def country_name(code: str) -> str:
    return str(babel_locale().territories.get(code, code))


def _values(form: Mapping[str, Any]) -> dict[str, str]:
    values = {name: form_text(form, name) for name in FORM_FIELDS}
    values["idempotency_key"] = form_text(form, "idempotency_key") or new_idempotency_key()
    return values


def payee_body(values: Mapping[str, str]) -> dict[str, Any]:
    """The API's payee from the form: an IBAN account, or a local one whose bank code is a
    sort code (GB) or a routing number (US)."""
    body: dict[str, Any] = {
        "name": values["name"],
        "currency": values["currency"],
        "nickname": values["nickname"] or None,
    }
    if values["iban"] or not values["account_number"]:
        body.update(iban=values["iban"] or None, bic=values["bic"] or None)
    if values["account_number"]:
        country = values["country"].upper()
        code_key = "routing_number" if country == "US" else "sort_code"
        body.update(
            account_number=values["account_number"],
            country=country or None,
            **{code_key: values["bank_code"] or None},
        )
    return body


def payee_errors(problem: ApiProblem) -> dict[str, str]:
    """Messages per form field for a refused payee."""
    if problem.code in BANK_CODE_MESSAGES:
        message = str(BANK_CODE_MESSAGES[problem.code])
        return {"bank_code": message, "": message}
    errors = field_errors(problem, PAYEE_FIELDS)
    for key in BANK_CODE_KEYS:
        if key in errors:
            errors["bank_code"] = errors.pop(key)
    return errors


def _form(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    step_up: bool = False,
    status: int = 200,
) -> Response:
    context = {
        "values": values,
        "errors": errors,
        "step_up": step_up,
        "currencies": [(code, code) for code in PAYEE_CURRENCIES],
        "countries": [("", _("Choose…")), *((c, country_name(c)) for c in LOCAL_COUNTRIES)],
        "local_open": bool(values["account_number"] or values["bank_code"]),
    }
    return render(request, "payees/new.html", context, status=status)
