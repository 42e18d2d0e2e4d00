"""Scheduled and recurring payments: the list (next run, the rule in words, status, the last
failure) with cancelling, and a form that schedules a payment to a person once, weekly or
monthly.

The API takes a UTC start time and an RFC 5545 rule; the form asks for a start date, how often
and an optional end (a date or a number of payments) and builds those from it.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from babel.dates import get_day_names
from fastapi import Request
from fastapi.responses import Response

from finhub.web.client import Api, ApiProblem
from finhub.web.errors import MESSAGES, field_errors
from finhub.web.forms import FormError, key_after, new_idempotency_key, parse_amount
from finhub.web.i18n import babel_locale, format_date, gettext, ngettext
from finhub.web.rendering import N_, redirect, render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser
from finhub.web.step_up import STEP_UP_REQUIRED, StepUpFailed, with_step_up

router = web_router()

PAGE_SIZE = 20
MAX_COUNT = 1000
REPEATS = ("once", "weekly", "monthly")
# A first payment on a later day goes out in the morning (UTC, the API's time zone).
RUN_AT = time(8, 0)
STATUS_LABELS = {
    "active": N_("Active"),
    "paused": N_("Paused"),
    "canceled": N_("Canceled"),
    "finished": N_("Finished"),
}
PROBLEM_FIELDS = {
    "start_in_past": "start_date",
    "invalid_rule": "repeat",
    "invalid_end": "end_date",
    "recipient_not_found": "to",
    "recipient_wallet_closed": "to",
    "self_payment": "to",
    "amount_too_small": "amount",
    "amount_too_large": "amount",
    "amount_overflow": "amount",
    "limit_exceeded": "amount",
    "unsupported_currency": "amount",
    "currency_not_supported": "amount",
    "invalid_second_factor": "step_up_code",
    "invalid_pin": "step_up_code",
    "code_already_used": "step_up_code",
}
# The API's request fields, as the form names them.
API_FIELDS = {
    "start_at": "start_date",
    "end_at": "end_date",
    "rule": "repeat",
    "currency": "amount",
}
WALLET_ID = re.compile(r"^wal_[0-9A-Za-z]+$")
PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")


# --- the list ---------------------------------------------------------------------------------


@router.get("/scheduled")
async def list_page(request: Request, user: CurrentUser, after: str | None = None) -> Response:
    api = Api(request)
    cursor = after if after and after.startswith("sch_") and len(after) <= 64 else None
    page = await api.get("/v1/payments/scheduled", {"limit": PAGE_SIZE, "starting_after": cursor})
    items = [await describe(api, schedule) for schedule in page["data"]]
    context = {
        "items": items,
        "next_after": page.get("next_starting_after") if page.get("has_more") else None,
        "paged": cursor is not None,
    }
    return render(request, "scheduled/index.html", context)


@dataclass
class Failure:
    when: str
    message: str
    retry_at: str | None


@dataclass
class Item:
    schedule: dict[str, Any]
    rule: list[str]
    status: str
    failure: Failure | None = None
    can_cancel: bool = field(default=False)


async def describe(api: Api, schedule: dict[str, Any]) -> Item:
    return Item(
        schedule=schedule,
        rule=describe_rule(schedule.get("rule"), schedule["start_at"], schedule.get("end_at")),
        status=gettext(STATUS_LABELS.get(schedule["status"], schedule["status"])),
        failure=await last_failure(api, schedule["id"]),
        can_cancel=schedule["status"] in ("active", "paused"),
    )


async def last_failure(api: Api, schedule_id: str) -> Failure | None:
    """The newest run that did not pay, if any (a retry still to come, or failed for good)."""
    runs = await api.get(f"/v1/payments/scheduled/{schedule_id}/runs")
    for run in runs.get("data", []):
        if run.get("failure_code") and run["status"] in ("pending", "failed"):
            known = MESSAGES.get(run["failure_code"])
            message = str(known) if known else gettext("The payment could not be made.")
            retry = run.get("next_attempt_at") if run["status"] == "pending" else None
            return Failure(run["occurrence_at"], message, retry)
    return None


# --- the rule in words ------------------------------------------------------------------------


def describe_rule(rule: str | None, start_at: str, end_at: str | None) -> list[str]:
    """`FREQ=MONTHLY;COUNT=12` → ["Every month on day 15", "12 payments in all"]."""
    start = datetime.fromisoformat(start_at)
    if not rule:
        return [gettext("Once")]
    parts = dict(p.partition("=")[::2] for p in rule.upper().removeprefix("RRULE:").split(";"))
    how_often = _how_often(parts, start)
    if how_often is None:
        return [gettext("Custom rule: %(rule)s") % {"rule": rule}]
    phrases = [how_often]
    if parts.get("COUNT", "").isdigit():
        count = int(parts["COUNT"])
        phrases.append(
            ngettext("%(num)d payment in all", "%(num)d payments in all", count) % {"num": count}
        )
    until = _until(parts.get("UNTIL"), end_at)
    if until is not None:
        phrases.append(gettext("Until %(date)s") % {"date": format_date(until)})
    return phrases


def _how_often(parts: dict[str, str], start: datetime) -> str | None:
    given = parts.get("INTERVAL", "1")
    interval = int(given) if given.isdigit() else 0
    frequency = parts.get("FREQ")
    if interval < 1:
        return None
    if frequency == "DAILY":
        return _every(interval, N_("Every day"), N_("Every %(num)d days"))
    if frequency == "WEEKLY":
        days = _weekdays(parts.get("BYDAY"), start)
        if days is None:
            return None
        return _every(
            interval,
            N_("Every week on %(days)s"),
            N_("Every %(num)d weeks on %(days)s"),
            days=days,
        )
    if frequency == "MONTHLY" and "BYDAY" not in parts:
        return _monthly(parts, interval, start)
    return None


def _every(interval: int, once: str, many: str, **values: Any) -> str:
    """`once` for an interval of 1 ("every 1 week" is never said), else `many`."""
    return gettext(once if interval == 1 else many) % {"num": interval, **values}


def _weekdays(byday: str | None, start: datetime) -> str | None:
    names = get_day_names("wide", locale=babel_locale())
    codes = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    if not byday:
        return str(names[start.weekday()])
    wanted = byday.split(",")
    if any(code not in codes for code in wanted):
        return None  # "the first Monday" and the like: shown as the rule itself
    return ", ".join(str(names[codes.index(code)]) for code in wanted)


def _monthly(parts: dict[str, str], interval: int, start: datetime) -> str | None:
    days = [int(d) for d in parts.get("BYMONTHDAY", str(start.day)).split(",") if _integer(d)]
    if days == [-1]:
        return _every(
            interval, N_("Every month on the last day"), N_("Every %(num)d months on the last day")
        )
    if len(days) > 1 and parts.get("BYSETPOS") == "-1" and min(days) > 0:
        return _every(
            interval,
            N_("Every month on day %(day)d, or its last day if shorter"),
            N_("Every %(num)d months on day %(day)d, or its last day if shorter"),
            day=max(days),
        )
    if len(days) == 1 and days[0] > 0:
        return _every(
            interval,
            N_("Every month on day %(day)d"),
            N_("Every %(num)d months on day %(day)d"),
            day=days[0],
        )
    return None


def _integer(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _until(until: str | None, end_at: str | None) -> date | None:
    if end_at:
        return datetime.fromisoformat(end_at).date()
    if until and len(until) >= 8 and until[:8].isdigit():
        return date(int(until[:4]), int(until[4:6]), int(until[6:8]))
    return None


# --- cancelling -------------------------------------------------------------------------------


@router.post("/scheduled/{schedule_id}/cancel")
async def cancel(request: Request, schedule_id: str, user: CurrentUser) -> Response:
    if not schedule_id.startswith("sch_") or len(schedule_id) > 64:
        return redirect(request, "/scheduled")
    await Api(request).post(f"/v1/payments/scheduled/{schedule_id}/cancel")
    return redirect(request, "/scheduled", flash=N_("Scheduled payment canceled."))


# --- scheduling -------------------------------------------------------------------------------


@router.get("/scheduled/new")
async def new_form(request: Request, user: CurrentUser) -> Response:
    api = Api(request)
    values = ScheduleForm.read({}, default_currency=user.home_currency)
    return await show_form(request, api, user.home_currency, values, {})


@router.post("/scheduled/new")
async def create(request: Request, user: CurrentUser) -> Response:
    api = Api(request)
    form = await request.form()
    values = ScheduleForm.read(form, default_currency=user.home_currency)
    try:
        body = values.request_body(server_now(request))
    except FormError as error:
        return await show_form(request, api, user.home_currency, values, error.errors, 422)
    key = values.idempotency_key
    try:
        await with_step_up(
            api, form, lambda: api.post("/v1/payments/scheduled", body, idempotency_key=key)
        )
    except StepUpFailed as failed:
        errors = field_errors(failed.problem, PROBLEM_FIELDS)
        return await show_form(request, api, user.home_currency, values, errors, 422, step_up=True)
    except ApiProblem as problem:
        values.idempotency_key = key_after(problem, key)
        if problem.code == STEP_UP_REQUIRED:
            return await show_form(request, api, user.home_currency, values, {}, step_up=True)
        errors = schedule_errors(problem)
        status = 422 if problem.status < 500 else problem.status
        return await show_form(request, api, user.home_currency, values, errors, status)
    return redirect(request, "/scheduled", flash=N_("Payment scheduled."))


def server_now(request: Request) -> datetime:
    """The server's time: the API checks the start against it, not against the browser's."""
    now: datetime = request.app.state.container.clock.now()
    return now


@dataclass
class ScheduleForm:
    to: str
    amount: str
    currency: str
    note: str
    start_date: str
    repeat: str
    end_date: str
    count: str
    idempotency_key: str

    @classmethod
    def read(cls, form: Mapping[str, Any], *, default_currency: str) -> ScheduleForm:
        def text(name: str, limit: int = 320) -> str:
            return str(form.get(name) or "").strip()[:limit]

        repeat = text("repeat")
        return cls(
            to=text("to"),
            amount=text("amount", 32),
            currency=text("currency", 3).upper() or default_currency,
            note=text("note", 500),
            start_date=text("start_date", 10),
            repeat=repeat if repeat in REPEATS else "once",
            end_date=text("end_date", 10),
            count=text("count", 6),
            idempotency_key=text("idempotency_key", 64) or new_idempotency_key(),
        )

    def recipient(self) -> tuple[str, str]:
        """What kind of address the person typed: (kind, value) as the API names them."""
        value = self.to
        if WALLET_ID.match(value):
            return "wallet_id", value
        if value.startswith("@"):
            return "username", value
        if "@" in value:
            return "email", value
        phone = re.sub(r"[\s().-]", "", value)
        if phone.startswith("+") or phone.isdigit():
            return "phone", phone
        return "username", value

    def request_body(self, now: datetime) -> dict[str, Any]:
        errors: dict[str, str] = {}
        body: dict[str, Any] = {"type": "p2p", "currency": self.currency}
        self._check_recipient(errors, body)
        self._check_amount(errors, body)
        if self.note:
            body["note"] = self.note
        start = _parse_date(self.start_date)
        if start is None:
            errors["start_date"] = gettext("Enter the date of the first payment.")
        else:
            body["start_at"] = _start_at(start, now).isoformat()
        self._check_repeat(errors, body, start)
        if errors:
            raise FormError(errors)
        return body

    def _check_recipient(self, errors: dict[str, str], body: dict[str, Any]) -> None:
        if not self.to:
            errors["to"] = gettext("Enter who to pay.")
            return
        kind, value = self.recipient()
        if kind == "phone" and not PHONE.match(value):
            errors["to"] = gettext("Enter the phone number with its country code, like +4475…")
            return
        body["to"] = {kind: value}

    def _check_amount(self, errors: dict[str, str], body: dict[str, Any]) -> None:
        try:
            body["amount"] = parse_amount(self.amount, self.currency)
        except FormError as error:
            errors.update(error.errors)

    def _check_repeat(
        self, errors: dict[str, str], body: dict[str, Any], start: date | None
    ) -> None:
        if self.repeat == "once":
            return
        count = None
        if self.count:
            count = int(self.count) if self.count.isdecimal() else 0  # int("²") fails
            if not 1 <= count <= MAX_COUNT:
                errors["count"] = gettext("Enter a whole number from 1 to %(max)d.") % {
                    "max": MAX_COUNT
                }
        end = _parse_date(self.end_date) if self.end_date else None
        if self.end_date and end is None:
            errors["end_date"] = gettext("Enter a date.")
        if end is not None and count is not None:
            errors["count"] = gettext("Give an end date or a number of payments, not both.")
        if start is None:
            return
        body["rule"] = repeat_rule(self.repeat, start, count)
        if end is not None:
            body["end_at"] = datetime.combine(end, time(23, 59, 59), UTC).isoformat()


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _start_at(day: date, now: datetime) -> datetime:
    """The first payment's moment: the morning of `day`, or in a minute when that has passed
    today. A day before today stays as it is and the API says it is in the past."""
    morning = datetime.combine(day, RUN_AT, UTC)
    if day == now.astimezone(UTC).date() and morning < now:
        return (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    return morning


def repeat_rule(repeat: str, start: date, count: int | None) -> str:
    """The RFC 5545 rule for "weekly" or "monthly" from `start`. From the 29th on, a monthly
    payment falls on the month's last day in shorter months rather than skipping them."""
    if repeat == "weekly":
        rule = "FREQ=WEEKLY"
    elif start.day <= 28:
        rule = "FREQ=MONTHLY"
    elif start.day == calendar.monthrange(start.year, start.month)[1] == 31:
        rule = "FREQ=MONTHLY;BYMONTHDAY=-1"
    else:
        days = ",".join(str(d) for d in range(28, start.day + 1))
        rule = f"FREQ=MONTHLY;BYMONTHDAY={days};BYSETPOS=-1"
    return f"{rule};COUNT={count}" if count else rule


def schedule_errors(problem: ApiProblem) -> dict[str, str]:
    errors = field_errors(problem, PROBLEM_FIELDS)
    return {API_FIELDS.get(name, name): message for name, message in errors.items()}


async def show_form(
    request: Request,
    api: Api,
    home_currency: str,
    values: ScheduleForm,
    errors: dict[str, str],
    status: int = 200,
    *,
    step_up: bool = False,
) -> Response:
    wallet = await api.get("/v1/wallets/me")
    currencies = [b["currency"] for b in wallet.get("balances") or []] or [home_currency]
    if values.currency not in currencies:
        currencies.append(values.currency)
    today = server_now(request).astimezone(UTC).date()
    if not values.start_date:
        values.start_date = today.isoformat()
    context = {
        "values": values,
        "errors": errors,
        "currencies": currencies,
        "today": today.isoformat(),
        "step_up": step_up,
        "repeat_options": [
            ("once", gettext("Once")),
            ("weekly", gettext("Every week")),
            ("monthly", gettext("Every month")),
        ],
    }
    return render(request, "scheduled/new.html", context, status=status)
