"""Support tickets and the messages of their threads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

CATEGORIES = ("account", "payments", "cards", "security", "other")
STATUSES = ("open", "answered", "closed")


@dataclass(frozen=True, slots=True)
class Ticket:
    id: str
    user_id: str
    subject: str
    category: str
    status: str  # open | answered | closed
    message_count: int
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime
    closed_at: datetime | None
    closed_by: str | None


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    ticket_id: str
    author_type: str  # user | staff
    author_id: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Requester:
    """Who opened a ticket, as staff see them."""

    id: str
    email: str
    display_name: str | None
