"""Sending money to a person: who and how much → a review → confirm (with step-up for large
payments) → the receipt.

The idempotency key is made when the form is first shown and travels through the review to the
confirm, so a double click or a resubmitted confirm pays once. An error the API keeps for
replays retires the key (`key_after`): the next attempt gets a new one; after a step-up the
payment is retried with the same key. The receipt is a page of its own (post/redirect/get),
found through the payer's activity.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from finhub.web.client import Api, ApiProblem
from finhub.web.errors import field_errors
from finhub.web.forms import (
    FormError,
    form_text,
    headed,
    key_after,
    new_idempotency_key,
    parse_amount,
)
from finhub.web.i18n import format_money, gettext
from finhub.web.rendering import N_, redirect, render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser
from finhub.web.step_up import STEP_UP_REQUIRED, StepUpFailed, with_step_up

router = web_router()

# Which form field an API problem is about.
PAYMENT_FIELDS = {
    "insufficient_funds": "amount",
    "limit_exceeded": "amount",
    "amount_too_small": "amount",
    "amount_too_large": "amount",
    "amount_required": "amount",
    "qr_amount_mismatch": "amount",
    "unsupported_currency": "amount",
    "currency_not_supported": "amount",
    "recipient_not_found": "recipient",
    "self_payment": "recipient",
    "recipient_wallet_closed": "recipient",
    "too_many_attempts": "recipient",
    "invalid_pin": "step_up_code",
    "invalid_second_factor": "step_up_code",
    "code_already_used": "step_up_code",
    "authentication_failed": "step_up_code",
    "factor_not_enrolled": "step_up_code",
}
# The API's validation errors name the body's fields; the form's names differ for some.
FORM_NAMES = {"to": "recipient", "from": "recipient", "currency": "amount"}
# Codes answered while the same key is still being worked on: wait for the first answer.
IN_PROGRESS = "idempotency_key_in_use"
RECENT_LINES = 30
RECENT_PICKS = 5
WALLET_ID = re.compile(r"^wal_[0-9A-Za-z]+$")
PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
HANDLE = re.compile(r"^@?[A-Za-z0-9_]{3,30}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


# --- helpers shared by the payment pages (send, request, scan) ---------------------------------


async def balances(api: Api) -> list[dict[str, Any]]:
    """The person's balances (currency, available, …), or none when they have no wallet."""
    try:
        wallet = await api.get("/v1/wallets/me")
    except ApiProblem as problem:
        if problem.status in (403, 404):
            return []
        raise
    return list(wallet.get("balances") or [])


def currency_choices(held: list[dict[str, Any]], home_currency: str) -> list[str]:
    codes = [balance["currency"] for balance in held]
    return codes or [home_currency]


async def post_once(api: Api, path: str, body: Any, key: str) -> Any:
    """POST with an idempotency key; while a twin request with the same key is still running
    (a double click), wait for its answer instead of failing."""
    for attempt in range(20):
        try:
            return await api.post(path, body, idempotency_key=key)
        except ApiProblem as problem:
            if problem.code != IN_PROGRESS or attempt == 19:
                raise
            await asyncio.sleep(0.1 + attempt * 0.05)
    raise AssertionError("unreachable")


def limit_message(problem: ApiProblem) -> str | None:
    """What a `limit_exceeded` problem says, with the allowance left when the API tells."""
    detail = problem.problem
    remaining, currency = detail.get("remaining"), detail.get("currency")
    if remaining is None or not currency:
        return None
    left = format_money(int(remaining), str(currency))
    messages = {
        "per_payment": gettext("The most you can send in one payment is %(amount)s."),
        "daily": gettext("You can send %(amount)s more today."),
        "monthly": gettext("You can send %(amount)s more this month."),
        "balance": gettext("The recipient can receive at most %(amount)s more."),
    }
    message = messages.get(str(detail.get("limit")))
    return message % {"amount": left} if message else None


