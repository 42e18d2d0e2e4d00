"""The home page once signed in: balances and their total, what needs attention, recent
activity, this month's money in and out, and two charts (the balance over 30 days and this
month's money out by category), each with a table as its text alternative."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from babel import dates as babel_dates
from fastapi import Request
from fastapi.responses import Response

from finhub.web.client import Api, ApiProblem
from finhub.web.i18n import babel_locale, format_money, gettext, to_decimal
from finhub.web.i18n import lazy_gettext as _
from finhub.web.pages.activity import line_view
from finhub.web.rendering import render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser

router = web_router()

RECENT = 8
SCHEDULED_HORIZON = timedelta(days=7)
CATEGORY_LABELS = {
    "people": _("Sent to people"),
    "withdrawals": _("Withdrawals"),
    "exchanges": _("Exchanges"),
    "refunds": _("Card refunds"),
    "fees": _("Fees"),
    "other": _("Other"),
}


@dataclass(frozen=True, slots=True)
class PendingItem:
    """Something waiting: money on hold, a movement in progress, a request, a payment due."""

    title: str
    detail: str
    amount: int
    currency: str
    href: str | None = None


@router.get("/dashboard")
async def dashboard(request: Request, user: CurrentUser) -> Response:
    api = Api(request)
    # Everything is asked for at once, each call on its own connection.
    answers = await asyncio.gather(
        api.get("/v1/wallets/me"),
        api.get("/v1/wallets/me/summary"),
        api.get("/v1/wallets/me/activity", {"limit": RECENT}),
        _optional(
            api, "/v1/wallets/me/activity", status=["requires_action", "processing"], limit=5
        ),
        _optional(api, "/v1/payment-requests", role="received", status="open", limit=5),
        # Listed newest first, not by when they run next: read enough to find those due soon.
        _optional(api, "/v1/payments/scheduled", status="active", limit=100),
        return_exceptions=True,
    )
    if any(_no_wallet(answer) for answer in answers):
        name = first_name(user.display_name)
        return render(request, "dashboard/no_wallet.html", {"name": name})
    wallet, summary, recent, in_progress, requests, scheduled = map(_settled, answers)
    now: datetime = request.app.state.container.clock.now()
    home = wallet["home_currency"]
    pending = [
        *_held(wallet),
        *_in_progress(in_progress),
        *_requests_to_pay(requests),
        *_scheduled_soon(scheduled, now),
    ]
    context = {
        "name": first_name(user.display_name),
        "wallet": wallet,
        "home": home,
        "month": summary["month"],
        "pending": pending,
        "recent": [line_view(line) for line in recent["data"]],
        "balance_chart": balance_chart(summary, home),
        "spending_chart": spending_chart(summary, home),
        "missing_rates": summary["missing_rates"] or wallet["total"]["missing_rates"],
    }
    return render(request, "dashboard/index.html", context)


def _no_wallet(answer: object) -> bool:
    """An unverified person has no wallet yet: every wallet call says so."""
    return isinstance(answer, ApiProblem) and answer.code == "wallet_not_available"


def _settled(answer: Any) -> Any:
    if isinstance(answer, BaseException):
        raise answer
    return answer


async def _optional(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    """A secondary list: if it can't be read now, the dashboard shows the rest without it."""
    try:
        page = await api.get(path, params)
    except ApiProblem:
        return []
    return list(page["data"])


def first_name(display_name: str) -> str:
    return display_name.split()[0] if display_name.strip() else ""


# --- what needs attention ---------------------------------------------------------------------


def _held(wallet: dict[str, Any]) -> list[PendingItem]:
    return [
        PendingItem(
            gettext("On hold in %(currency)s") % {"currency": balance["currency"]},
            gettext("Kept aside for payments that haven't finished yet."),
            balance["held"],
            balance["currency"],
        )
        for balance in wallet["balances"]
        if balance["held"] > 0
    ]


def _in_progress(lines: list[dict[str, Any]]) -> list[PendingItem]:
    items = []
    for line in map(line_view, lines):
        detail = f"{line['kind_label']} · {line['status_label']}"
        items.append(
            PendingItem(
                line["title"], detail, line["signed_amount"], line["currency"], line["href"]
            )
        )
    return items


def _requests_to_pay(requests: list[dict[str, Any]]) -> list[PendingItem]:
    items = []
    for asked in requests:
        detail = gettext("Asks you to pay")
        if asked.get("note"):
            detail += f" · {asked['note']}"
        items.append(
            PendingItem(
                asked["requester"]["name"], detail, asked["amount"], asked["currency"], "/request"
            )
        )
    return items


def _scheduled_soon(schedules: list[dict[str, Any]], now: datetime) -> list[PendingItem]:
    items = []
    for schedule in schedules:
        due = schedule.get("next_run_at")
        if due is None or datetime.fromisoformat(due) > now + SCHEDULED_HORIZON:
            continue
        to = schedule.get("to") or {}
        title = to.get("name") or gettext("Withdrawal to your bank account")
        when = short_day(datetime.fromisoformat(due))
        detail = gettext("Scheduled for %(date)s") % {"date": when}
        if schedule.get("note"):
            detail += f" · {schedule['note']}"
        amount = -schedule["amount"]
        items.append(PendingItem(title, detail, amount, schedule["currency"], "/scheduled"))
    return items


# --- charts -----------------------------------------------------------------------------------


def short_day(day: date | datetime) -> str:
    """`23 Nov`, `11月23日`, `23 พ.ย.`: a day without its year, as each language writes it."""
    return babel_dates.format_skeleton("MMMd", day, locale=babel_locale())


def major(amount: int, currency: str) -> float:
    """Minor units as a plain number of major units, for drawing (never for money maths)."""
    return float(to_decimal(amount, currency))


def balance_chart(summary: dict[str, Any], home: str) -> dict[str, Any]:
    """The total in the home currency per day; without a rate for some currency, the home
    currency's own balance (and the caption says so)."""
    points = summary["balance_history"]
    complete = all(point["total"] is not None for point in points)
    amounts = [point["total"] if complete else point["balances"].get(home, 0) for point in points]
    return {
        "complete": complete,
        "currency": home,
        "labels": [short_day(date.fromisoformat(point["day"])) for point in points],
        "days": [point["day"] for point in points],
        "numbers": [major(amount, home) for amount in amounts],
        "formatted": [format_money(amount, home) for amount in amounts],
        "first": format_money(amounts[0], home) if amounts else "",
        "last": format_money(amounts[-1], home) if amounts else "",
        "low": format_money(min(amounts), home) if amounts else "",
        "high": format_money(max(amounts), home) if amounts else "",
    }


def spending_chart(summary: dict[str, Any], home: str) -> dict[str, Any]:
    """This month's money out per category in the home currency (categories that can't be
    converted are listed in the table only)."""
    rows = [
        {
            "label": str(CATEGORY_LABELS.get(c["category"], c["category"])),
            "amount": c["amount"],
            "by_currency": c["by_currency"],
        }
        for c in summary["spending"]
    ]
    drawn = [row for row in rows if row["amount"] is not None]
    return {
        "rows": rows,
        "currency": home,
        "labels": [row["label"] for row in drawn],
        "numbers": [major(row["amount"], home) for row in drawn],
        "formatted": [format_money(row["amount"], home) for row in drawn],
        "largest": drawn[0]["label"] if drawn else None,
    }
