"""Fixtures of the staff tests: members created by the service (with a password and a confirmed
authenticator, as `finhub staff create` makes them) and the mail/inbox stand-ins."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pytest

from finhub.audit.service import AuditContext
from finhub.config import Settings
from finhub.identity.factors.service import FactorDeps, keyring_for
from finhub.identity.staff.service import create_member
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.ids import new_id
from finhub.kit.secrets import load_or_create_secret_key
from finhub.kit.throttle import Throttle
from finhub.notifications import inbox
from finhub.notifications.mail import Mailer
from tests.identity.factors.support import PASSWORD, is_stub, notify_stand_in, queue_stand_in


@pytest.fixture(autouse=True)
def mailbox_until_notifications_land(monkeypatch: pytest.MonkeyPatch) -> None:
    if is_stub(Mailer.queue):
        monkeypatch.setattr(Mailer, "queue", queue_stand_in)
    if is_stub(inbox.notify):
        monkeypatch.setattr(inbox, "notify", notify_stand_in)


@dataclass
class Member:
    id: str
    email: str
    secret: str


MakeMember = Callable[..., Coroutine[Any, Any, Member]]


@pytest.fixture
def make_member(db: Database, settings: Settings, clock: OffsetClock) -> MakeMember:
    secret_key = load_or_create_secret_key(settings.data_dir, settings.secret_key)
    deps = FactorDeps(settings, keyring_for(secret_key), Throttle(db), Mailer(db, settings))

    async def make(roles: tuple[str, ...] = ("support",)) -> Member:
        email = f"{new_id('stf').lower()}@staff.example.com"
        async with db.transaction() as conn:
            created = await create_member(
                conn,
                deps,
                AuditContext.system("test"),
                email=email,
                display_name="Sam Staff",
                roles=list(roles),
                password=PASSWORD,
                now=clock.now(),
            )
        assert created.totp is not None
        return Member(created.member.id, email, created.totp.provisioning.secret)

    return make
