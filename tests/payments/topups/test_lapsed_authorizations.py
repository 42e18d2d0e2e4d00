"""A card top-up left unfinished (3-D Secure abandoned) gives its held money back when the
authorisation lapses, and the payment says why."""

from __future__ import annotations

from datetime import timedelta

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.payments.topups.service import AUTHORIZATION_TTL, expire_stale_authorizations
from tests.payments.topups.support import THREE_D_SECURE, Person, card_token, eur_balance, top_up


async def test_an_abandoned_3ds_top_up_fails_and_releases_its_hold(
    person: Person, db: Database, clock: OffsetClock, ledger_is_clean: None
) -> None:
    created = (await top_up(person, await card_token(person, THREE_D_SECURE), 2_500)).json()
    assert created["status"] == "requires_action"
    ledger = LedgerService(clock)

    async with db.transaction() as conn:
        assert await expire_stale_authorizations(conn, ledger) == 0  # not lapsed yet
    clock.advance(AUTHORIZATION_TTL + timedelta(minutes=1))
    async with db.transaction() as conn:
        assert await expire_stale_authorizations(conn, ledger) >= 1

    shown = (await person.client.get(f"/v1/payments/card-topups/{created['id']}")).json()
    assert shown["status"] == "failed"
    assert shown["failure_code"] == "authorization_expired"
    async with db.connection() as conn:
        hold = await ledger.get_transaction(conn, created["hold_transaction_id"])
    assert hold.status == "expired"
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    async with db.connection() as conn:
        account = (await ledger.balance(conn, balance.ledger_account_id)).account
    assert account.credits_pending == 0  # nothing incoming any more
    assert balance.balance == 0
