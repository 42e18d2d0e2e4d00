"""The posting rules in memory (`PostingBook.apply`): no database, every rule on its own."""

from __future__ import annotations

import copy

import pytest

from finhub.kit.money import MAX_AMOUNT
from finhub.ledger import errors
from finhub.ledger.models import AccountState, Direction, EntrySpec, Phase
from finhub.ledger.posting import PostingBook
from tests.ledger.factories import account_state, credit, debit, spec


def book_of(*accounts: AccountState) -> PostingBook:
    return PostingBook({account.id: account for account in accounts})


def funded_wallet(
    *, balance: int = 100, overdraft_limit: int = 0, debits_pending: int = 0
) -> AccountState:
    """`acct_wallet`: a no-overdraft liability account holding `balance` (posted credits)."""
    return account_state(
        "acct_wallet",
        no_overdraft=True,
        overdraft_limit=overdraft_limit,
        credits_posted=balance,
        debits_pending=debits_pending,
        entry_count=1,
    )


# --- balance and shape --------------------------------------------------------------------------


def test_a_balanced_transfer_moves_both_accounts() -> None:
    book = book_of(account_state("acct_cash"), account_state("acct_wallet"))
    book.apply(spec(debit("acct_cash", 250), credit("acct_wallet", 250)))
    cash, wallet = book.accounts["acct_cash"], book.accounts["acct_wallet"]
    assert (cash.debits_posted, cash.credits_posted) == (250, 0)
    assert (wallet.debits_posted, wallet.credits_posted) == (0, 250)
    assert book.touched == {"acct_cash", "acct_wallet"}


def test_debits_and_credits_must_match() -> None:
    book = book_of(account_state("acct_a"), account_state("acct_b"))
    with pytest.raises(errors.UnbalancedTransaction) as raised:
        book.apply(spec(debit("acct_a", 100), credit("acct_b", 99)))
    assert raised.value.code == "unbalanced_transaction"
    assert raised.value.extra["unbalanced_assets"] == ["USD (posted)"]


def test_each_asset_balances_on_its_own() -> None:
    book = book_of(
        account_state("acct_usd_a"),
        account_state("acct_usd_b"),
        account_state("acct_eur_a", asset="EUR"),
        account_state("acct_eur_b", asset="EUR"),
    )
    # 100 USD of debits against 100 EUR of credits: equal numbers, different money.
    with pytest.raises(errors.UnbalancedTransaction) as raised:
        book.apply(spec(debit("acct_usd_a", 100), credit("acct_eur_a", 100)))
    assert raised.value.extra["unbalanced_assets"] == ["EUR (posted)", "USD (posted)"]
    book.apply(
        spec(
            debit("acct_usd_a", 110),
            credit("acct_usd_b", 110),
            debit("acct_eur_a", 100),
            credit("acct_eur_b", 100),
        )
    )
    assert book.accounts["acct_usd_b"].credits_posted == 110
    assert book.accounts["acct_eur_b"].credits_posted == 100


def test_each_phase_balances_on_its_own() -> None:
    book = book_of(account_state("acct_a"), account_state("acct_b"))
    with pytest.raises(errors.UnbalancedTransaction) as raised:
        book.apply(spec(debit("acct_a", 100), credit("acct_b", 100, Phase.PENDING)))
    assert raised.value.extra["unbalanced_assets"] == ["USD (pending)", "USD (posted)"]


def test_a_transaction_needs_two_entries() -> None:
    book = book_of(account_state("acct_a"))
    with pytest.raises(errors.InvalidTransaction, match="at least two entries"):
        book.apply(spec(debit("acct_a", 100)))
    with pytest.raises(errors.InvalidTransaction):
        book.apply(spec())


@pytest.mark.parametrize("amount", [0, -1])
def test_amounts_must_be_positive(amount: int) -> None:
    book = book_of(account_state("acct_a"), account_state("acct_b"))
    with pytest.raises(errors.InvalidTransaction, match="positive"):
        book.apply(spec(debit("acct_a", amount), credit("acct_b", amount)))


# --- accounts -----------------------------------------------------------------------------------


def test_an_unknown_account_is_rejected() -> None:
    book = book_of(account_state("acct_a"))
    with pytest.raises(errors.UnknownAccount) as raised:
        book.apply(spec(debit("acct_a", 5), credit("acct_missing", 5)))
    assert raised.value.code == "account_not_found"
    assert raised.value.extra["account"] == "acct_missing"


def test_an_account_of_another_ledger_is_unknown() -> None:
    book = book_of(account_state("acct_a"), account_state("acct_other", ledger_id="tenant2"))
    with pytest.raises(errors.UnknownAccount):
        book.apply(spec(debit("acct_a", 5), credit("acct_other", 5)))


def test_an_asset_assertion_must_match_the_account() -> None:
    book = book_of(account_state("acct_a"), account_state("acct_b"))
    wrong = EntrySpec("acct_a", Direction.DEBIT, 5, Phase.POSTED, asset="EUR")
    with pytest.raises(errors.AssetMismatch) as raised:
        book.apply(spec(wrong, credit("acct_b", 5)))
    assert raised.value.code == "asset_mismatch"
    assert raised.value.extra == {"account": "acct_a", "account_asset": "USD"}


