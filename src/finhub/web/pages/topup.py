"""Money in: a card top-up (tokenised, authorised, 3-D Secure when the issuer asks for it) or a
bank transfer to the wallet's own IBAN with its payment reference; test installations also
offer a simulated incoming transfer.

The card number and security code live only in the one request that carries them to the
processor's vault (`POST /v1/payments/card-tokens`): they are never rendered back into a page,
put in a URL or a cookie, or logged (the request log holds method, path and status only).
From then on the card is its token, and people see its brand and last four digits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from finhub.web.client import Api, ApiProblem
from finhub.web.errors import field_errors
from finhub.web.forms import FormError, key_after, new_idempotency_key, parse_amount
from finhub.web.i18n import gettext
from finhub.web.i18n import lazy_gettext as _
from finhub.web.rendering import N_, redirect, render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser, WebUser

router = web_router()

# Offered next to the wallet's own currencies: any ISO currency can be topped up, these are
# the ones people ask for most.
COMMON_CURRENCIES = ("EUR", "USD", "GBP")
# Problem codes of tokenising and authorising, and the form field each one is about.
CARD_FIELDS = {
    "card_number_invalid": "number",
    "expiry_invalid": "expiry",
    "card_expired": "expiry",
    "cvc_invalid": "cvc",
    "amount_too_small": "amount",
    "amount_too_large": "amount",
    "limit_exceeded": "amount",
    "unknown_asset": "currency",
}
SIMULATE_FIELDS = {"limit_exceeded": "amount", "unknown_asset": "currency"}
# Why a card top-up failed (`failure_code`), in plain words.
DECLINE_REASONS = {
    "insufficient_funds": _("The card doesn't have enough funds."),
    "stolen_card": _("The card was reported stolen, so the bank refused it."),
    "generic_decline": _("The card's bank declined the payment."),
    "card_declined": _("The card's bank declined the payment."),
    "expired_card": _("The card has expired."),
    "processing_error": _("The card couldn't be processed. Try again in a moment."),
    "authentication_failed": _("The card verification (3-D Secure) wasn't completed."),
    "authorization_expired": _("The card verification wasn't finished in time."),
}
UNKNOWN_DECLINE = _("The card's bank declined the payment.")
# Why a simulated transfer could not be credited (`unmatched_reason`).
UNMATCHED_REASONS = {
    "unknown_reference": _("No wallet has this reference."),
    "wallet_closed": _("This wallet is closed."),
    "amount_below_fee": _("The amount doesn't cover the transfer fee."),
    "limit_exceeded": _("This transfer would go over your limit."),
}
NOT_CREDITED = _("The transfer couldn't be credited to your wallet.")
# The sandbox's published test cards (finhub.integrations.card_sandbox.cards), listed in test
# installations so people can try every outcome.
TEST_CARDS = (
    ("4242 4242 4242 4242", _("Approved")),
    ("4000 0000 0000 3220", _("Asks for 3-D Secure verification")),
    ("4000 0000 0000 9995", _("Declined: insufficient funds")),
    ("4000 0000 0000 9979", _("Declined: stolen card")),
    ("4000 0000 0000 0119", _("Fails: processing error")),
)
BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}
EXPIRY = re.compile(r"^\s*(\d{1,2})\s*[/.\-]?\s*(\d{2}|\d{4})\s*$")


def test_mode(request: Request) -> bool:
    """Sandbox features (test cards, simulated transfers) exist outside production only."""
    environment: str = request.app.state.container.settings.environment
    return environment != "production"


def wallet_currencies(wallet: dict[str, Any], user: WebUser) -> list[str]:
    """The person's currencies first (home, then their balances), then the common ones."""
    ordered = [user.home_currency, *(b["currency"] for b in wallet["balances"])]
    return list(dict.fromkeys([*ordered, *COMMON_CURRENCIES]))


# --- choosing how ------------------------------------------------------------------------------


@router.get("/top-up")
async def choose(request: Request, user: CurrentUser) -> Response:
    return render(request, "topup/choose.html")


# --- card --------------------------------------------------------------------------------------


@router.get("/top-up/card")
async def card_form(request: Request, user: CurrentUser) -> Response:
    values = {
        "amount": "",
        "currency": user.home_currency,
        "expiry": "",
        "idempotency_key": new_idempotency_key(),
    }
    return await _card_page(request, user, values, {})


