"""Worked accounting examples, each small enough to check by hand.

Amounts are in minor units: 10_000 is $100.00. The bank's cash is an asset account (debit
normal); a customer's wallet is a liability of the bank (credit normal) that can't go below zero.
After every example the database's own checks run (deferred zero-sum trigger) and
`ledger.verify` recomputes every balance from the entries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from finhub.kit.clock import OffsetClock
from finhub.kit.db.engine import Connection
from finhub.ledger import errors
from finhub.ledger.models import AccountState, AccountType, Direction, EntrySpec, Phase
from finhub.ledger.repository import TransactionFilter
from finhub.ledger.service import LedgerService
from tests.ledger.factories import (
    ensure_asset,
    make_account,
    make_bank,
    make_wallet,
    transfer,
)


@pytest.fixture(autouse=True)
async def books_balance_afterwards(conn: Connection, ledger: LedgerService) -> AsyncIterator[None]:
    yield
    # The test's transaction is rolled back, so run the commit-time checks explicitly.
    await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    report = await ledger.verify(conn)
    assert report.ok, report


async def state_of(ledger: LedgerService, conn: Connection, account_id: str) -> AccountState:
    return (await ledger.get_account(conn, account_id)).state


async def balances(
    ledger: LedgerService, conn: Connection, account_id: str
) -> tuple[int, int, int]:
    """(posted, available, pending) on the account's normal side."""
    state = await state_of(ledger, conn, account_id)
    return state.posted_balance, state.available_balance, state.pending_balance


async def funded_wallet(
    ledger: LedgerService, conn: Connection, amount: int = 10_000
) -> tuple[str, str]:
    """(cash, wallet) after the customer paid `amount` in."""
    cash, wallet = await make_bank(ledger, conn), await make_wallet(ledger, conn)
    await transfer(ledger, conn, cash, wallet, amount)
    return cash, wallet


# --- funding --------------------------------------------------------------------------------


async def test_funding_a_wallet_raises_cash_and_what_the_bank_owes(
    conn: Connection, ledger: LedgerService
) -> None:
    cash = await make_bank(ledger, conn)
    wallet = await make_wallet(ledger, conn)
    deposit = await transfer(ledger, conn, cash, wallet, 10_000, description="Card top-up")

    # Dr Cash 100.00 / Cr Customer wallet 100.00
    assert [(e.account_id, e.direction, e.amount) for e in deposit.entries] == [
        (cash, Direction.DEBIT, 10_000),
        (wallet, Direction.CREDIT, 10_000),
    ]
    assert await balances(ledger, conn, cash) == (10_000, 10_000, 10_000)
    assert await balances(ledger, conn, wallet) == (10_000, 10_000, 10_000)
    # Assets = liabilities: both sides grew by the same 100.00.
    cash_state = await state_of(ledger, conn, cash)
    assert (cash_state.debits_posted, cash_state.credits_posted) == (10_000, 0)
    assert deposit.status == "posted"


async def test_a_wallet_can_not_spend_more_than_it_holds(
    conn: Connection, ledger: LedgerService
) -> None:
    _, wallet = await funded_wallet(ledger, conn, 10_000)
    shop = await make_account(ledger, conn, type=AccountType.REVENUE)
    with pytest.raises(errors.InsufficientFunds):
        await transfer(ledger, conn, wallet, shop, 10_001)
    await transfer(ledger, conn, wallet, shop, 10_000)
    assert await balances(ledger, conn, wallet) == (0, 0, 0)


# --- holds ----------------------------------------------------------------------------------


async def card_hold(
    ledger: LedgerService,
    conn: Connection,
    wallet: str,
    merchant: str,
    amount: int,
    *,
    clock: OffsetClock | None = None,
    expires_in: timedelta | None = None,
) -> str:
    expires_at = (clock.now() + expires_in) if clock and expires_in else None
    hold = await transfer(
        ledger, conn, wallet, merchant, amount, pending=True, expires_at=expires_at
    )
    assert hold.status == "pending"
    return hold.id


