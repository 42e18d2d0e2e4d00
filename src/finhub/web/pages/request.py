"""Asking for money: a request to a person or a shareable link with its QR code, the person's
open requests (cancel), the requests waiting for them to pay (pay), their own static QR code,
and `/pay`, the page a share link opens.

A share link made here is `<public url>/pay#<the request's QR text>`: the fragment never
reaches a server, and the QR text carries what the payer must see before paying (who asks, the
amount) with a checksum, and pays through the same call as scanning the code, which checks it
against the request. The API's own `link` (`/pay#<token>`) names no amount, so `/pay` can't show
what such a link asks for; it sends its visitor to their open requests instead.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import Request
from fastapi.responses import Response

from finhub.web.client import Api, ApiProblem, ApiResult
from finhub.web.forms import (
    FormError,
    form_text,
    headed,
    key_after,
    new_idempotency_key,
    parse_amount,
)
from finhub.web.i18n import gettext
from finhub.web.pages.scan import ScannedCode, pay_errors, read_code
from finhub.web.pages.send import (
    balances,
    payment_errors,
    post_once,
    recipient_body,
    render_receipt,
)
from finhub.web.rendering import N_, redirect, render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser, SignInRequired, WebUser, current_user
from finhub.web.step_up import STEP_UP_REQUIRED, StepUpFailed, with_step_up

router = web_router()
REQUEST_ID = re.compile(r"^prq_[0-9A-Za-z]{1,60}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
PAY_COOKIE = "fh_pay"
PAY_COOKIE_AGE = 3600
LIST_SIZE = 20
REQUEST_FIELDS = {
    "recipient_not_found": "recipient",
    "self_payment": "recipient",
    "too_many_attempts": "recipient",
    "recipient_wallet_closed": "recipient",
    "unsupported_currency": "amount",
    "amount_too_large": "amount",
    "invalid_expiry": "",
}
STEP_UP_FIELDS = {
    "invalid_pin": "step_up_code",
    "invalid_second_factor": "step_up_code",
    "code_already_used": "step_up_code",
    "authentication_failed": "step_up_code",
    "factor_not_enrolled": "step_up_code",
}
NO_CACHE = {"cache-control": "private, no-store"}


# --- the request page -------------------------------------------------------------------------


@router.get("/request")
async def request_page(request: Request, user: CurrentUser, currency: str = "") -> Response:
    return await _show_page(request, user, _blank(user), {}, qr_currency=currency)


@router.post("/request")
async def create(request: Request, user: CurrentUser) -> Response:
    api = Api(request)
    form = await request.form()
    values = {
        "recipient": form_text(form, "recipient"),
        "amount": form_text(form, "amount"),
        "currency": form_text(form, "currency").upper() or user.home_currency,
        "note": form_text(form, "note"),
        "idempotency_key": form_text(form, "idempotency_key") or new_idempotency_key(),
    }
    try:
        body = _request_body(values)
        created = await post_once(api, "/v1/payment-requests", body, values["idempotency_key"])
    except FormError as error:
        return await _show_page(request, user, values, error.errors, status=422)
    except ApiProblem as problem:
        values["idempotency_key"] = key_after(problem, values["idempotency_key"])
        errors = payment_errors(problem, REQUEST_FIELDS)
        return await _show_page(request, user, values, errors, status=422)
    return redirect(request, f"/request/{created['id']}", flash=N_("Request created."))


@router.get("/request/my-code.svg")
async def my_code_svg(request: Request, user: CurrentUser, currency: str = "") -> Response:
    return await _image(request, "/v1/payments/static-qr.svg", _currency_param(currency))


@router.get("/request/my-code.png")
async def my_code_png(request: Request, user: CurrentUser, currency: str = "") -> Response:
    return await _image(request, "/v1/payments/static-qr.png", _currency_param(currency))


@router.get("/request/paid/{payment_id}")
async def request_paid(request: Request, payment_id: str, user: CurrentUser) -> Response:
    title = gettext("Request paid")
    return await render_receipt(request, Api(request), payment_id, title=title, back="/request")


@router.get("/request/{request_id}")
async def detail(request: Request, request_id: str, user: CurrentUser) -> Response:
    found = await Api(request).get(f"/v1/payment-requests/{_checked(request_id)}")
    return _show_detail(request, found, {})


@router.get("/request/{request_id}/qr.svg")
async def request_svg(request: Request, request_id: str, user: CurrentUser) -> Response:
    return await _image(request, f"/v1/payment-requests/{_checked(request_id)}/qr.svg")


@router.get("/request/{request_id}/qr.png")
async def request_png(request: Request, request_id: str, user: CurrentUser) -> Response:
    return await _image(request, f"/v1/payment-requests/{_checked(request_id)}/qr.png")


@router.post("/request/{request_id}/cancel")
async def cancel(request: Request, request_id: str, user: CurrentUser) -> Response:
    api = Api(request)
    form = await request.form()
    key = form_text(form, "idempotency_key") or new_idempotency_key()
    try:
        await post_once(api, f"/v1/payment-requests/{_checked(request_id)}/cancel", None, key)
    except ApiProblem as problem:
        found = await api.get(f"/v1/payment-requests/{_checked(request_id)}")
        return _show_detail(request, found, payment_errors(problem, {}), status=409)
    return redirect(request, "/request", flash=N_("Request canceled."))


@router.post("/request/{request_id}/pay")
async def pay_incoming(request: Request, request_id: str, user: CurrentUser) -> Response:
    """Pay a request addressed to the person (its amount and requester were on the list)."""
    api = Api(request)
    form = await request.form()
    path = f"/v1/payment-requests/{_checked(request_id)}"
    key = form_text(form, "idempotency_key") or new_idempotency_key()
    try:
        paid = await with_step_up(api, form, lambda: post_once(api, f"{path}/pay", None, key))
    except StepUpFailed as failed:
        found = await api.get(path)
        errors = payment_errors(failed.problem, {**REQUEST_FIELDS, **STEP_UP_FIELDS})
        return _show_detail(request, found, errors, step_up=True, key=key, status=422)
    except ApiProblem as problem:
        found = await api.get(path)
        next_key = key_after(problem, key)
        if problem.code == STEP_UP_REQUIRED:
            return _show_detail(request, found, {}, step_up=True, key=next_key)
        errors = payment_errors(problem, {})
        return _show_detail(request, found, errors, key=next_key, status=422)
    return redirect(request, f"/request/paid/{paid['payment']['id']}", flash=N_("Payment sent."))


# --- /pay: the page a share link opens --------------------------------------------------------


@router.get("/pay")
async def pay_link(request: Request) -> Response:
    user = await _signed_in(request)
    saved = _saved_link(request)
    if not saved:
        return render(request, "request/pay_open.html", {"signed_in": user is not None})
    if user is None:
        return redirect(request, "/sign-in?next=/pay")
    return await _show_pay(request, saved, {"idempotency_key": new_idempotency_key()}, {})


@router.post("/pay")
async def open_pay_link(request: Request) -> Response:
    """The link's fragment, posted by the page's script: kept in a short-lived cookie (never
    in a URL) across sign-in, then shown."""
    form = await request.form()
    fragment = form_text(form, "fragment")[:600]
    user = await _signed_in(request)
    target = "/pay" if user is not None else "/sign-in?next=/pay"
    response = redirect(request, target)
    response.set_cookie(
        PAY_COOKIE,
        base64.urlsafe_b64encode(fragment.encode()).decode(),
        max_age=PAY_COOKIE_AGE,
        path="/pay",
        httponly=True,
        samesite="lax",
        secure=request.app.state.container.settings.cookie_secure,
    )
    return response


@router.post("/pay/confirm")
async def confirm_pay_link(request: Request, user: CurrentUser) -> Response:
    api = Api(request)
    form = await request.form()
    saved = _saved_link(request)
    values = {"idempotency_key": form_text(form, "idempotency_key") or new_idempotency_key()}
    try:
        code = read_code(saved)
    except FormError:
        return await _show_pay(request, saved, values, {})
    key, body = values["idempotency_key"], {"payload": code.payload}
    try:
        payment = await with_step_up(
            api, form, lambda: post_once(api, "/v1/payments/qr", body, key)
        )
    except StepUpFailed as failed:
        return await _show_pay(request, saved, values, pay_errors(failed.problem), True, 422)
    except ApiProblem as problem:
        values["idempotency_key"] = key_after(problem, key)
        if problem.code == STEP_UP_REQUIRED:
            return await _show_pay(request, saved, values, {}, True)
        return await _show_pay(request, saved, values, pay_errors(problem), status=422)
    response = redirect(request, f"/pay/paid/{payment['id']}", flash=N_("Payment sent."))
    response.delete_cookie(PAY_COOKIE, path="/pay")
    return response


@router.get("/pay/paid/{payment_id}")
async def pay_link_paid(request: Request, payment_id: str, user: CurrentUser) -> Response:
    title = gettext("Request paid")
    return await render_receipt(request, Api(request), payment_id, title=title, back="/request")


# --- pieces -----------------------------------------------------------------------------------


def share_link(found: dict[str, Any]) -> str | None:
    """The API's link with the request's QR text as its fragment (see the module docstring)."""
    link, payload = found.get("link"), found.get("qr_payload")
    if not link or not payload:
        return None
    return f"{str(link).split('#', 1)[0]}#{quote(str(payload), safe='')}"


def _blank(user: WebUser) -> dict[str, str]:
    return {
        "recipient": "",
        "amount": "",
        "currency": user.home_currency,
        "note": "",
        "idempotency_key": new_idempotency_key(),
    }


def _checked(request_id: str) -> str:
    """A request id as the API writes them; anything else gets the API's own 404 page."""
    if REQUEST_ID.match(request_id):
        return request_id
    body = orjson.dumps({"code": "payment_request_not_found", "status": 404})
    raise ApiProblem(ApiResult(404, body, "application/problem+json"))