@router.post("/top-up/card")
async def card_submit(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    values = _card_values(form)
    api = Api(request)
    try:
        amount, exp_month, exp_year = _checked_card_form(form, values)
        card = await api.post(
            "/v1/payments/card-tokens",
            {
                "number": str(form.get("number") or ""),
                "exp_month": exp_month,
                "exp_year": exp_year,
                "cvc": str(form.get("cvc") or "").strip(),
            },
        )
    except FormError as error:
        return await _card_page(request, user, values, error.errors, status=422)
    except ApiProblem as problem:
        return await _card_refused(request, user, values, problem)
    try:
        topup = await api.post(
            "/v1/payments/card-topups",
            {"card_token": card["id"], "amount": amount, "currency": values["currency"]},
            idempotency_key=values["idempotency_key"],
        )
    except ApiProblem as problem:
        values["idempotency_key"] = key_after(problem, values["idempotency_key"])
        return await _card_refused(request, user, values, problem)
    if topup["status"] == "requires_action":
        return redirect(request, f"/top-up/card/{topup['id']}/verify")
    return redirect(request, f"/top-up/card/{topup['id']}")


def _card_values(form: Mapping[str, Any]) -> dict[str, str]:
    """What the form may show again: never the card number or the security code."""
    return {
        "amount": str(form.get("amount") or ""),
        "currency": str(form.get("currency") or "EUR"),
        "expiry": str(form.get("expiry") or ""),
        "idempotency_key": str(form.get("idempotency_key") or new_idempotency_key()),
    }


def _checked_card_form(form: Mapping[str, Any], values: dict[str, str]) -> tuple[int, int, int]:
    """(amount, expiry month, expiry year); FormError with every problem found at once."""
    errors: dict[str, str] = {}
    if not str(form.get("number") or "").strip():
        errors["number"] = gettext("Enter the card number.")
    if not str(form.get("cvc") or "").strip():
        errors["cvc"] = gettext("Enter the security code.")
    amount = exp_month = exp_year = 0
    try:
        amount = parse_amount(values["amount"], values["currency"])
    except FormError as error:
        errors.update(error.errors)
    try:
        exp_month, exp_year = parse_expiry(values["expiry"])
    except FormError as error:
        errors.update(error.errors)
    if errors:
        raise FormError(errors)
    return amount, exp_month, exp_year


def parse_expiry(text: str) -> tuple[int, int]:
    """`"05/30"`, `"5/2030"` or `"0530"` → (5, 2030)."""
    found = EXPIRY.match(text)
    month = int(found.group(1)) if found else 0
    if found is None or not 1 <= month <= 12:
        raise FormError({"expiry": gettext("Enter the expiry date as MM/YY.")})
    year = int(found.group(2))
    return month, year + 2000 if year < 100 else year


async def _card_refused(
    request: Request, user: WebUser, values: dict[str, str], problem: ApiProblem
) -> Response:
    if problem.status in (401, 403) and problem.code != "sandbox_only_in_test_mode":
        raise problem
    errors = field_errors(problem, CARD_FIELDS)
    return await _card_page(request, user, values, errors, status=422)


async def _card_page(
    request: Request,
    user: WebUser,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
) -> Response:
    wallet = await Api(request).get("/v1/wallets/me")
    context = {
        "values": values,
        "errors": errors,
        "currencies": wallet_currencies(wallet, user),
        "test_cards": TEST_CARDS if test_mode(request) else (),
    }
    return render(request, "topup/card.html", context, status=status)


@router.get("/top-up/card/{payment_id}")
async def card_result(request: Request, payment_id: str, user: CurrentUser) -> Response:
    topup = await Api(request).get(f"/v1/payments/card-topups/{payment_id}")
    context = {
        "topup": topup,
        "card": card_label(topup["card"]),
        "reason": decline_reason(topup.get("failure_code")),
    }
    return render(request, "topup/card_result.html", context)


def card_label(card: dict[str, Any]) -> str:
    """The card as people may see it: its brand and last four digits, nothing more."""
    brand = BRANDS.get(card.get("brand") or "") or gettext("Card")
    # Non-breaking spaces: the number's end stays with its dots on a narrow screen.
    return f"{brand}\u00a0••••\u00a0{card['last4']}"


def decline_reason(code: str | None) -> str:
    return str(DECLINE_REASONS.get(code or "", UNKNOWN_DECLINE))


# --- 3-D Secure --------------------------------------------------------------------------------


@router.get("/top-up/card/{payment_id}/verify")
async def challenge(request: Request, payment_id: str, user: CurrentUser) -> Response:
    """The sandbox issuer's 3-D Secure page: in a live installation the card's bank shows its
    own page here; the sandbox lets the person pass or fail the check."""
    topup = await Api(request).get(f"/v1/payments/card-topups/{payment_id}")
    if topup["status"] != "requires_action":
        return redirect(request, f"/top-up/card/{payment_id}")
    context = {
        "topup": topup,
        "card": card_label(topup["card"]),
        "idempotency_key": new_idempotency_key(),
    }
    return render(request, "topup/challenge.html", context)


@router.post("/top-up/card/{payment_id}/verify")
async def challenge_submit(request: Request, payment_id: str, user: CurrentUser) -> Response:
    form = await request.form()
    outcome = "approve" if form.get("outcome") == "approve" else "deny"
    key = str(form.get("idempotency_key") or new_idempotency_key())
    try:
        await Api(request).post(
            f"/v1/payments/card-topups/{payment_id}/3ds-challenge",
            {"outcome": outcome},
            idempotency_key=key,
        )
    except ApiProblem as problem:
        # Answered already (another tab, or the verification lapsed): the result page says how
        # it ended.
        if problem.code != "payment_state_conflict":
            raise
    return redirect(request, f"/top-up/card/{payment_id}")


# --- bank transfer -----------------------------------------------------------------------------


@router.get("/top-up/bank")
async def bank(request: Request, user: CurrentUser) -> Response:
    values = {
        "amount": "",
        "currency": user.home_currency,
        "sender_name": user.display_name,
        "idempotency_key": new_idempotency_key(),
    }
    return await _bank_page(request, user, values, {})


@router.post("/top-up/bank/simulate")
async def simulate_transfer(request: Request, user: CurrentUser) -> Response:
    if not test_mode(request):
        return redirect(request, "/top-up/bank")
    form = await request.form()
    values = {
        "amount": str(form.get("amount") or ""),
        "currency": str(form.get("currency") or "EUR"),
        "sender_name": str(form.get("sender_name") or "").strip(),
        "idempotency_key": str(form.get("idempotency_key") or new_idempotency_key()),
    }
    api = Api(request)
    try:
        amount = parse_amount(values["amount"], values["currency"])
        if not values["sender_name"]:
            raise FormError({"sender_name": gettext("Enter the sender's name.")})
        instructions = await api.get("/v1/payments/bank-topups/instructions")
        credit = await api.post(
            "/v1/payments/bank-topups/simulate",
            {
                "reference": instructions["payment_reference"],
                "iban": instructions["iban"],
                "amount": amount,
                "currency": values["currency"],
                "sender_name": values["sender_name"],
            },
            idempotency_key=values["idempotency_key"],
        )
    except FormError as error:
        return await _bank_page(request, user, values, error.errors, status=422)
    except ApiProblem as problem:
        values["idempotency_key"] = key_after(problem, values["idempotency_key"])
        errors = field_errors(problem, SIMULATE_FIELDS)
        return await _bank_page(request, user, values, errors, status=422)
    if credit["status"] != "matched":
        reason = UNMATCHED_REASONS.get(credit.get("unmatched_reason") or "")
        values["idempotency_key"] = new_idempotency_key()
        errors = {"": str(reason or NOT_CREDITED)}
        return await _bank_page(request, user, values, errors, status=422)
    arrived = N_("The transfer arrived: the money is in your wallet.")
    return redirect(request, "/top-up/bank", flash=arrived)


async def _bank_page(
    request: Request,
    user: WebUser,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
) -> Response:
    api = Api(request)
    instructions = await api.get("/v1/payments/bank-topups/instructions")
    wallet = await api.get("/v1/wallets/me")
    context = {
        "instructions": instructions,
        "balances": wallet["balances"],
        "values": values,
        "errors": errors,
        "test_mode": test_mode(request),
        "currencies": wallet_currencies(wallet, user),
    }
    return render(request, "topup/bank.html", context, status=status)
