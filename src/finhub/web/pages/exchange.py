"""Exchange between currencies: a live quote (rate, fee, amount received, a countdown to its
expiry) that follows what the person types, accepting it, and the result with new balances.

A quote is priced by `POST /v1/fx/quotes` every time the inputs settle (HTMX posts the form,
debounced, and swaps in the quote fragment); accepting it is `POST …/accept` with the
idempotency key the fragment carries, so a double click converts once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from finhub.web.client import Api, ApiProblem
from finhub.web.errors import field_errors
from finhub.web.forms import FormError, new_idempotency_key, parse_amount
from finhub.web.i18n import currency_name, gettext, to_decimal
from finhub.web.rendering import redirect, render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser

router = web_router()

QUOTE_FIELDS = {
    "amount_too_small": "amount",
    "amount_overflow": "amount",
    "insufficient_funds": "amount",
    "limit_exceeded": "amount",
    "same_currency": "buy_currency",
    "rate_unavailable": "buy_currency",
    "unsupported_currency": "buy_currency",
    "currency_not_supported": "buy_currency",
}
POPULAR = ("USD", "EUR", "GBP")
# The API's request fields, as the form names them.
API_FIELDS = {"sell_amount": "amount", "sell_currency": "currency", "buy_currency": "buy_currency"}


@dataclass
class ExchangeForm:
    """What the person typed: an amount in `currency` to convert into `buy_currency`."""

    amount: str
    currency: str
    buy_currency: str

    @classmethod
    def read(cls, form: Mapping[str, Any], choices: Choices) -> ExchangeForm:
        def pick(name: str, allowed: list[str], default: str) -> str:
            value = str(form.get(name) or "").strip().upper()
            return value if value in allowed else default

        currency = pick("currency", choices.sell, choices.default_sell)
        default_buy = choices.default_buy if choices.default_buy != currency else ""
        return cls(
            amount=str(form.get("amount") or "").strip()[:32],
            currency=currency,
            buy_currency=pick("buy_currency", choices.buy, default_buy),
        )


@dataclass
class Choices:
    """The currencies a person can sell (what the wallet holds) and buy (what has a rate)."""

    balances: list[dict[str, Any]]
    sell: list[str]
    buy: list[str]
    default_sell: str
    default_buy: str


async def load_choices(api: Api, home_currency: str) -> Choices:
    wallet = await api.get("/v1/wallets/me")
    balances: list[dict[str, Any]] = wallet.get("balances") or []
    held = [b["currency"] for b in balances]
    rates = await api.get("/v1/fx/rates", {"base": "EUR"})
    rated = {"EUR", *(rate["quote"] for rate in rates.get("data", []))}
    sell = held or [home_currency]
    funded = [b["currency"] for b in balances if b.get("available", 0) > 0]
    default_sell = home_currency if home_currency in funded else (funded or sell)[0]
    buy = sorted(rated | set(held))
    # Another currency the person holds, else a widely used one, else the first with a rate.
    candidates = [*held, *POPULAR, *buy]
    default_buy = next((code for code in candidates if code in buy and code != default_sell), "")
    return Choices(balances, sell, buy, default_sell, default_buy)


async def price(api: Api, form: ExchangeForm) -> dict[str, Any]:
    """A fresh quote for the form; FormError or ApiProblem when it can't be priced."""
    if not form.buy_currency:
        raise FormError({"buy_currency": gettext("Choose the currency you want.")})
    amount = parse_amount(form.amount, form.currency)
    body = {
        "sell_currency": form.currency,
        "buy_currency": form.buy_currency,
        "sell_amount": amount,
    }
    quote: dict[str, Any] = await api.post("/v1/fx/quotes", body)
    return quote


def quote_errors(problem: ApiProblem) -> dict[str, str]:
    errors = field_errors(problem, QUOTE_FIELDS)
    return {API_FIELDS.get(name, name): message for name, message in errors.items()}


def seconds_left(quote: dict[str, Any]) -> int:
    """The quote's validity on the server's clock (the browser's clock may differ)."""
    expires = datetime.fromisoformat(str(quote["expires_at"]))
    created = datetime.fromisoformat(str(quote["created_at"]))
    return max(0, int((expires - created).total_seconds()))


