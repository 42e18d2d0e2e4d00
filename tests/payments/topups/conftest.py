"""Fixtures for the top-up tests: a fresh signed-in person per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from tests.payments.topups.support import Person, new_person


@pytest.fixture
async def person(app: Any, db: Database, clock: OffsetClock) -> AsyncIterator[Person]:
    someone = await new_person(app, db, clock)
    async with someone.client:
        yield someone


@pytest.fixture
async def ledger_is_clean(db: Database, clock: OffsetClock) -> AsyncIterator[None]:
    """Checks after the test that every balance and transaction in the ledger still adds up."""
    yield
    async with db.connection() as conn:
        report = await LedgerService(clock).verify(conn)
    assert report.ok, report
