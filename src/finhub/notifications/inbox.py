"""The in-app inbox of a person."""

from __future__ import annotations

from typing import Any

from finhub.kit.db.engine import Connection


async def notify(
    conn: Connection,
    *,
    user_id: str,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any] | None = None,
) -> str:
    """Put a notification in the person's inbox (in the caller's transaction); returns `ntf_…`."""
    raise NotImplementedError