def throttled_message(problem: ApiProblem) -> str:
    seconds = int(problem.problem.get("retry_after") or 0)
    minutes = max(1, (seconds + 59) // 60)
    return gettext(
        "Too many unknown recipients. Check the details and try again in %(minutes)d min."
    ) % {"minutes": minutes}


def payment_errors(problem: ApiProblem, fields: dict[str, str] | None = None) -> dict[str, str]:
    """Field messages for a payment the API refused, limits and lockouts spelled out."""
    errors = field_errors(problem, fields or PAYMENT_FIELDS)
    for api_name, form_name in FORM_NAMES.items():
        if api_name in errors and form_name not in errors:
            errors[form_name] = errors.pop(api_name)
    field = (fields or PAYMENT_FIELDS).get(problem.code, "")
    special = None
    if problem.code == "limit_exceeded":
        special = limit_message(problem)
    elif problem.status == 429:
        special = throttled_message(problem)
    if special:
        errors[field] = special
    return errors


async def payment_line(api: Api, payment_id: str) -> dict[str, Any] | None:
    """The person's activity line of a payment they just made (newest first, so it's near
    the top)."""
    page = await api.get("/v1/wallets/me/activity", {"limit": 50})
    for line in page.get("data", []):
        if line.get("payment_id") == payment_id:
            return dict(line)
    return None


async def render_receipt(
    request: Request, api: Api, payment_id: str, *, title: str, back: str
) -> Response:
    line = await payment_line(api, payment_id)
    if line is None:
        return render(request, "error.html", {"message": gettext("Payment not found.")}, status=404)
    return render(request, "send/receipt.html", {"line": line, "title": title, "back": back})


# --- recipients -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recent:
    name: str
    wallet_id: str


def recipient_body(text: str) -> dict[str, str]:
    """What a person typed in "To" as the API's recipient; a FormError if it's none of the
    four kinds."""
    value = text.strip()
    compact = re.sub(r"[\s().-]", "", value)
    if WALLET_ID.match(value):
        return {"wallet_id": "wal_" + value[4:].upper()}
    if value.startswith("@") and HANDLE.match(value):
        return {"username": value}
    if EMAIL.match(value):
        return {"email": value}
    if PHONE.match(compact):
        return {"phone": compact}
    if HANDLE.match(value) and not value.isdigit():
        return {"username": value}
    message = gettext(
        "Enter an email, a phone number like +447700900123, @username or a wallet ID."
    )
    raise FormError({"recipient": message})


async def recent_recipients(api: Api) -> list[Recent]:
    """People the person paid lately, newest first, each once (their wallet id comes from the
    payment behind the activity line)."""
    page = await api.get(
        "/v1/wallets/me/activity", {"kind": ["p2p"], "direction": "out", "limit": RECENT_LINES}
    )
    picks: list[Recent] = []
    seen_names: set[str] = set()
    for line in page.get("data", []):
        name = line.get("counterparty")
        if not name or name in seen_names:
            continue
        seen_names.add(name)
        detail = await api.get(f"/v1/wallets/me/activity/{line['id']}")
        wallet_id = (detail.get("payment") or {}).get("counterparty_wallet_id")
        if wallet_id and all(p.wallet_id != wallet_id for p in picks):
            picks.append(Recent(name, wallet_id))
        if len(picks) == RECENT_PICKS:
            break
    return picks


def known_name(recents: list[Recent], body: dict[str, str]) -> str | None:
    wallet_id = body.get("wallet_id")
    return next((r.name for r in recents if r.wallet_id == wallet_id), None)


# --- pages ------------------------------------------------------------------------------------


@router.get("/send")
async def send_form(request: Request, user: CurrentUser, to: str = "") -> Response:
    api = Api(request)
    recents = await recent_recipients(api)
    values = {"recipient": to if WALLET_ID.match(to) else "", "amount": "", "note": ""}
    return await _show_form(request, api, user.home_currency, values, {}, recents=recents)


@router.post("/send/review")
async def review(request: Request, user: CurrentUser) -> Response:
    api = Api(request)
    form = await request.form()
    values = _values(form)
    try:
        body = _payment_body(values)
    except FormError as error:
        return await _show_form(request, api, user.home_currency, values, error.errors, 422)
    return await _show_review(request, api, values, body, {})


@router.post("/send/edit")
async def edit(request: Request, user: CurrentUser) -> Response:
    """Back from the review to the form, with what was typed (and the same key)."""
    api = Api(request)
    values = _values(await request.form())
    recents = await recent_recipients(api)
    return await _show_form(request, api, user.home_currency, values, {}, recents=recents)


@router.post("/send/confirm")
async def confirm(request: Request, user: CurrentUser) -> Response:
    api = Api(request)
    form = await request.form()
    values = _values(form)
    try:
        body = _payment_body(values)
    except FormError as error:
        return await _show_form(request, api, user.home_currency, values, error.errors, 422)
    key = values["idempotency_key"]
    try:
        payment = await with_step_up(
            api, form, lambda: post_once(api, "/v1/payments/p2p", body, key)
        )
    except StepUpFailed as failed:
        errors = payment_errors(failed.problem)
        return await _show_review(request, api, values, body, errors, step_up=True, status=422)
    except ApiProblem as problem:
        values["idempotency_key"] = key_after(problem, key)
        if problem.code == STEP_UP_REQUIRED:
            return await _show_review(request, api, values, body, {}, step_up=True)
        errors = payment_errors(problem)
        status = 422 if problem.status < 500 else problem.status
        return await _show_form(request, api, user.home_currency, values, errors, status)
    return redirect(request, f"/send/sent/{payment['id']}", flash=N_("Payment sent."))


@router.get("/send/sent/{payment_id}")
async def sent(request: Request, payment_id: str, user: CurrentUser) -> Response:
    api = Api(request)
    return await render_receipt(request, api, payment_id, title=gettext("Money sent"), back="/send")


# --- pieces -----------------------------------------------------------------------------------


def _values(form: Any) -> dict[str, str]:
    return {
        "recipient": form_text(form, "recipient"),
        "amount": form_text(form, "amount"),
        "currency": form_text(form, "currency").upper(),
        "note": form_text(form, "note"),
        "idempotency_key": form_text(form, "idempotency_key") or new_idempotency_key(),
    }


def _payment_body(values: dict[str, str]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"currency": values["currency"] or "EUR"}
    try:
        body["to"] = recipient_body(values["recipient"])
    except FormError as error:
        errors.update(error.errors)
    try:
        body["amount"] = parse_amount(values["amount"], body["currency"])
    except FormError as error:
        errors.update(error.errors)
    if len(values["note"]) > 500:
        errors["note"] = gettext("Keep the note under 500 characters.")
    if errors:
        raise FormError(errors)
    if values["note"]:
        body["note"] = values["note"]
    return body


async def _show_form(
    request: Request,
    api: Api,
    home_currency: str,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
    *,
    recents: list[Recent] | None = None,
) -> Response:
    held = await balances(api)
    values.setdefault("idempotency_key", new_idempotency_key())
    if not values.get("currency"):
        values["currency"] = home_currency
    context = {
        "values": values,
        "errors": headed(errors),
        "balances": held,
        "currencies": currency_choices(held, home_currency),
        "recents": recents if recents is not None else [],
    }
    return render(request, "send/form.html", context, status=status)


async def _show_review(
    request: Request,
    api: Api,
    values: dict[str, str],
    body: dict[str, Any],
    errors: dict[str, str],
    *,
    step_up: bool = False,
    status: int = 200,
) -> Response:
    held = {b["currency"]: b for b in await balances(api)}
    name = known_name(await recent_recipients(api), body["to"])
    context = {
        "values": values,
        "body": body,
        "name": name,
        "available": (held.get(body["currency"]) or {}).get("available"),
        "errors": errors,
        "step_up": step_up,
    }
    return render(request, "send/review.html", context, status=status)
