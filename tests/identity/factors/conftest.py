"""Fixtures of the second-factor tests.

Until the mailer and the inbox are implemented (they raise NotImplementedError), stand-ins
write to their tables (`outbound_mail`, `notifications`); they switch themselves off as soon as
the real ones exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.notifications import inbox
from finhub.notifications.mail import Mailer
from tests.identity.factors.support import (
    Person,
    client_for,
    is_stub,
    new_person,
    notify_stand_in,
    queue_stand_in,
)


@pytest.fixture(autouse=True)
def mailbox_until_notifications_land(monkeypatch: pytest.MonkeyPatch) -> None:
    if is_stub(Mailer.queue):
        monkeypatch.setattr(Mailer, "queue", queue_stand_in)
    if is_stub(inbox.notify):
        monkeypatch.setattr(inbox, "notify", notify_stand_in)


@pytest.fixture
async def person(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> AsyncIterator[Person]:
    """A person signed in with a password only (aal 1, not stepped up)."""
    user_id, email, token = await new_person(db, settings, clock)
    async with client_for(app, token) as client:
        yield Person(user_id, email, client)
