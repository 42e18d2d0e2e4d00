"""The in-app inbox: notifications newest first, unread ones marked, read one at a time (HTMX
swaps the item and updates the layout's unread badge) or all at once, a page at a time."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from finhub.web.client import Api
from finhub.web.rendering import N_, redirect, render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser

router = web_router()

PAGE_SIZE = 20
# The event the mark-read answer triggers in the browser; static/js/inbox.js updates the badge.
UNREAD_EVENT = "finhub-unread"
# What a notification is about, by the start of its kind (`payment.completed`, `factor.…`).
TOPICS = (
    ("scheduled_payment.", N_("Scheduled payment")),
    ("payment_request.", N_("Payment request")),
    ("payment.", N_("Payment")),
    ("security.", N_("Security")),
    ("factor.", N_("Security")),
    ("support.", N_("Support")),
)


# Where a notification leads: (its kind, the id in its data, the page with `{}` for the id).
LINKS = (
    ("support.replied", "ticket_id", "/help/tickets/{}"),
    ("payment_request.created", "payment_request_id", "/request/{}"),
    ("scheduled_payment.failed", "scheduled_payment_id", "/scheduled"),
    ("security.new_sign_in", "session_id", "/settings/security/devices"),
)
# An id as the API writes them (`tkt_…`): nothing else is put into a link.
LINKED_ID = re.compile(r"^[a-z]{2,8}_[0-9A-Za-z]{1,60}$")


def link_of(notification: dict[str, Any]) -> str | None:
    """The page a notification is about, when there is one."""
    data = notification.get("data") or {}
    for kind, key, page in LINKS:
        if notification.get("kind") == kind and LINKED_ID.match(str(data.get(key) or "")):
            return page.format(data[key])
    return None


def topic_of(kind: str) -> str:
    return next((label for prefix, label in TOPICS if kind.startswith(prefix)), N_("Notice"))


def valid_id(value: str | None) -> bool:
    return bool(value) and str(value).startswith("ntf_") and len(str(value)) <= 64


@router.get("/inbox")
async def inbox_page(request: Request, user: CurrentUser, after: str | None = None) -> Response:
    api = Api(request)
    cursor = after if valid_id(after) else None
    page = await api.get("/v1/me/notifications", {"limit": PAGE_SIZE, "starting_after": cursor})
    notifications: list[dict[str, Any]] = page["data"]
    context = {
        "notifications": notifications,
        "topic_of": topic_of,
        "link_of": link_of,
        "next_after": page.get("next_starting_after") if page.get("has_more") else None,
        "paged": cursor is not None,
        "any_unread": any(n.get("read_at") is None for n in notifications),
    }
    return render(request, "inbox/index.html", context)


@router.post("/inbox/read-all")
async def mark_all_read(request: Request, user: CurrentUser) -> Response:
    await Api(request).post("/v1/me/notifications/read-all")
    return redirect(request, "/inbox", flash=N_("All notifications are marked as read."))


@router.post("/inbox/{notification_id}/read")
async def mark_read(request: Request, notification_id: str, user: CurrentUser) -> Response:
    if not valid_id(notification_id):
        return redirect(request, "/inbox")
    api = Api(request)
    notification = await api.post(f"/v1/me/notifications/{notification_id}/read")
    if not request.headers.get("hx-request") or request.headers.get("hx-boosted"):
        return redirect(request, "/inbox")
    unread = await api.get("/v1/me/notifications/unread-count")
    context = {"n": notification, "topic_of": topic_of, "link_of": link_of, "just_read": True}
    response = render(request, "inbox/item.html", context)
    response.headers["HX-Trigger"] = json.dumps({UNREAD_EVENT: {"count": unread["unread"]}})
    return response