def test_a_matching_asset_assertion_passes() -> None:
    book = book_of(account_state("acct_a"), account_state("acct_b"))
    asserted = EntrySpec("acct_a", Direction.DEBIT, 5, Phase.POSTED, asset="USD")
    book.apply(spec(asserted, credit("acct_b", 5)))
    assert book.accounts["acct_a"].debits_posted == 5


@pytest.mark.parametrize("phase", [Phase.POSTED, Phase.PENDING])
def test_a_closed_account_takes_no_new_entries(phase: Phase) -> None:
    book = book_of(account_state("acct_a"), account_state("acct_closed", status="closed"))
    with pytest.raises(errors.AccountClosed) as raised:
        book.apply(spec(debit("acct_a", 5, phase), credit("acct_closed", 5, phase)))
    assert raised.value.code == "account_closed"


def test_a_closed_account_can_still_release_a_hold() -> None:
    """A hold made before closing must stay releasable, or its funds would be stuck."""
    book = book_of(
        account_state("acct_a", credits_pending=5),
        account_state("acct_closed", status="closed", debits_pending=5),
    )
    book.apply(spec(debit("acct_closed", 5, Phase.RELEASE), credit("acct_a", 5, Phase.RELEASE)))
    assert book.accounts["acct_closed"].debits_pending == 0
    assert book.accounts["acct_a"].credits_pending == 0


def test_a_release_can_not_exceed_what_is_held() -> None:
    book = book_of(
        account_state("acct_a", debits_pending=5), account_state("acct_b", credits_pending=5)
    )
    with pytest.raises(errors.InvalidTransaction, match="Release exceeds"):
        book.apply(spec(debit("acct_a", 6, Phase.RELEASE), credit("acct_b", 6, Phase.RELEASE)))


# --- limits -------------------------------------------------------------------------------------


def test_no_overdraft_allows_spending_exactly_the_balance() -> None:
    book = book_of(funded_wallet(balance=100), account_state("acct_shop"))
    book.apply(spec(debit("acct_wallet", 100), credit("acct_shop", 100)))
    assert book.accounts["acct_wallet"].available_balance == 0


def test_no_overdraft_rejects_one_unit_more_than_the_balance() -> None:
    book = book_of(funded_wallet(balance=100), account_state("acct_shop"))
    with pytest.raises(errors.InsufficientFunds) as raised:
        book.apply(spec(debit("acct_wallet", 101), credit("acct_shop", 101)))
    assert raised.value.code == "insufficient_funds"
    assert raised.value.extra == {"account": "acct_wallet"}


def test_holds_count_against_the_available_balance() -> None:
    book = book_of(funded_wallet(balance=100, debits_pending=60), account_state("acct_shop"))
    with pytest.raises(errors.InsufficientFunds):
        book.apply(spec(debit("acct_wallet", 41), credit("acct_shop", 41)))
    book.apply(
        spec(debit("acct_wallet", 40, Phase.PENDING), credit("acct_shop", 40, Phase.PENDING))
    )
    assert book.accounts["acct_wallet"].available_balance == 0


def test_an_overdraft_limit_is_usable_to_the_unit() -> None:
    book = book_of(funded_wallet(balance=100, overdraft_limit=50), account_state("acct_shop"))
    book.apply(spec(debit("acct_wallet", 150), credit("acct_shop", 150)))
    assert book.accounts["acct_wallet"].posted_balance == -50


def test_an_overdraft_limit_rejects_one_unit_past_it() -> None:
    book = book_of(funded_wallet(balance=100, overdraft_limit=50), account_state("acct_shop"))
    with pytest.raises(errors.LimitExceeded) as raised:
        book.apply(spec(debit("acct_wallet", 151), credit("acct_shop", 151)))
    assert raised.value.code == "limit_exceeded"
    assert raised.value.extra == {"account": "acct_wallet", "overdraft_limit": "50"}


def test_credits_must_not_exceed_debits() -> None:
    """An asset account that can't go negative: e.g. cash that really is in the vault."""
    vault = account_state(
        "acct_vault", normal_side=Direction.DEBIT, no_credit_over_debit=True, debits_posted=70
    )
    book = book_of(vault, account_state("acct_out"))
    with pytest.raises(errors.InsufficientFunds):
        book.apply(spec(debit("acct_out", 71), credit("acct_vault", 71)))
    book.apply(spec(debit("acct_out", 70), credit("acct_vault", 70)))
    assert book.accounts["acct_vault"].posted_balance == 0


def test_limits_are_checked_after_the_whole_transaction() -> None:
    """Money coming in within the same transaction can pay for money going out."""
    book = book_of(funded_wallet(balance=0), account_state("acct_in"), account_state("acct_out"))
    book.apply(
        spec(
            debit("acct_wallet", 30),
            credit("acct_out", 30),
            debit("acct_in", 30),
            credit("acct_wallet", 30),
        )
    )
    assert book.accounts["acct_wallet"].posted_balance == 0