def _currency_param(currency: str) -> dict[str, str]:
    return {"currency": currency} if CURRENCY.match(currency) else {}


def _request_body(values: dict[str, str]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"currency": values["currency"]}
    try:
        body["amount"] = parse_amount(values["amount"], values["currency"])
    except FormError as error:
        errors.update(error.errors)
    if values["recipient"]:
        try:
            payer = recipient_body(values["recipient"])
        except FormError as error:
            errors.update(error.errors)
        else:
            if "username" in payer:
                errors["recipient"] = gettext(
                    "Ask by email, phone number or wallet ID; usernames can't be asked."
                )
            body["from"] = payer
    if len(values["note"]) > 500:
        errors["note"] = gettext("Keep the note under 500 characters.")
    elif values["note"]:
        body["note"] = values["note"]
    if errors:
        raise FormError(headed(errors))
    return body


async def _image(request: Request, path: str, params: dict[str, str] | None = None) -> Response:
    result = await Api(request).call("GET", path, params=params)
    if not result.ok:
        raise ApiProblem(result)
    return Response(result.body, media_type=result.content_type, headers=NO_CACHE)


async def _open_requests(api: Api, role: str) -> list[dict[str, Any]]:
    page = await api.get(
        "/v1/payment-requests", {"role": role, "status": "open", "limit": LIST_SIZE}
    )
    return list(page.get("data", []))


