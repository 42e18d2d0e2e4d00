"""The in-app inbox of a person: notes about their account (a new sign-in, a changed factor,
a payment received) that the apps show until they are read."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from finhub.errors import NotFound
from finhub.kit.db.engine import Connection, Row
from finhub.kit.ids import new_id
from finhub.notifications import repository

KIND = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
MAX_TITLE = 200
MAX_BODY = 4000


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    title = "No such notification"


async def notify(
    conn: Connection,
    *,
    user_id: str,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any] | None = None,
) -> str:
    """Put a notification in the person's inbox (in the caller's transaction); returns `ntf_…`.

    Titles over 200 and bodies over 4,000 characters are shortened rather than refused: a
    notification must never make the change it reports fail."""
    if not KIND.match(kind):
        raise ValueError(f"notification kind {kind!r} is not lower_snake_case")
    notification_id = new_id("ntf")
    await repository.insert_notification(
        conn,
        {
            "id": notification_id,
            "user_id": user_id,
            "kind": kind,
            "title": _shorten(title, MAX_TITLE) or kind,
            "body": _shorten(body, MAX_BODY),
            "data": data or {},
        },
    )
    return notification_id


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


async def inbox(
    conn: Connection,
    user_id: str,
    *,
    unread_only: bool,
    limit: int,
    starting_after: str | None,
) -> list[Row]:
    """The person's notifications, newest first."""
    return await repository.list_notifications(
        conn, user_id, unread_only=unread_only, limit=limit, starting_after=starting_after
    )


async def mark_read(conn: Connection, user_id: str, notification_id: str, now: datetime) -> Row:
    row = await repository.mark_notification_read(conn, user_id, notification_id, now)
    if row is None:
        raise NotificationNotFound("You have no notification with this id.")
    return row


async def mark_all_read(conn: Connection, user_id: str, now: datetime) -> int:
    return await repository.mark_all_notifications_read(conn, user_id, now)


async def unread_count(conn: Connection, user_id: str) -> int:
    return await repository.count_unread(conn, user_id)
