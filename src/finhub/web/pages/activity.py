"""The activity feed: every movement of the wallet with filters, search and "Load more" paging,
one movement's detail, and statement downloads (CSV and PDF) for a period.

Filter values are the only things in the URL (kind, status, currency, dates, the search text
and the cursor, an activity id); nothing else about the person ever is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from finhub.web.client import Api, ApiProblem
from finhub.web.i18n import gettext
from finhub.web.i18n import lazy_gettext as _
from finhub.web.rendering import render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser

router = web_router()

PAGE_SIZE = 20
KIND_LABELS = {
    "p2p": _("Payment"),
    "request_payment": _("Paid request"),
    "card_topup": _("Card top-up"),
    "bank_topup": _("Bank top-up"),
    "withdrawal": _("Withdrawal"),
    "fx_conversion": _("Exchange"),
    "refund": _("Card refund"),
}
STATUS_LABELS = {
    "requires_action": _("Needs your action"),
    "processing": _("In progress"),
    "completed": _("Completed"),
    "failed": _("Failed"),
    "canceled": _("Canceled"),
    "refunded": _("Refunded"),
}
CURRENCY = re.compile(r"^[A-Z][A-Z0-9_]{1,15}$")
ACTIVITY_ID = re.compile(r"^act_[A-Za-z0-9]{1,60}$")
SEARCH_MAX = 100


# --- how a line reads -------------------------------------------------------------------------


def line_view(line: dict[str, Any]) -> dict[str, Any]:
    """One feed line as the templates show it: a title, what kind it is, a signed amount."""
    kind = str(KIND_LABELS.get(line["kind"], line["kind"]))
    outgoing = line["direction"] == "out"
    return {
        **line,
        "title": line.get("counterparty") or kind,
        "kind_label": kind,
        "status_label": str(STATUS_LABELS.get(line["status"], line["status"])),
        "signed_amount": -line["amount"] if outgoing else line["amount"],
        "outgoing": outgoing,
        "href": f"/activity/{line['id']}",
    }


# --- filters ----------------------------------------------------------------------------------


@dataclass
class Filters:
    """What the person asked for, checked; `errors` holds a message per rejected field."""

    kind: str = ""
    status: str = ""
    currency: str = ""
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def refined(self) -> bool:
        """Whether anything beyond the search text narrows the feed."""
        return any((self.kind, self.status, self.currency, self.date_from, self.date_to))

    @property
    def active(self) -> bool:
        return self.refined or bool(self.q)

    def query(self) -> dict[str, str]:
        """The filters as the page's own query string (for "Load more" and the form)."""
        values = {
            "kind": self.kind,
            "status": self.status,
            "currency": self.currency,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "q": self.q,
        }
        return {key: value for key, value in values.items() if value}

    def api_params(self) -> dict[str, Any]:
        return {
            "kind": self.kind or None,
            "status": self.status or None,
            "currency": self.currency or None,
            "created_gte": day_start(self.date_from),
            "created_lt": day_start(self.date_to + timedelta(days=1)) if self.date_to else None,
            "q": self.q or None,
        }


def day_start(day: date | None) -> str | None:
    """Midnight UTC at the start of `day`, as the API takes it (days are UTC days)."""
    return datetime.combine(day, time.min, UTC).isoformat() if day else None


def parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        raise ValueError(gettext("Enter a date like 2026-01-31.")) from None


def read_filters(params: dict[str, str]) -> Filters:
    """Unknown kinds, statuses or currencies are ignored (an old bookmark still opens); a bad
    date or a period that ends before it starts is shown next to its field."""
    filters = Filters(
        kind=params.get("kind", "") if params.get("kind", "") in KIND_LABELS else "",
        status=params.get("status", "") if params.get("status", "") in STATUS_LABELS else "",
        currency=params.get("currency", "") if CURRENCY.match(params.get("currency", "")) else "",
        q=params.get("q", "").strip()[:SEARCH_MAX],
    )
    for name, attribute in (("from", "date_from"), ("to", "date_to")):
        try:
            setattr(filters, attribute, parse_day(params.get(name, "")))
        except ValueError as error:
            filters.errors[name] = str(error)
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        filters.errors["to"] = gettext("The end date must be on or after the start date.")
        filters.date_to = None
    return filters


def kind_options() -> list[tuple[str, str]]:
    return [("", gettext("All types"))] + [(k, str(label)) for k, label in KIND_LABELS.items()]


def status_options() -> list[tuple[str, str]]:
    return [("", gettext("All statuses"))] + [(k, str(label)) for k, label in STATUS_LABELS.items()]


def currency_options(currencies: list[str]) -> list[tuple[str, str]]:
    return [("", gettext("All currencies"))] + [(code, code) for code in currencies]


async def wallet_currencies(api: Api) -> list[str]:
    wallet = await api.get("/v1/wallets/me")
    return [balance["currency"] for balance in wallet["balances"]]


# --- the feed ---------------------------------------------------------------------------------


