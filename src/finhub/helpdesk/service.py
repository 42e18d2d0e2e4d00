"""The rules of support tickets.

A ticket is `open` while it waits for staff, `answered` once staff replied, and `closed` when
staff closed it. A reply from the person makes it `open` again, a closed ticket included, so a
person never needs a new ticket to follow up; staff can't write into a closed one. When staff
reply, the person hears of it in their in-app inbox.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from finhub.errors import TooManyAttempts
from finhub.helpdesk import repository
from finhub.helpdesk.errors import TicketClosed, TicketNotFound
from finhub.helpdesk.models import Message, Requester, Ticket
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.notifications import inbox

# Enough for anyone with a real problem; a script filling the staff queue stops here.
TICKETS_PER_DAY = 10
DAY = timedelta(days=1)
NOTIFICATION_EXCERPT = 500


@dataclass(frozen=True, slots=True)
class NewTicket:
    subject: str
    category: str
    message: str


@dataclass(frozen=True, slots=True)
class Thread:
    ticket: Ticket
    messages: list[Message]


# --- a person's tickets -------------------------------------------------------------------------


async def open_ticket(conn: Connection, now: datetime, user_id: str, new: NewTicket) -> Thread:
    await _within_daily_cap(conn, now, user_id)
    ticket = await repository.insert_ticket(
        conn,
        {
            "id": new_id("tkt"),
            "user_id": user_id,
            "subject": new.subject,
            "category": new.category,
            "now": now,
        },
    )
    message = await _add_message(conn, now, ticket.id, "user", user_id, new.message)
    return Thread(await _reloaded(conn, ticket.id), [message])


async def _within_daily_cap(conn: Connection, now: datetime, user_id: str) -> None:
    await repository.lock_person(conn, user_id)
    opened = await repository.opened_since(conn, user_id, now - DAY)
    if len(opened) >= TICKETS_PER_DAY:
        wait = (opened[0] + DAY - now).total_seconds()
        raise TooManyAttempts(
            max(1, math.ceil(wait)),
            f"You opened {TICKETS_PER_DAY} tickets in the last day; reply in one of them or "
            "try again later.",
        )


async def person_thread(conn: Connection, user_id: str, ticket_id: str) -> Thread:
    ticket = await repository.find_for_user(conn, ticket_id, user_id)
    if ticket is None:
        raise TicketNotFound("You have no support ticket with this id.")
    return Thread(ticket, await repository.messages_of(conn, ticket.id))


async def reply_as_person(
    conn: Connection, now: datetime, user_id: str, ticket_id: str, body: str
) -> tuple[Ticket, Message]:
    ticket = await repository.find_for_user(conn, ticket_id, user_id, lock=True)
    if ticket is None:
        raise TicketNotFound("You have no support ticket with this id.")
    message = await _add_message(conn, now, ticket.id, "user", user_id, body)
    ticket = await repository.update_status(conn, ticket.id, status="open", now=now, message_at=now)
    return ticket, message


# --- staff ---------------------------------------------------------------------------------------


async def staff_thread(conn: Connection, ticket_id: str) -> Thread:
    ticket = await repository.find(conn, ticket_id)
    if ticket is None:
        raise TicketNotFound("There is no support ticket with this id.")
    return Thread(ticket, await repository.messages_of(conn, ticket.id))


async def reply_as_staff(
    conn: Connection, now: datetime, staff_id: str, ticket_id: str, body: str
) -> tuple[Ticket, Message]:
    ticket = await _locked_open_ticket(conn, ticket_id)
    message = await _add_message(conn, now, ticket.id, "staff", staff_id, body)
    ticket = await repository.update_status(
        conn, ticket.id, status="answered", now=now, message_at=now
    )
    await inbox.notify(
        conn,
        user_id=ticket.user_id,
        kind="support.replied",
        title=f"Support replied: {ticket.subject}",
        body=_excerpt(body),
        data={"ticket_id": ticket.id, "message_id": message.id},
    )
    return ticket, message


async def close(conn: Connection, now: datetime, staff_id: str, ticket_id: str) -> Ticket:
    ticket = await _locked_open_ticket(conn, ticket_id)
    return await repository.update_status(
        conn, ticket.id, status="closed", now=now, closed_by=staff_id
    )


async def _locked_open_ticket(conn: Connection, ticket_id: str) -> Ticket:
    ticket = await repository.find(conn, ticket_id, lock=True)
    if ticket is None:
        raise TicketNotFound("There is no support ticket with this id.")
    if ticket.status == "closed":
        raise TicketClosed("The ticket is closed; the person can reopen it by replying.")
    return ticket


async def _add_message(
    conn: Connection, now: datetime, ticket_id: str, author_type: str, author_id: str, body: str
) -> Message:
    return await repository.insert_message(
        conn,
        {
            "id": new_id("tkm"),
            "ticket_id": ticket_id,
            "author_type": author_type,
            "author_id": author_id,
            "body": body,
            "now": now,
        },
    )


async def _reloaded(conn: Connection, ticket_id: str) -> Ticket:
    ticket = await repository.find(conn, ticket_id)
    assert ticket is not None
    return ticket


def _excerpt(text: str) -> str:
    if len(text) <= NOTIFICATION_EXCERPT:
        return text
    return text[: NOTIFICATION_EXCERPT - 1] + "…"


# --- payloads ------------------------------------------------------------------------------------


def ticket_payload(ticket: Ticket, requester: Requester | None = None) -> dict[str, Any]:
    """The ticket as its owner sees it; with `requester`, as staff see it."""
    payload: dict[str, Any] = {
        "object": "support_ticket",
        "id": ticket.id,
        "subject": ticket.subject,
        "category": ticket.category,
        "status": ticket.status,
        "message_count": ticket.message_count,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "last_message_at": ticket.last_message_at,
        "closed_at": ticket.closed_at,
    }
    if requester is not None:
        payload["requester"] = {
            "id": requester.id,
            "email": requester.email,
            "display_name": requester.display_name,
        }
        payload["closed_by"] = ticket.closed_by
    return payload


def message_payload(message: Message, *, staff_view: bool = False) -> dict[str, Any]:
    """Staff see which member wrote a message; the person sees only that support did."""
    payload: dict[str, Any] = {
        "object": "support_ticket_message",
        "id": message.id,
        "ticket_id": message.ticket_id,
        "author_type": message.author_type,
        "body": message.body,
        "created_at": message.created_at,
    }
    if staff_view:
        payload["author_id"] = message.author_id
    return payload


def thread_payload(thread: Thread, requester: Requester | None = None) -> dict[str, Any]:
    staff_view = requester is not None
    return {
        **ticket_payload(thread.ticket, requester),
        "messages": [message_payload(m, staff_view=staff_view) for m in thread.messages],
    }
