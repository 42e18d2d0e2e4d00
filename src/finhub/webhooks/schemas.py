"""Request and response shapes of webhook endpoints and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from finhub.kit.db.engine import Row

EventPattern = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$",
        description="An event type (`payment.completed`), a family (`payment.*`) or `*`.",
    ),
]
Url = Annotated[
    str, Field(min_length=8, max_length=2048, description="Where events are POSTed (https).")
]
Description = Annotated[str, Field(max_length=500)]


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    event_types: list[EventPattern] = Field(min_length=1, max_length=50)
    description: Description | None = None


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    event_types: list[EventPattern] | None = Field(None, min_length=1, max_length=50)
    description: Description | None = None
    enabled: bool | None = None


class EndpointOut(BaseModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    secret: str | None = Field(
        None, description="The signing secret (`whsec_…`): only in the answer that made it."
    )
    created_at: datetime
    updated_at: datetime


class DeletedOut(BaseModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    deleted: bool


class AttemptOut(BaseModel):
    object: Literal["webhook_attempt"] = "webhook_attempt"
    number: int
    trigger: Literal["scheduled", "replay"]
    started_at: datetime
    duration_ms: int
    status_code: int | None
    succeeded: bool
    error: str | None
    response_excerpt: str | None


class DeliveryOut(BaseModel):
    object: Literal["webhook_delivery"] = "webhook_delivery"
    id: str = Field(description="Also the `webhook-id` header of every attempt.")
    endpoint_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempt_count: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    created_at: datetime
    attempts: list[AttemptOut]


def endpoint_out(row: Row, *, secret: str | None = None) -> dict[str, Any]:
    payload = {
        "object": "webhook_endpoint",
        "id": row["id"],
        "url": row["url"],
        "description": row["description"],
        "event_types": list(row["event_types"]),
        "enabled": row["enabled"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    if secret is not None:
        payload["secret"] = secret
    return payload


def attempt_out(row: Row) -> dict[str, Any]:
    return {
        "object": "webhook_attempt",
        "number": row["number"],
        "trigger": row["trigger"],
        "started_at": row["started_at"],
        "duration_ms": row["duration_ms"],
        "status_code": row["status_code"],
        "succeeded": row["succeeded"],
        "error": row["error"],
        "response_excerpt": row["response_excerpt"],
    }


def delivery_out(row: Row, attempts: list[Row]) -> dict[str, Any]:
    return {
        "object": "webhook_delivery",
        "id": row["id"],
        "endpoint_id": row["endpoint_id"],
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "status": row["status"],
        "attempt_count": row["attempts"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] == "pending" else None,
        "last_attempt_at": row["last_attempt_at"],
        "created_at": row["created_at"],
        "attempts": [attempt_out(attempt) for attempt in attempts],
    }