# --- 128-bit amounts ----------------------------------------------------------------------------


def test_the_largest_amount_is_accepted() -> None:
    book = book_of(account_state("acct_a"), account_state("acct_b"))
    book.apply(spec(debit("acct_a", MAX_AMOUNT), credit("acct_b", MAX_AMOUNT)))
    assert book.accounts["acct_b"].credits_posted == 2**128 - 1


def test_an_amount_over_128_bits_overflows() -> None:
    book = book_of(account_state("acct_a"), account_state("acct_b"))
    with pytest.raises(errors.AmountOverflow) as raised:
        book.apply(spec(debit("acct_a", MAX_AMOUNT + 1), credit("acct_b", MAX_AMOUNT + 1)))
    assert raised.value.code == "amount_overflow"


def test_totals_over_128_bits_overflow() -> None:
    book = book_of(account_state("acct_a"), account_state("acct_b", credits_posted=MAX_AMOUNT))
    with pytest.raises(errors.AmountOverflow):
        book.apply(spec(debit("acct_a", 1), credit("acct_b", 1)))


# --- atomicity and snapshots --------------------------------------------------------------------


def test_a_rejected_transaction_leaves_the_book_unchanged() -> None:
    book = book_of(funded_wallet(balance=10), account_state("acct_in"), account_state("acct_out"))
    book.apply(spec(debit("acct_in", 5), credit("acct_out", 5)))
    before_accounts, before_touched = copy.deepcopy(book.accounts), set(book.touched)
    # The first two legs are fine; the wallet leg at the end breaks its limit.
    with pytest.raises(errors.InsufficientFunds):
        book.apply(
            spec(
                debit("acct_in", 20),
                credit("acct_out", 20),
                debit("acct_wallet", 11),
                credit("acct_in", 11),
            )
        )
    assert book.accounts == before_accounts
    assert book.touched == before_touched


def test_a_failed_release_midway_leaves_the_book_unchanged() -> None:
    book = book_of(
        account_state("acct_a", debits_pending=5), account_state("acct_b", credits_pending=5)
    )
    before = copy.deepcopy(book.accounts)
    with pytest.raises(errors.InvalidTransaction):
        book.apply(
            spec(
                debit("acct_a", 5, Phase.RELEASE),
                credit("acct_b", 5, Phase.RELEASE),
                debit("acct_a", 1, Phase.RELEASE),
                credit("acct_b", 1, Phase.RELEASE),
            )
        )
    assert book.accounts == before
    assert book.touched == set()


def test_one_account_twice_in_a_transaction() -> None:
    book = book_of(account_state("acct_a", entry_count=3), account_state("acct_b"))
    entries = book.apply(
        spec(debit("acct_a", 40), credit("acct_b", 40), debit("acct_b", 15), credit("acct_a", 15))
    )
    a = book.accounts["acct_a"]
    assert (a.debits_posted, a.credits_posted, a.entry_count) == (40, 15, 5)
    assert [(e.account_id, e.account_seq) for e in entries] == [
        ("acct_a", 4),
        ("acct_b", 1),
        ("acct_b", 2),
        ("acct_a", 5),
    ]


def test_each_entry_snapshots_its_accounts_totals_after_it() -> None:
    book = book_of(
        account_state("acct_a", debits_posted=7, entry_count=2),
        account_state("acct_b", credits_posted=7, entry_count=2),
    )
    first = book.apply(spec(debit("acct_a", 10), credit("acct_b", 10)))
    second = book.apply(spec(debit("acct_a", 3, Phase.PENDING), credit("acct_b", 3, Phase.PENDING)))
    snapshots = [
        (
            e.account_id,
            e.account_seq,
            e.debits_posted_after,
            e.credits_posted_after,
            e.debits_pending_after,
            e.credits_pending_after,
        )
        for e in first + second
    ]
    assert snapshots == [
        ("acct_a", 3, 17, 0, 0, 0),
        ("acct_b", 3, 0, 17, 0, 0),
        ("acct_a", 4, 17, 0, 3, 0),
        ("acct_b", 4, 0, 17, 0, 3),
    ]
    assert {e.transaction_id for e in first} != {e.transaction_id for e in second}
    assert all(e.asset == "USD" for e in first + second)


def test_balances_by_normal_side() -> None:
    wallet = account_state(
        "acct_w", credits_posted=100, debits_posted=30, debits_pending=20, credits_pending=5
    )
    assert (wallet.posted_balance, wallet.available_balance, wallet.pending_balance) == (
        70,
        50,
        55,
    )
    cash = account_state(
        "acct_c", normal_side=Direction.DEBIT, debits_posted=100, credits_posted=30,
        credits_pending=20, debits_pending=5,
    )  # fmt: skip
    assert (cash.posted_balance, cash.available_balance, cash.pending_balance) == (70, 50, 55)
