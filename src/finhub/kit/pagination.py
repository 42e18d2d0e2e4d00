"""Cursor pagination in Stripe's shape: `limit`, `starting_after`, `has_more`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    object: str = Field("list", description="Always `list`.")
    data: list[T]
    has_more: bool = Field(description="Whether another page follows this one.")
    next_starting_after: str | None = Field(
        None, description="Pass as `starting_after` to fetch the next page."
    )


def page_payload(
    rows: Sequence[Any],
    limit: int,
    render: Callable[[Any], dict[str, Any]],
    cursor_of: Callable[[Any], str],
) -> dict[str, Any]:
    """Callers fetch `limit + 1` rows; the extra one only tells whether there is more."""
    has_more = len(rows) > limit
    shown = rows[:limit]
    return {
        "object": "list",
        "data": [render(row) for row in shown],
        "has_more": has_more,
        "next_starting_after": cursor_of(shown[-1]) if has_more and shown else None,
    }
