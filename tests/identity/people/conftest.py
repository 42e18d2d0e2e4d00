"""Fixtures of the people tests.

Until the mailer and the inbox are implemented (they raise NotImplementedError), a stand-in
writes to the same tables (`outbound_mail`, `notifications`) so these tests can read the
mailbox; it switches itself off as soon as the real ones exist.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.notifications import inbox
from finhub.notifications.mail import Mailer


def _is_stub(function: Any) -> bool:
    return "raise NotImplementedError" in inspect.getsource(function)


async def _queue(
    self: Mailer,
    conn: Connection,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    tag: str,
) -> str:
    mail_id = new_id("mail")
    await conn.execute(
        "INSERT INTO outbound_mail (id, to_address, subject, text_body, html_body, tag, status,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s, 'kept', clock_timestamp())",
        (mail_id, to, subject, text, html, tag),
    )
    return mail_id


async def _notify(
    conn: Connection,
    *,
    user_id: str,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any] | None = None,
) -> str:
    from psycopg.types.json import Jsonb

    notification_id = new_id("ntf")
    await conn.execute(
        "INSERT INTO notifications (id, user_id, kind, title, body, data)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (notification_id, user_id, kind, title, body, Jsonb(data or {})),
    )
    return notification_id


@pytest.fixture(autouse=True)
def mailbox_until_notifications_land(monkeypatch: pytest.MonkeyPatch) -> None:
    if _is_stub(Mailer.queue):
        monkeypatch.setattr(Mailer, "queue", _queue)
    if _is_stub(inbox.notify):
        monkeypatch.setattr(inbox, "notify", _notify)
