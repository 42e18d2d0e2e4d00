"""Request bodies and response shapes of support tickets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Category = Literal["account", "payments", "cards", "security", "other"]
Status = Literal["open", "answered", "closed"]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class TicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Subject = Field(description="A short summary, up to 200 characters.")
    category: Category = Field(description="What the question is about.")
    message: Body = Field(description="The question itself, up to 5,000 characters.")


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Body = Field(description="The reply, up to 5,000 characters.")


class MessageOut(BaseModel):
    object: str = Field("support_ticket_message", description="Always `support_ticket_message`.")
    id: str = Field(description="The message's id (`tkm_…`).")
    ticket_id: str
    author_type: Literal["user", "staff"] = Field(
        description="`user`: the person who opened the ticket; `staff`: finhub's support."
    )
    author_id: str | None = Field(
        None, description="Staff views only: the person's (`usr_…`) or member's (`stf_…`) id."
    )
    body: str
    created_at: datetime


class RequesterOut(BaseModel):
    id: str = Field(description="The person's id (`usr_…`).")
    email: str
    display_name: str | None = None


class TicketOut(BaseModel):
    object: str = Field("support_ticket", description="Always `support_ticket`.")
    id: str = Field(description="The ticket's id (`tkt_…`).")
    subject: str
    category: Category
    status: Status = Field(
        description="`open` (waiting for support), `answered` (support replied last) or `closed`."
    )
    message_count: int
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime
    closed_at: datetime | None = None
    requester: RequesterOut | None = Field(None, description="Staff views only.")
    closed_by: str | None = Field(None, description="Staff views only: who closed it (`stf_…`).")


class ThreadOut(TicketOut):
    messages: list[MessageOut] = Field(description="The whole thread, oldest first.")
