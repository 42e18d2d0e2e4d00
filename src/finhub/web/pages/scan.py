"""Paying a QR code: upload a picture of it, scan it with the camera or paste its text (the
browser decodes images with qr-scanner), then a review of what the code says and one call that
pays it (`POST /v1/payments/qr`).

The review reads the code's own fields (finhub's EMVCo format: payee name, currency and, for a
payment request, the amount) with the same parser the API uses; the API checks it all again
when paying, so a doctored payload can't pay anything the code's request doesn't say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from finhub.errors import FinhubError
from finhub.payments.transfers import qr
from finhub.web.client import Api, ApiProblem
from finhub.web.forms import (
    FormError,
    form_text,
    headed,
    key_after,
    new_idempotency_key,
    parse_amount,
)
from finhub.web.i18n import gettext
from finhub.web.pages.send import payment_errors, post_once, render_receipt
from finhub.web.rendering import N_, redirect, render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser
from finhub.web.step_up import STEP_UP_REQUIRED, StepUpFailed, with_step_up

router = web_router()
MAX_PAYLOAD = 512
QR_FIELDS = {
    "insufficient_funds": "amount",
    "limit_exceeded": "amount",
    "amount_required": "amount",
    "qr_amount_mismatch": "amount",
    "qr_invalid": "payload",
    "payment_request_paid": "",
    "payment_request_closed": "",
    "payment_request_not_found": "",
    "recipient_not_found": "",
    "self_payment": "",
    "recipient_wallet_closed": "",
    "invalid_pin": "step_up_code",
    "invalid_second_factor": "step_up_code",
    "code_already_used": "step_up_code",
    "authentication_failed": "step_up_code",
    "factor_not_enrolled": "step_up_code",
}


@dataclass(frozen=True)
class ScannedCode:
    """What a finhub QR code says, for the review."""

    payload: str
    payee: str
    currency: str
    amount: int | None  # set by a payment request's (dynamic) code
    is_request: bool


def read_code(payload: str) -> ScannedCode:
    """The code's fields; a FormError on the payload field if it isn't a finhub code."""
    text = payload.strip()
    if not text:
        raise FormError({"payload": gettext("Scan a code or paste its text.")})
    message = gettext("This QR code is not a payment code we can read.")
    if len(text) > MAX_PAYLOAD:
        raise FormError({"payload": message})
    try:
        fields = qr.finhub_fields(qr.parse_emvco(text))
    except FinhubError:
        raise FormError({"payload": message}) from None
    return ScannedCode(
        payload=text,
        payee=fields.merchant_name,
        currency=fields.currency,
        amount=fields.amount,
        is_request=fields.token is not None,
    )


def qr_body(code: ScannedCode, amount_text: str, note: str) -> dict[str, Any]:
    """The body of `POST /v1/payments/qr`: a request's code carries its amount, a person's own
    code needs the one typed."""
    body: dict[str, Any] = {"payload": code.payload}
    if code.amount is None:
        body["amount"] = parse_amount(amount_text, code.currency)
    if note and not code.is_request:
        if len(note) > 500:
            raise FormError({"note": gettext("Keep the note under 500 characters.")})
        body["note"] = note
    return body


def pay_errors(problem: ApiProblem) -> dict[str, str]:
    errors = payment_errors(problem, QR_FIELDS)
    if "to" in errors or "payload" in errors:
        errors.setdefault("payload", errors.pop("to", ""))
    return errors


# --- pages ------------------------------------------------------------------------------------


@router.get("/scan")
async def scan_page(request: Request, user: CurrentUser) -> Response:
    return render(request, "scan/scan.html", {"values": {"payload": ""}, "errors": {}})


@router.post("/scan/review")
async def review(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    payload = form_text(form, "payload")
    try:
        code = read_code(payload)
    except FormError as error:
        return _show_scan(request, payload, error.errors)
    values = {"amount": "", "note": "", "idempotency_key": new_idempotency_key()}
    return _show_review(request, code, values, {})


@router.post("/scan/pay")
async def pay(request: Request, user: CurrentUser) -> Response:
    api = Api(request)
    form = await request.form()
    values = {
        "amount": form_text(form, "amount"),
        "note": form_text(form, "note"),
        "idempotency_key": form_text(form, "idempotency_key") or new_idempotency_key(),
    }
    try:
        code = read_code(form_text(form, "payload"))
    except FormError as error:
        return _show_scan(request, "", error.errors)
    try:
        body = qr_body(code, values["amount"], values["note"])
    except FormError as error:
        return _show_review(request, code, values, error.errors, status=422)
    key = values["idempotency_key"]
    try:
        payment = await with_step_up(
            api, form, lambda: post_once(api, "/v1/payments/qr", body, key)
        )
    except StepUpFailed as failed:
        errors = pay_errors(failed.problem)
        return _show_review(request, code, values, errors, step_up=True, status=422)
    except ApiProblem as problem:
        values["idempotency_key"] = key_after(problem, key)
        if problem.code == STEP_UP_REQUIRED:
            return _show_review(request, code, values, {}, step_up=True)
        return _show_review(request, code, values, pay_errors(problem), status=422)
    return redirect(request, f"/scan/paid/{payment['id']}", flash=N_("Payment sent."))


@router.get("/scan/paid/{payment_id}")
async def paid(request: Request, payment_id: str, user: CurrentUser) -> Response:
    title = gettext("QR code paid")
    return await render_receipt(request, Api(request), payment_id, title=title, back="/scan")


def _show_scan(request: Request, payload: str, errors: dict[str, str]) -> Response:
    errors = {**errors, "": errors["payload"]}
    context = {"values": {"payload": payload}, "errors": errors}
    return render(request, "scan/scan.html", context, status=422)


def _show_review(
    request: Request,
    code: ScannedCode,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    step_up: bool = False,
    status: int = 200,
) -> Response:
    context = {"code": code, "values": values, "errors": headed(errors), "step_up": step_up}
    return render(request, "scan/review.html", context, status=status)
