"""Help: answers to common questions, a contact form that opens a support ticket, and a
person's tickets with their threads.

Anyone can read the answers; writing to support needs an account, so a signed-out visitor is
asked to sign in instead of seeing the form. Tickets are the API's `/v1/support/tickets`: a
person only ever reaches their own, and each form carries an idempotency key, so a double
submit opens one ticket and sends one reply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Query, Request
from fastapi.responses import Response

from finhub.identity.sessions import SESSION_COOKIE
from finhub.web.client import Api, ApiProblem
from finhub.web.errors import field_errors
from finhub.web.forms import form_text, headed, new_idempotency_key
from finhub.web.i18n import gettext
from finhub.web.rendering import N_, redirect, render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser, SignInRequired, WebUser, current_user

router = web_router()

CATEGORIES = ("account", "payments", "cards", "security", "other")
SUBJECT_MAX = 200
MESSAGE_MAX = 5000
PAGE_SIZE = 20
TICKET_ID = re.compile(r"^tkt_[0-9A-HJKMNP-TV-Z]{26}$")
NOT_FOUND = N_("This ticket doesn't exist or isn't yours.")
# The API's codes for the help forms that need words of their own.
OWN_MESSAGES = {
    "support_ticket_not_found": NOT_FOUND,
    "too_many_attempts": N_(
        "You've opened many tickets today. Reply in one of them, or try again tomorrow."
    ),
}


def category_label(category: str) -> str:
    labels = {
        "account": gettext("My account"),
        "payments": gettext("Payments and transfers"),
        "cards": gettext("Cards and top-ups"),
        "security": gettext("Security and sign-in"),
        "other": gettext("Something else"),
    }
    return labels.get(category, category)


def status_label(status: str) -> str:
    labels = {
        "open": gettext("Waiting for support"),
        "answered": gettext("Answered"),
        "closed": gettext("Closed"),
    }
    return labels.get(status, status)


def labels() -> dict[str, Any]:
    return {"category_label": category_label, "status_label": status_label}


@dataclass
class TicketForm:
    """The contact form as typed, kept when it is shown again with errors."""

    subject: str = ""
    category: str = ""
    message: str = ""
    idempotency_key: str = ""

    @classmethod
    def read(cls, form: Mapping[str, Any]) -> TicketForm:
        category = form_text(form, "category")
        return cls(
            subject=form_text(form, "subject")[: SUBJECT_MAX * 2],
            category=category if category in CATEGORIES else "",
            message=form_text(form, "message")[: MESSAGE_MAX * 2],
            idempotency_key=form_text(form, "idempotency_key")[:64] or new_idempotency_key(),
        )

    def errors(self) -> dict[str, str]:
        """What the API would refuse, said before calling it."""
        errors: dict[str, str] = {}
        if not self.subject:
            errors["subject"] = gettext("Tell us in a few words what it's about.")
        elif len(self.subject) > SUBJECT_MAX:
            errors["subject"] = gettext("Use at most %(count)d characters.") % {
                "count": SUBJECT_MAX
            }
        if not self.category:
            errors["category"] = gettext("Choose a topic.")
        errors.update(message_errors(self.message))
        return headed(errors)


def message_errors(message: str) -> dict[str, str]:
    if not message:
        return {"message": gettext("Write your message.")}
    if len(message) > MESSAGE_MAX:
        limit = gettext("Use at most %(count)d characters.") % {"count": MESSAGE_MAX}
        return {"message": limit}
    return {}


def problem_errors(problem: ApiProblem) -> dict[str, str]:
    """Field messages for an API problem, with the help pages' own words where they have
    them."""
    own = OWN_MESSAGES.get(problem.code)
    if own is not None:
        return {"": gettext(own)}
    return field_errors(problem)


async def signed_in(request: Request) -> WebUser | None:
    """The signed-in person, or None for a visitor: the help page is for both."""
    if SESSION_COOKIE not in request.cookies:
        return None
    try:
        return await current_user(request)
    except SignInRequired:
        return None


def not_found(request: Request) -> Response:
    message = gettext(NOT_FOUND)
    return render(request, "error.html", {"message": message}, status=404)


# --- the help page -------------------------------------------------------------------------------


def help_page(
    request: Request,
    user: WebUser | None,
    form: TicketForm,
    errors: dict[str, str] | None = None,
    *,
    status: int = 200,
) -> Response:
    options = [("", gettext("Choose a topic")), *((c, category_label(c)) for c in CATEGORIES)]
    context = {
        "signed_in": user is not None,
        "form": form,
        "errors": errors or {},
        "category_options": options,
        "subject_max": SUBJECT_MAX,
        "message_max": MESSAGE_MAX,
    }
    return render(request, "help/index.html", context, status=status)


@router.get("/help")
async def show_help(request: Request) -> Response:
    user = await signed_in(request)
    return help_page(request, user, TicketForm(idempotency_key=new_idempotency_key()))


@router.post("/help")
async def contact_support(request: Request, user: CurrentUser) -> Response:
    form = TicketForm.read(await request.form())
    errors = form.errors()
    if errors:
        return help_page(request, user, form, errors, status=422)
    body = {"subject": form.subject, "category": form.category, "message": form.message}
    try:
        ticket = await Api(request).post(
            "/v1/support/tickets", body, idempotency_key=form.idempotency_key
        )
    except ApiProblem as problem:
        if problem.status >= 500 or problem.status == 401:
            raise
        return help_page(request, user, form, problem_errors(problem), status=422)
    return redirect(
        request,
        f"/help/tickets/{ticket['id']}",
        flash=N_("Your message was sent. We'll answer here and let you know in your inbox."),
    )


# --- my tickets ----------------------------------------------------------------------------------


@router.get("/help/tickets")
async def my_tickets(
    request: Request,
    user: CurrentUser,
    after: str | None = Query(None, max_length=64),
) -> Response:
    cursor = after if after and TICKET_ID.match(after) else None
    page = await Api(request).get(
        "/v1/support/tickets", {"limit": PAGE_SIZE, "starting_after": cursor}
    )
    context = {"tickets": page["data"], "page": page, "first_page": cursor is None, **labels()}
    return render(request, "help/tickets.html", context)


def thread_page(
    request: Request,
    ticket: dict[str, Any],
    *,
    reply: str = "",
    idempotency_key: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "ticket": ticket,
        "reply": reply,
        "idempotency_key": idempotency_key or new_idempotency_key(),
        "errors": errors or {},
        "message_max": MESSAGE_MAX,
        **labels(),
    }
    return render(request, "help/thread.html", context, status=status)


async def load_ticket(api: Api, ticket_id: str) -> dict[str, Any] | None:
    """The person's ticket with its thread; None when it isn't theirs (or doesn't exist)."""
    if not TICKET_ID.match(ticket_id):
        return None
    try:
        ticket: dict[str, Any] = await api.get(f"/v1/support/tickets/{ticket_id}")
    except ApiProblem as problem:
        if problem.status == 404:
            return None
        raise
    return ticket


@router.get("/help/tickets/{ticket_id}")
async def show_ticket(request: Request, ticket_id: str, user: CurrentUser) -> Response:
    ticket = await load_ticket(Api(request), ticket_id)
    if ticket is None:
        return not_found(request)
    return thread_page(request, ticket)


@router.post("/help/tickets/{ticket_id}")
async def reply_to_ticket(request: Request, ticket_id: str, user: CurrentUser) -> Response:
    api = Api(request)
    ticket = await load_ticket(api, ticket_id)
    if ticket is None:
        return not_found(request)
    form = await request.form()
    reply = form_text(form, "message")[: MESSAGE_MAX * 2]
    key = form_text(form, "idempotency_key")[:64] or new_idempotency_key()
    errors = message_errors(reply)
    if not errors:
        try:
            await api.post(
                f"/v1/support/tickets/{ticket['id']}/messages",
                {"message": reply},
                idempotency_key=key,
            )
        except ApiProblem as problem:
            if problem.status >= 500 or problem.status == 401:
                raise
            errors = problem_errors(problem)
        else:
            return redirect(request, f"/help/tickets/{ticket['id']}", flash=N_("Reply sent."))
    return thread_page(request, ticket, reply=reply, idempotency_key=key, errors=errors, status=422)