async def _static_code(api: Api, currency: str) -> dict[str, Any] | None:
    try:
        return dict(await api.get("/v1/payments/static-qr", _currency_param(currency)))
    except ApiProblem:
        return None  # a closed wallet or an unsupported currency: no code to show


async def _handle(api: Api) -> str | None:
    result = await api.call("GET", "/v1/payments/handle")
    return str(result.json()["handle"]) if result.ok else None


async def _show_page(
    request: Request,
    user: WebUser,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    qr_currency: str = "",
    status: int = 200,
) -> Response:
    api = Api(request)
    held = [b["currency"] for b in await balances(api)]
    currencies = held if user.home_currency in held else [user.home_currency, *held]
    code_currency = qr_currency if qr_currency in currencies else user.home_currency
    incoming = [
        {**item, "idempotency_key": new_idempotency_key()}
        for item in await _open_requests(api, "received")
    ]
    context = {
        "values": values,
        "errors": errors,
        "currencies": currencies,
        "incoming": incoming,
        "sent": await _open_requests(api, "sent"),
        "static_code": await _static_code(api, code_currency),
        "code_currency": code_currency,
        "handle": await _handle(api),
    }
    return render(request, "request/index.html", context, status=status)


def _show_detail(
    request: Request,
    found: dict[str, Any],
    errors: dict[str, str],
    *,
    step_up: bool = False,
    key: str | None = None,
    status: int = 200,
) -> Response:
    context = {
        "found": found,
        "share_link": share_link(found),
        "errors": errors,
        "step_up": step_up,
        "idempotency_key": key or new_idempotency_key(),
    }
    return render(request, "request/detail.html", context, status=status)


async def _show_pay(
    request: Request,
    saved: str,
    values: dict[str, str],
    errors: dict[str, str],
    step_up: bool = False,
    status: int = 200,
) -> Response:
    code: ScannedCode | None
    try:
        code = read_code(saved)
    except FormError:
        code = None  # a link of the API's own format (a token alone), or a damaged one
    if code is not None and not code.is_request:
        code = None  # a person's own code has no amount: it is paid from the Scan page
    incoming = [] if code is not None else await _open_requests(Api(request), "received")
    context = {
        "code": code,
        "values": values,
        "errors": headed(errors),
        "step_up": step_up,
        "incoming": incoming,
    }
    return render(request, "request/pay.html", context, status=status)


def _saved_link(request: Request) -> str:
    """The fragment of the share link this browser opened, kept by `open_pay_link`."""
    raw = request.cookies.get(PAY_COOKIE, "")
    try:
        return base64.urlsafe_b64decode(raw.encode()).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return ""


async def _signed_in(request: Request) -> WebUser | None:
    try:
        return await current_user(request)
    except SignInRequired:
        return None