def buy_options(choices: Choices) -> list[tuple[str, str]]:
    named = [(code, f"{code} · {currency_name(code)}") for code in choices.buy]
    return [("", gettext("Choose a currency")), *named]


def wants_fragment(request: Request) -> bool:
    """An HTMX request of the live quote (not a boosted page change) gets the fragment only."""
    return bool(request.headers.get("hx-request")) and not request.headers.get("hx-boosted")


def page(
    request: Request,
    choices: Choices,
    form: ExchangeForm,
    *,
    quote: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    expired: bool = False,
    status: int = 200,
) -> Response:
    live = wants_fragment(request)
    context = {
        "choices": choices,
        "buy_options": buy_options(choices),
        "live": live,
        "form": form,
        "quote": quote,
        "errors": errors or {},
        "expired": expired,
        "seconds_left": seconds_left(quote) if quote else 0,
        "idempotency_key": new_idempotency_key(),
    }
    template = "exchange/quote.html" if live else "exchange/index.html"
    return render(request, template, context, status=status)


@router.get("/exchange")
async def exchange_page(request: Request, user: CurrentUser) -> Response:
    choices = await load_choices(Api(request), user.home_currency)
    return page(request, choices, ExchangeForm.read({}, choices))


@router.post("/exchange/quote")
async def quote_fragment(request: Request, user: CurrentUser) -> Response:
    api = Api(request)
    choices = await load_choices(api, user.home_currency)
    form = ExchangeForm.read(await request.form(), choices)
    if not form.amount and wants_fragment(request):
        return page(request, choices, form)  # nothing typed yet: no quote, no error
    try:
        quote = await price(api, form)
    except FormError as error:
        return page(request, choices, form, errors=error.errors, status=422)
    except ApiProblem as problem:
        return page(request, choices, form, errors=quote_errors(problem), status=422)
    return page(request, choices, form, quote=quote)


@router.post("/exchange/accept")
async def accept(request: Request, user: CurrentUser) -> Response:
    api = Api(request)
    submitted = await request.form()
    quote_id = str(submitted.get("quote_id") or "")
    key = str(submitted.get("idempotency_key") or "") or None
    if not quote_id.startswith("qte_"):
        return redirect(request, "/exchange")
    try:
        await api.post(f"/v1/fx/quotes/{quote_id}/accept", idempotency_key=key)
    except ApiProblem as problem:
        if problem.code == "quote_already_accepted":
            return redirect(request, f"/exchange/{quote_id}")
        return await refused(request, api, user.home_currency, quote_id, problem)
    return redirect(request, f"/exchange/{quote_id}")


async def refused(
    request: Request, api: Api, home_currency: str, quote_id: str, problem: ApiProblem
) -> Response:
    """The exchange page again, with the refused quote's figures typed in and why."""
    choices = await load_choices(api, home_currency)
    values: dict[str, Any] = {}
    if problem.code != "quote_not_found":
        quote = await api.get(f"/v1/fx/quotes/{quote_id}")
        amount = quote["sell_amount"]
        values = {
            "amount": format_plain(amount, quote["sell_currency"]),
            "currency": quote["sell_currency"],
            "buy_currency": quote["buy_currency"],
        }
    form = ExchangeForm.read(values, choices)
    expired = problem.code == "quote_expired"
    errors = {} if expired else quote_errors(problem)
    return page(request, choices, form, errors=errors, expired=expired, status=422)


def format_plain(amount: int, currency: str) -> str:
    """Minor units as the plain decimal a person types (no grouping, no symbol)."""
    return format(to_decimal(amount, currency), "f")


@router.get("/exchange/{quote_id}")
async def result(request: Request, quote_id: str, user: CurrentUser) -> Response:
    api = Api(request)
    if not quote_id.startswith("qte_") or len(quote_id) > 64:
        return redirect(request, "/exchange")
    quote = await api.get(f"/v1/fx/quotes/{quote_id}")
    if quote["status"] != "accepted":
        return redirect(request, "/exchange")
    wallet = await api.get("/v1/wallets/me")
    context = {"quote": quote, "balances": wallet.get("balances") or []}
    return render(request, "exchange/done.html", context)