async def test_a_card_hold_posted_for_less_releases_the_rest(
    conn: Connection, ledger: LedgerService
) -> None:
    _, wallet = await funded_wallet(ledger, conn, 10_000)
    merchant = await make_account(ledger, conn)
    hold_id = await card_hold(ledger, conn, wallet, merchant, 4_000)

    # A 40.00 authorisation: nothing is spent yet, but only 60.00 can still leave.
    assert await balances(ledger, conn, wallet) == (10_000, 6_000, 6_000)

    capture = await ledger.post_pending(conn, hold_id, amount=3_500)

    # The merchant captured 35.00: 65.00 remains and the other 5.00 are free again.
    assert await balances(ledger, conn, wallet) == (6_500, 6_500, 6_500)
    assert await balances(ledger, conn, merchant) == (3_500, 3_500, 3_500)
    assert sorted((e.phase, e.direction, e.amount) for e in capture.entries) == [
        (Phase.POSTED, Direction.CREDIT, 3_500),
        (Phase.POSTED, Direction.DEBIT, 3_500),
        (Phase.RELEASE, Direction.CREDIT, 4_000),
        (Phase.RELEASE, Direction.DEBIT, 4_000),
    ]
    hold = await ledger.get_transaction(conn, hold_id)
    assert (hold.status, hold.resolved_by) == ("posted", capture.id)
    assert capture.pending_id == hold_id


async def test_posting_a_hold_twice_is_rejected(conn: Connection, ledger: LedgerService) -> None:
    _, wallet = await funded_wallet(ledger, conn)
    hold_id = await card_hold(ledger, conn, wallet, await make_account(ledger, conn), 1_000)
    await ledger.post_pending(conn, hold_id)
    with pytest.raises(errors.AlreadyResolved) as raised:
        await ledger.post_pending(conn, hold_id)
    assert raised.value.code == "transaction_already_resolved"
    with pytest.raises(errors.AlreadyResolved):
        await ledger.void_pending(conn, hold_id)
    assert await balances(ledger, conn, wallet) == (9_000, 9_000, 9_000)


async def test_a_voided_hold_gives_everything_back(conn: Connection, ledger: LedgerService) -> None:
    _, wallet = await funded_wallet(ledger, conn, 10_000)
    merchant = await make_account(ledger, conn)
    hold_id = await card_hold(ledger, conn, wallet, merchant, 2_500)
    void = await ledger.void_pending(conn, hold_id, description="Order cancelled")

    assert await balances(ledger, conn, wallet) == (10_000, 10_000, 10_000)
    assert await balances(ledger, conn, merchant) == (0, 0, 0)
    assert {e.phase for e in void.entries} == {Phase.RELEASE}
    assert (await ledger.get_transaction(conn, hold_id)).status == "voided"


async def test_a_hold_expires_and_its_funds_come_back(conn: Connection) -> None:
    clock = OffsetClock()  # this example's own time, so no other test sees it move
    ledger = LedgerService(clock)
    _, wallet = await funded_wallet(ledger, conn, 10_000)
    merchant = await make_account(ledger, conn)
    hold_id = await card_hold(
        ledger, conn, wallet, merchant, 3_000, clock=clock, expires_in=timedelta(hours=1)
    )
    await ledger.expire_due_holds(conn)  # too early: the hold stays
    assert (await ledger.get_transaction(conn, hold_id)).status == "pending"

    clock.advance(timedelta(hours=2))
    # Past its expiry the hold reads as expired even before the job has released it, and it
    # can no longer be captured.
    assert (await ledger.get_transaction(conn, hold_id)).status == "expired"
    with pytest.raises(errors.PendingExpired) as raised:
        await ledger.post_pending(conn, hold_id)
    assert raised.value.code == "pending_expired"
    assert await balances(ledger, conn, wallet) == (10_000, 7_000, 7_000)

    assert await ledger.expire_due_holds(conn) >= 1
    hold = await ledger.get_transaction(conn, hold_id)
    assert hold.status == "expired"
    assert hold.resolved_by is not None
    assert await balances(ledger, conn, wallet) == (10_000, 10_000, 10_000)
    with pytest.raises(errors.AlreadyResolved):
        await ledger.post_pending(conn, hold_id)


async def test_a_multi_entry_hold_is_posted_by_entries(
    conn: Connection, ledger: LedgerService
) -> None:
    """A 50.00 hold split between the merchant (48.00) and the card network's fee (2.00)."""
    _, wallet = await funded_wallet(ledger, conn, 10_000)
    merchant, fees = await make_account(ledger, conn), await make_account(ledger, conn)
    hold = await ledger.post_one(
        conn,
        ledger.transaction_spec(
            pending=True,
            entries=[
                EntrySpec(wallet, Direction.DEBIT, 5_000),
                EntrySpec(merchant, Direction.CREDIT, 4_800),
                EntrySpec(fees, Direction.CREDIT, 200),
            ],
        ),
    )
    with pytest.raises(errors.InvalidTransaction):
        await ledger.post_pending(conn, hold.id, amount=1_000)  # which leg? ambiguous
    await ledger.post_pending(
        conn,
        hold.id,
        entries=[
            EntrySpec(wallet, Direction.DEBIT, 4_000),
            EntrySpec(merchant, Direction.CREDIT, 3_800),
            EntrySpec(fees, Direction.CREDIT, 200),
        ],
    )
    assert await balances(ledger, conn, wallet) == (6_000, 6_000, 6_000)
    assert await balances(ledger, conn, merchant) == (3_800, 3_800, 3_800)
    assert await balances(ledger, conn, fees) == (200, 200, 200)


