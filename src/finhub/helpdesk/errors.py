"""Support ticket rule errors (problem+json codes)."""

from __future__ import annotations

from finhub.errors import Conflict, NotFound


class TicketNotFound(NotFound):
    """Also the answer for another person's ticket, so ids can't be probed."""

    code = "support_ticket_not_found"
    title = "No such support ticket"


class TicketClosed(Conflict):
    code = "support_ticket_closed"
    title = "The support ticket is closed"