@router.get("/activity")
async def activity_feed(request: Request, user: CurrentUser) -> Response:
    params = dict(request.query_params)
    filters = read_filters(params)
    after = params.get("after", "")
    api = Api(request)
    page = await api.get(
        "/v1/wallets/me/activity",
        {
            **filters.api_params(),
            "limit": PAGE_SIZE,
            "starting_after": after if ACTIVITY_ID.match(after) else None,
        },
    )
    lines = [line_view(line) for line in page["data"]]
    more_url = None
    if page["has_more"]:
        more_url = _url("/activity", {**filters.query(), "after": page["next_starting_after"]})
    context = {"lines": lines, "more_url": more_url, "filters": filters}
    if _is_fragment_request(request):
        return render(request, "activity/_more.html", context)
    currencies = await wallet_currencies(api)
    return render(
        request,
        "activity/feed.html",
        {
            **context,
            "currency_options": currency_options(currencies),
            "kind_options": kind_options(),
            "status_options": status_options(),
            "errors": filters.errors,
        },
        status=422 if filters.errors else 200,
    )


def _is_fragment_request(request: Request) -> bool:
    """The "Load more" button asks for the next rows only; a boosted link or a reload gets
    the whole page."""
    headers = request.headers
    if headers.get("hx-boosted") or headers.get("hx-history-restore-request"):
        return False
    return bool(headers.get("hx-request"))


def _url(path: str, query: dict[str, str]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


# --- statements -------------------------------------------------------------------------------


@dataclass
class StatementForm:
    date_from: str
    date_to: str
    currency: str
    currencies: list[str]
    errors: dict[str, str] = field(default_factory=dict)


def today(request: Request) -> date:
    """Today (UTC) by the app's clock, the one the API stamps movements with."""
    now: datetime = request.app.state.container.clock.now()
    return now.astimezone(UTC).date()


def _statement_defaults(request: Request, currencies: list[str]) -> StatementForm:
    """This month so far, in every currency."""
    day = today(request)
    return StatementForm(day.replace(day=1).isoformat(), day.isoformat(), "", currencies)


@router.get("/activity/statement")
async def statement(request: Request, user: CurrentUser) -> Response:
    """The statement form, or (with `format`) the CSV or PDF file for the period chosen."""
    params = dict(request.query_params)
    api = Api(request)
    currencies = await wallet_currencies(api)
    form = _statement_defaults(request, currencies)
    if params.get("format") not in ("csv", "pdf"):
        return _statement_page(request, form)
    form.date_from = params.get("from", "")
    form.date_to = params.get("to", "")
    form.currency = params.get("currency", "") if params.get("currency") in form.currencies else ""
    period = _statement_period(form)
    if period is None:
        return _statement_page(request, form, status=422)
    if params["format"] == "csv":
        return await _csv_statement(request, form, *period)
    return await _pdf_statement(api, form, *period)


def _statement_page(request: Request, form: StatementForm, *, status: int = 200) -> Response:
    context = {"form": form, "currency_options": currency_options(form.currencies)}
    return render(request, "activity/statement.html", context, status=status)


def _statement_period(form: StatementForm) -> tuple[date, date] | None:
    """The period's first and last day, or None with the problems in `form.errors`."""
    days: dict[str, date] = {}
    for name, text in (("from", form.date_from), ("to", form.date_to)):
        try:
            day = parse_day(text)
        except ValueError as error:
            form.errors[name] = str(error)
            continue
        if day is None:
            form.errors[name] = gettext("Choose a date.")
        else:
            days[name] = day
    if len(days) == 2 and days["from"] > days["to"]:
        form.errors["to"] = gettext("The end date must be on or after the start date.")
    if form.errors:
        return None
    return days["from"], days["to"]


async def _csv_statement(
    request: Request, form: StatementForm, first: date, last: date
) -> Response:
    result = await Api(request).call(
        "GET",
        "/v1/wallets/me/activity.csv",
        params={
            "created_gte": day_start(first),
            "created_lt": day_start(last + timedelta(days=1)),
            "currency": form.currency or None,
        },
    )
    if not result.ok:
        raise ApiProblem(result)
    return _download(result.body, "text/csv; charset=utf-8", _filename(form, first, last, "csv"))


async def _pdf_statement(api: Api, form: StatementForm, first: date, last: date) -> Response:
    result = await api.call(
        "GET",
        "/v1/wallets/me/statement.pdf",
        params={
            "from": day_start(first),
            "to": day_start(last + timedelta(days=1)),
            "currency": form.currency or None,
        },
    )
    if not result.ok:
        raise ApiProblem(result)
    return _download(result.body, "application/pdf", _filename(form, first, last, "pdf"))


def _filename(form: StatementForm, first: date, last: date, extension: str) -> str:
    parts = ["finhub", "statement" if extension == "pdf" else "activity", form.currency]
    parts += [f"{first:%Y%m%d}", f"{last:%Y%m%d}"]
    return "-".join(part for part in parts if part) + f".{extension}"


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )


# --- one line ---------------------------------------------------------------------------------


@router.get("/activity/{activity_id}")
async def activity_detail(request: Request, activity_id: str, user: CurrentUser) -> Response:
    """One movement; someone else's (or a made-up id) is a plain 404 page, the same for both."""
    if not ACTIVITY_ID.match(activity_id):
        return _not_found(request)
    try:
        line = await Api(request).get(f"/v1/wallets/me/activity/{activity_id}")
    except ApiProblem as problem:
        if problem.status in (404, 422):
            return _not_found(request)
        raise
    return render(request, "activity/detail.html", {"line": line_view(line)})


def _not_found(request: Request) -> Response:
    return render(request, "activity/not_found.html", status=404)