# --- reversals ------------------------------------------------------------------------------


async def test_reversing_a_payment_posts_its_mirror(
    conn: Connection, ledger: LedgerService
) -> None:
    _, wallet = await funded_wallet(ledger, conn, 10_000)
    shop = await make_account(ledger, conn, type=AccountType.REVENUE)
    payment = await transfer(ledger, conn, wallet, shop, 2_000)
    refund = await ledger.reverse(conn, payment.id, metadata={"reason": "duplicate"})

    assert [(e.account_id, e.direction, e.amount) for e in refund.entries] == [
        (wallet, Direction.CREDIT, 2_000),
        (shop, Direction.DEBIT, 2_000),
    ]
    assert refund.reverses_id == payment.id
    assert refund.description == f"Reversal of {payment.id}"
    assert (await ledger.get_transaction(conn, payment.id)).reversed_by == refund.id
    assert await balances(ledger, conn, wallet) == (10_000, 10_000, 10_000)
    assert await balances(ledger, conn, shop) == (0, 0, 0)

    with pytest.raises(errors.AlreadyReversed) as twice:
        await ledger.reverse(conn, payment.id)
    assert twice.value.code == "transaction_already_reversed"
    with pytest.raises(errors.NotReversible):
        await ledger.reverse(conn, refund.id)  # a reversal is not reversed; post anew


async def test_a_hold_can_not_be_reversed(conn: Connection, ledger: LedgerService) -> None:
    _, wallet = await funded_wallet(ledger, conn)
    hold_id = await card_hold(ledger, conn, wallet, await make_account(ledger, conn), 500)
    with pytest.raises(errors.NotReversible, match="void the hold instead") as raised:
        await ledger.reverse(conn, hold_id)
    assert raised.value.code == "transaction_not_reversible"


async def test_a_reversal_needs_the_funds_back(conn: Connection, ledger: LedgerService) -> None:
    """The customer already spent the deposit: undoing it would overdraw the wallet."""
    cash, wallet = await make_bank(ledger, conn), await make_wallet(ledger, conn)
    deposit = await transfer(ledger, conn, cash, wallet, 1_000)
    await transfer(ledger, conn, wallet, await make_account(ledger, conn), 600)
    with pytest.raises(errors.InsufficientFunds):
        await ledger.reverse(conn, deposit.id)
    assert (await ledger.get_transaction(conn, deposit.id)).reversed_by is None


# --- assets ---------------------------------------------------------------------------------


async def test_a_currency_exchange_balances_each_currency(
    conn: Connection, ledger: LedgerService
) -> None:
    """The customer sells 110.00 USD for 100.00 EUR; the bank's FX desk sits in between."""
    _, usd_wallet = await funded_wallet(ledger, conn, 20_000)
    eur_wallet = await make_wallet(ledger, conn, asset="EUR")
    desk_usd = await make_account(ledger, conn, type=AccountType.ASSET, name="FX desk USD")
    desk_eur = await make_account(
        ledger, conn, asset="EUR", type=AccountType.ASSET, name="FX desk EUR"
    )
    exchange = await ledger.post_one(
        conn,
        ledger.transaction_spec(
            entries=[
                EntrySpec(usd_wallet, Direction.DEBIT, 11_000, asset="USD"),
                EntrySpec(desk_usd, Direction.CREDIT, 11_000, asset="USD"),
                EntrySpec(desk_eur, Direction.DEBIT, 10_000, asset="EUR"),
                EntrySpec(eur_wallet, Direction.CREDIT, 10_000, asset="EUR"),
            ],
            metadata={"rate": "0.9091"},
        ),
    )
    assert {e.asset for e in exchange.entries} == {"USD", "EUR"}
    assert await balances(ledger, conn, usd_wallet) == (9_000, 9_000, 9_000)
    assert await balances(ledger, conn, eur_wallet) == (10_000, 10_000, 10_000)

    # Same numbers, but 10 000 EUR cents can't pay for 11 000 USD cents.
    with pytest.raises(errors.UnbalancedTransaction):
        await ledger.post_one(
            conn,
            ledger.transaction_spec(
                entries=[
                    EntrySpec(usd_wallet, Direction.DEBIT, 1_000),
                    EntrySpec(eur_wallet, Direction.CREDIT, 1_000),
                ]
            ),
        )
    with pytest.raises(errors.AssetMismatch):
        await transfer(ledger, conn, usd_wallet, desk_usd, 100, asset="EUR")


