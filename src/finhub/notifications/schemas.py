"""API shapes of the inbox and the dev mailbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from finhub.kit.db.engine import Row


class NotificationOut(BaseModel):
    object: str = Field("notification", description="Always `notification`.")
    id: str = Field(description="The notification's id (`ntf_…`).")
    kind: str = Field(description="What it is about, e.g. `security.new_sign_in`.")
    title: str
    body: str
    data: dict[str, Any] = Field(description="Details for apps to link or render.")
    created_at: datetime
    read_at: datetime | None = Field(None, description="When it was first marked read.")


class UnreadCountOut(BaseModel):
    object: str = Field("unread_count", description="Always `unread_count`.")
    unread: int


class MarkedReadOut(BaseModel):
    object: str = Field("notifications_read", description="Always `notifications_read`.")
    marked: int = Field(description="How many notifications were unread until now.")


class MailSummaryOut(BaseModel):
    object: str = Field("mail", description="Always `mail`.")
    id: str = Field(description="The message's id (`mail_…`).")
    to: str
    subject: str
    tag: str = Field(description="Which flow sent it, e.g. `auth.verify_email`.")
    status: str = Field(description="`queued`, `sent`, `failed` or `kept` (dev mailbox).")
    attempts: int
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime
    sent_at: datetime | None = None


class MailOut(MailSummaryOut):
    text_body: str
    html_body: str | None = None


def notification_out(row: Row) -> dict[str, Any]:
    return {
        "object": "notification",
        "id": row["id"],
        "kind": row["kind"],
        "title": row["title"],
        "body": row["body"],
        "data": row["data"],
        "created_at": row["created_at"],
        "read_at": row["read_at"],
    }


def mail_summary_out(row: Row) -> dict[str, Any]:
    return {
        "object": "mail",
        "id": row["id"],
        "to": row["to_address"],
        "subject": row["subject"],
        "tag": row["tag"],
        "status": row["status"],
        "attempts": row["attempts"],
        "next_attempt_at": row["next_attempt_at"],
        "last_error": row["last_error"],
        "created_at": row["created_at"],
        "sent_at": row["sent_at"],
    }


def mail_out(row: Row) -> dict[str, Any]:
    return {**mail_summary_out(row), "text_body": row["text_body"], "html_body": row["html_body"]}
