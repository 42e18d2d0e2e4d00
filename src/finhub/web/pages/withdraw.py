"""Withdrawals: money from the wallet to one of the person's saved payees.

The form leads to a review, and confirming it asks the API to hold the amount (plus any fee)
in the wallet: the money stops being available at once and leaves with the next payout batch.
Large amounts need a fresh second factor; the review then comes back with the step-up field.
The list shows every withdrawal with where it stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from finhub.web.client import Api, ApiProblem
from finhub.web.errors import field_errors, message_for
from finhub.web.forms import FormError, form_text, key_after, new_idempotency_key, parse_amount
from finhub.web.i18n import gettext
from finhub.web.i18n import lazy_gettext as _
from finhub.web.pages.payees import as_printed
from finhub.web.rendering import N_, redirect, render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser, WebUser
from finhub.web.step_up import STEP_UP_REQUIRED, StepUpFailed, with_step_up

router = web_router()

RECENT_WITHDRAWALS = 20
WITHDRAWAL_FIELDS = {
    "insufficient_funds": "amount",
    "limit_exceeded": "amount",
    "amount_too_small": "amount",
    "amount_too_large": "amount",
    "payee_not_found": "payee_id",
    "currency_mismatch": "payee_id",
}
# A withdrawal's status, and where it is on its way to the bank (`payout_status`).
STATUS_LABELS = {
    "processing": _("Pending"),
    "completed": _("Paid out"),
    "failed": _("Failed"),
    "canceled": _("Canceled"),
}
PAYOUT_LABELS = {
    "pending": _("Waiting for the next transfer to the bank. You can still cancel it."),
    "batched": _("Sent to the bank. It usually arrives within one business day."),
    "paid": _("The bank paid it out to the account."),
    "failed": _("The bank couldn't pay it out. The money is back in your wallet."),
    "canceled": _("Canceled. The money is back in your wallet."),
}
FORM_KEYS = ("payee_id", "amount", "currency", "note")


@router.get("/withdraw")
async def withdraw(request: Request, user: CurrentUser) -> Response:
    values = dict.fromkeys(FORM_KEYS, "")
    values.update(currency=user.home_currency, idempotency_key=new_idempotency_key())
    return await _form(request, user, values, {})


@router.post("/withdraw/edit")
async def edit(request: Request, user: CurrentUser) -> Response:
    """Back from the review to the form, with what was typed."""
    return await _form(request, user, _values(await request.form()), {})


@router.post("/withdraw/review")
async def review(request: Request, user: CurrentUser) -> Response:
    values = _values(await request.form())
    api = Api(request)
    try:
        amount = parse_amount(values["amount"], values["currency"])
        payee = await _chosen_payee(api, values)
    except FormError as error:
        return await _form(request, user, values, error.errors, status=422)
    return await _review(request, values, payee, amount, {})


@router.post("/withdraw")
async def confirm(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    values = _values(form)
    api = Api(request)
    try:
        amount = parse_amount(values["amount"], values["currency"])
        payee = await _chosen_payee(api, values)
    except FormError as error:
        return await _form(request, user, values, error.errors, status=422)
    body = {
        "payee_id": payee["id"],
        "amount": amount,
        "currency": values["currency"],
        "note": values["note"] or None,
    }
    key = values["idempotency_key"]
    try:
        withdrawal = await with_step_up(
            api, form, lambda: api.post("/v1/payments/withdrawals", body, idempotency_key=key)
        )
    except StepUpFailed as failed:
        errors = {"step_up_code": message_for(failed.problem)}
        return await _review(request, values, payee, amount, errors, step_up=True, status=422)
    except ApiProblem as problem:
        values["idempotency_key"] = key_after(problem, key)
        if problem.code == STEP_UP_REQUIRED:
            return await _review(request, values, payee, amount, {}, step_up=True)
        errors = field_errors(problem, WITHDRAWAL_FIELDS)
        return await _form(request, user, values, errors, status=422)
    flash = N_("Withdrawal requested. The money is held in your wallet until it leaves.")
    return redirect(request, f"/withdraw/{withdrawal['id']}", flash=flash)


@router.get("/withdraw/{payment_id}")
async def withdrawal(request: Request, payment_id: str, user: CurrentUser) -> Response:
    api = Api(request)
    found = await api.get(f"/v1/payments/withdrawals/{payment_id}")
    payee = await _payee_or_none(api, found["payee_id"])
    wallet = await api.get("/v1/wallets/me")
    balance = next((b for b in wallet["balances"] if b["currency"] == found["currency"]), None)
    context = {
        "withdrawal": found,
        "payee": payee,
        "balance": balance,
        "status_label": STATUS_LABELS.get(found["status"], found["status"]),
        "payout_label": PAYOUT_LABELS.get(found["payout_status"], ""),
        "cancelable": found["payout_status"] == "pending" and found["status"] == "processing",
        "idempotency_key": new_idempotency_key(),
    }
    return render(request, "withdraw/detail.html", context)


@router.post("/withdraw/{payment_id}/cancel")
async def cancel(request: Request, payment_id: str, user: CurrentUser) -> Response:
    form = await request.form()
    key = str(form.get("idempotency_key") or new_idempotency_key())
    try:
        await Api(request).post(
            f"/v1/payments/withdrawals/{payment_id}/cancel", idempotency_key=key
        )
    except ApiProblem as problem:
        if problem.code not in ("withdrawal_already_batched", "payment_state_conflict"):
            raise
        too_late = N_("This withdrawal is already on its way and can't be canceled.")
        return redirect(request, f"/withdraw/{payment_id}", flash=too_late)
    return redirect(request, f"/withdraw/{payment_id}", flash=N_("Withdrawal canceled."))


def _values(form: Mapping[str, Any]) -> dict[str, str]:
    values = {name: form_text(form, name) for name in FORM_KEYS}
    values["currency"] = values["currency"] or "EUR"
    values["idempotency_key"] = form_text(form, "idempotency_key") or new_idempotency_key()
    return values


async def _chosen_payee(api: Api, values: Mapping[str, str]) -> dict[str, Any]:
    """The payee the form names, in the currency the form asks for (else a FormError)."""
    if not values["payee_id"]:
        raise FormError({"payee_id": gettext("Choose who to withdraw to.")})
    payee = await _payee_or_none(api, values["payee_id"])
    if payee is None:
        raise FormError({"payee_id": gettext("Choose who to withdraw to.")})
    if payee["currency"] != values["currency"]:
        message = gettext("This account receives %(currency)s. Withdraw in %(currency)s.")
        raise FormError({"payee_id": message % {"currency": payee["currency"]}})
    return as_printed(payee)


async def _payee_or_none(api: Api, payee_id: str) -> dict[str, Any] | None:
    result = await api.call("GET", f"/v1/payees/{payee_id}")
    if result.status == 404:
        return None
    if not result.ok:
        raise ApiProblem(result)
    payee: dict[str, Any] = result.json()
    return payee


async def _form(
    request: Request,
    user: WebUser,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
) -> Response:
    api = Api(request)
    payees = (await api.get("/v1/payees", {"limit": 100}))["data"]
    wallet = await api.get("/v1/wallets/me")
    recent = await api.get(
        "/v1/wallets/me/activity", {"kind": "withdrawal", "limit": RECENT_WITHDRAWALS}
    )
    currencies = [b["currency"] for b in wallet["balances"]]
    currencies += [p["currency"] for p in payees]
    context = {
        "values": values,
        "errors": errors,
        "payees": [(p["id"], payee_option(p)) for p in payees],
        "currencies": list(dict.fromkeys([user.home_currency, *currencies])),
        "balances": wallet["balances"],
        "withdrawals": recent["data"],
        "status_labels": STATUS_LABELS,
    }
    return render(request, "withdraw/form.html", context, status=status)


def payee_option(payee: Mapping[str, Any]) -> str:
    """How a payee reads in the list: its name, the end of its account and its currency."""
    account = payee.get("iban") or payee.get("account_number") or ""
    name = payee.get("nickname") or payee["name"]
    return f"{name} · ••{account[-4:]} · {payee['currency']}"


async def _review(
    request: Request,
    values: dict[str, str],
    payee: dict[str, Any],
    amount: int,
    errors: dict[str, str],
    *,
    step_up: bool = False,
    status: int = 200,
) -> Response:
    wallet = await Api(request).get("/v1/wallets/me")
    balance = next((b for b in wallet["balances"] if b["currency"] == values["currency"]), None)
    context = {
        "values": values,
        "payee": payee,
        "amount": amount,
        "balance": balance,
        "errors": errors,
        "step_up": step_up,
    }
    return render(request, "withdraw/review.html", context, status=status)