async def test_custom_assets_keep_every_unit(conn: Connection, ledger: LedgerService) -> None:
    btc = await ensure_asset(ledger, conn, "BTC", 8)
    eth = await ensure_asset(ledger, conn, "ETH", 18)
    one_and_a_half_btc = btc.to_minor(btc.to_decimal(150_000_000))
    twenty_five_eth = 25 * 10**18  # beyond 2^64: 64-bit integers would have wrapped
    assert twenty_five_eth > 2**64

    btc_vault, btc_wallet = (
        await make_bank(ledger, conn, asset="BTC"),
        await make_wallet(ledger, conn, asset="BTC"),
    )
    eth_vault, eth_wallet = (
        await make_bank(ledger, conn, asset="ETH"),
        await make_wallet(ledger, conn, asset="ETH"),
    )
    await transfer(ledger, conn, btc_vault, btc_wallet, one_and_a_half_btc)
    await transfer(ledger, conn, eth_vault, eth_wallet, twenty_five_eth)
    await transfer(ledger, conn, eth_wallet, eth_vault, 1)  # one wei back

    assert (await state_of(ledger, conn, btc_wallet)).posted_balance == 150_000_000
    assert btc.format(150_000_000) == "1.50000000 BTC"
    eth_balance = (await state_of(ledger, conn, eth_wallet)).posted_balance
    assert eth_balance == 24_999_999_999_999_999_999
    assert eth.format(eth_balance) == "24.999999999999999999 ETH"


# --- history --------------------------------------------------------------------------------


async def test_balance_as_of_a_past_moment(conn: Connection, ledger: LedgerService) -> None:
    cash, wallet = await make_bank(ledger, conn), await make_wallet(ledger, conn)
    before_anything = await database_now(conn)
    await transfer(ledger, conn, cash, wallet, 5_000)
    after_first = await database_now(conn)
    await transfer(ledger, conn, cash, wallet, 2_500)
    await transfer(ledger, conn, wallet, cash, 1_000, pending=True)

    then = await ledger.balance(conn, wallet, as_of=after_first)
    assert (then.account.posted_balance, then.account.entry_count) == (5_000, 1)
    assert then.as_of == after_first
    empty = await ledger.balance(conn, wallet, as_of=before_anything)
    assert (empty.account.posted_balance, empty.account.entry_count) == (0, 0)
    now = await ledger.balance(conn, wallet)
    assert (now.account.posted_balance, now.account.available_balance) == (7_500, 6_500)
    assert now.as_of is None


async def database_now(conn: Connection) -> datetime:
    """The database's clock (entries are stamped by it), not the transaction's start time."""
    cursor = await conn.execute("SELECT clock_timestamp() AS now")
    row = await cursor.fetchone()
    assert row is not None
    moment: datetime = row["now"]
    return moment


async def test_a_statement_pages_through_entries_with_the_balance_after_each(
    conn: Connection, ledger: LedgerService
) -> None:
    cash, wallet = await make_bank(ledger, conn), await make_wallet(ledger, conn)
    shop = await make_account(ledger, conn)
    await transfer(ledger, conn, cash, wallet, 1_000)  # +10.00 -> 10.00
    await transfer(ledger, conn, cash, wallet, 2_000)  # +20.00 -> 30.00
    await transfer(ledger, conn, wallet, shop, 500)  # -5.00  -> 25.00
    await transfer(ledger, conn, wallet, shop, 300, pending=True)  # hold 3.00

    _, first_page = await ledger.statement(conn, wallet, limit=3)
    assert [(e.account_seq, e.phase, e.amount) for e in first_page] == [
        (4, Phase.PENDING, 300),
        (3, Phase.POSTED, 500),
        (2, Phase.POSTED, 2_000),
    ]
    assert [posted_after(e.credits_posted_after, e.debits_posted_after) for e in first_page] == [
        2_500,
        2_500,
        3_000,
    ]
    assert first_page[0].debits_pending_after == 300
    last_id = first_page[-1].id
    assert last_id is not None
    _, second_page = await ledger.statement(conn, wallet, limit=3, starting_after=last_id)
    assert [(e.account_seq, e.amount, e.credits_posted_after) for e in second_page] == [
        (1, 1_000, 1_000)
    ]


def posted_after(credits: int, debits: int) -> int:
    """A wallet's (credit-normal) posted balance from its running totals."""
    return credits - debits


async def test_transactions_can_be_listed_by_account(
    conn: Connection, ledger: LedgerService
) -> None:
    cash, wallet = await make_bank(ledger, conn), await make_wallet(ledger, conn)
    first = await transfer(ledger, conn, cash, wallet, 100)
    second = await transfer(ledger, conn, cash, wallet, 200)
    listed = await ledger.list_transactions(conn, TransactionFilter(account_id=wallet), limit=10)
    assert [t.id for t in listed] == [second.id, first.id]  # newest first


# --- closing --------------------------------------------------------------------------------


async def test_only_an_empty_account_can_be_closed(conn: Connection, ledger: LedgerService) -> None:
    cash, wallet = await funded_wallet(ledger, conn, 1_000)
    with pytest.raises(errors.AccountNotEmpty) as raised:
        await ledger.close_account(conn, wallet)
    assert raised.value.code == "account_not_empty"

    hold_id = await card_hold(ledger, conn, wallet, cash, 1_000)
    await ledger.post_pending(conn, hold_id, amount=1_000)
    closed = await ledger.close_account(conn, wallet)
    assert closed.state.status == "closed"
    assert closed.closed_at is not None
    assert (await ledger.close_account(conn, wallet)).closed_at == closed.closed_at

    with pytest.raises(errors.AccountClosed):
        await transfer(ledger, conn, cash, wallet, 1)
    with pytest.raises(errors.AccountNotFound):
        await ledger.close_account(conn, "acct_00000000000000000000000000")


async def test_an_account_with_a_hold_can_not_be_closed(
    conn: Connection, ledger: LedgerService
) -> None:
    cash, wallet = await funded_wallet(ledger, conn, 1_000)
    await transfer(ledger, conn, wallet, cash, 1_000)  # balance 0 again
    await card_hold(ledger, conn, cash, wallet, 50)  # but money is on its way in
    with pytest.raises(errors.AccountNotEmpty):
        await ledger.close_account(conn, wallet)


# --- batches --------------------------------------------------------------------------------


async def test_an_atomic_batch_writes_nothing_when_one_item_fails(
    conn: Connection, ledger: LedgerService
) -> None:
    cash, wallet = await make_bank(ledger, conn), await make_wallet(ledger, conn)
    shop = await make_account(ledger, conn)
    specs = [
        ledger.transfer_spec(from_account=cash, to_account=wallet, amount=1_000, asset="USD"),
        ledger.transfer_spec(from_account=wallet, to_account=shop, amount=1_500, asset="USD"),
        ledger.transfer_spec(from_account=cash, to_account=shop, amount=10, asset="USD"),
    ]
    with pytest.raises(errors.InsufficientFunds) as raised:
        await ledger.post(conn, specs, atomic=True)
    assert raised.value.extra["index"] == 1
    for account in (cash, wallet, shop):
        assert await balances(ledger, conn, account) == (0, 0, 0)
        listed = await ledger.list_transactions(
            conn, TransactionFilter(account_id=account), limit=5
        )
        assert listed == []


async def test_an_independent_batch_answers_per_item(
    conn: Connection, ledger: LedgerService
) -> None:
    """Items see the items before them: the deposit pays for the first purchase only."""
    cash, wallet = await make_bank(ledger, conn), await make_wallet(ledger, conn)
    shop = await make_account(ledger, conn)
    specs = [
        ledger.transfer_spec(from_account=cash, to_account=wallet, amount=1_000, asset="USD"),
        ledger.transfer_spec(from_account=wallet, to_account=shop, amount=800, asset="USD"),
        ledger.transfer_spec(from_account=wallet, to_account=shop, amount=300, asset="USD"),
        ledger.transfer_spec(from_account=wallet, to_account=shop, amount=200, asset="USD"),
    ]
    outcomes = await ledger.post(conn, specs, atomic=False)
    assert [o.error.code if o.error else "created" for o in outcomes] == [
        "created",
        "created",
        "insufficient_funds",
        "created",
    ]
    assert [o.transaction.id if o.transaction else None for o in outcomes] == [
        specs[0].id,
        specs[1].id,
        None,
        specs[3].id,
    ]
    assert await balances(ledger, conn, wallet) == (0, 0, 0)
    assert await balances(ledger, conn, shop) == (1_000, 1_000, 1_000)
    wallet_state = await state_of(ledger, conn, wallet)
    assert wallet_state.entry_count == 3
