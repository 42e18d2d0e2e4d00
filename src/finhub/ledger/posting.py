"""The posting rules, in memory and free of I/O.

A `PostingBook` holds the locked accounts of one database transaction. `apply` checks one
transaction spec against the running totals and either applies it completely (returning its
entries, each with the account's totals after it) or raises a `LedgerRuleError` and changes
nothing. Many specs applied in a row share the book, so a batch nets to one update per account.
"""

from __future__ import annotations

from collections import defaultdict

from finhub.kit.money import MAX_AMOUNT
from finhub.ledger import errors
from finhub.ledger.models import (
    AccountState,
    Direction,
    Entry,
    EntrySpec,
    Phase,
    TransactionSpec,
)


class PostingBook:
    def __init__(self, accounts: dict[str, AccountState]) -> None:
        self.accounts = accounts
        self.touched: set[str] = set()

    def apply(self, spec: TransactionSpec) -> list[Entry]:
        _check_shape(spec)
        legs = [(entry, self._account_for(spec, entry)) for entry in spec.entries]
        _check_balanced(legs)
        working: dict[str, AccountState] = {}
        written: list[Entry] = []
        for entry, account in legs:
            state = working.get(account.id) or account.clone()
            working[account.id] = state
            _apply_entry(state, entry)
            written.append(_snapshot(spec.id, state, entry))
        for state in working.values():
            _check_limits(state)
        self.accounts.update(working)
        self.touched.update(working)
        return written

    def _account_for(self, spec: TransactionSpec, entry: EntrySpec) -> AccountState:
        account = self.accounts.get(entry.account_id)
        if account is None or account.ledger_id != spec.ledger_id:
            raise errors.UnknownAccount(
                f"Account {entry.account_id} does not exist in ledger {spec.ledger_id}",
                account=entry.account_id,
            )
        if entry.asset is not None and entry.asset != account.asset:
            raise errors.AssetMismatch(
                f"Account {account.id} holds {account.asset}, not {entry.asset}",
                account=account.id,
                account_asset=account.asset,
            )
        if account.status == "closed" and entry.phase is not Phase.RELEASE:
            raise errors.AccountClosed(f"Account {account.id} is closed", account=account.id)
        return account


def _check_shape(spec: TransactionSpec) -> None:
    if len(spec.entries) < 2:
        raise errors.InvalidTransaction("A transaction needs at least two entries")
    for entry in spec.entries:
        if entry.amount <= 0:
            raise errors.InvalidTransaction("Entry amounts must be positive")
        if entry.amount > MAX_AMOUNT:
            raise errors.AmountOverflow("An entry amount exceeds 2^128 - 1")


def _check_balanced(legs: list[tuple[EntrySpec, AccountState]]) -> None:
    net: dict[tuple[str, Phase], int] = defaultdict(int)
    for entry, account in legs:
        signed = entry.amount if entry.direction is Direction.DEBIT else -entry.amount
        net[(account.asset, entry.phase)] += signed
    unbalanced = sorted(f"{asset} ({phase})" for (asset, phase), value in net.items() if value)
    if unbalanced:
        raise errors.UnbalancedTransaction(
            "Debits and credits differ for " + ", ".join(unbalanced),
            unbalanced_assets=unbalanced,
        )


def _apply_entry(state: AccountState, entry: EntrySpec) -> None:
    amount = entry.amount
    debit = entry.direction is Direction.DEBIT
    if entry.phase is Phase.POSTED:
        if debit:
            state.debits_posted += amount
        else:
            state.credits_posted += amount
    elif entry.phase is Phase.PENDING:
        if debit:
            state.debits_pending += amount
        else:
            state.credits_pending += amount
    else:  # RELEASE gives back a reservation made by a pending entry
        if debit:
            state.debits_pending -= amount
        else:
            state.credits_pending -= amount
        if state.debits_pending < 0 or state.credits_pending < 0:
            raise errors.InvalidTransaction(f"Release exceeds the pending amount on {state.id}")
    state.entry_count += 1


def _snapshot(transaction_id: str, state: AccountState, entry: EntrySpec) -> Entry:
    return Entry(
        transaction_id=transaction_id,
        account_id=state.id,
        asset=state.asset,
        direction=entry.direction,
        phase=entry.phase,
        amount=entry.amount,
        account_seq=state.entry_count,
        debits_posted_after=state.debits_posted,
        credits_posted_after=state.credits_posted,
        debits_pending_after=state.debits_pending,
        credits_pending_after=state.credits_pending,
    )


def _check_limits(state: AccountState) -> None:
    if (
        max(state.debits_posted, state.credits_posted) > MAX_AMOUNT
        or max(state.debits_pending, state.credits_pending) > MAX_AMOUNT
    ):
        raise errors.AmountOverflow(f"Totals of account {state.id} would exceed 2^128 - 1")
    if state.debits_must_not_exceed_credits:
        headroom = (
            state.credits_posted
            + state.overdraft_limit
            - (state.debits_posted + state.debits_pending)
        )
        if headroom < 0:
            _raise_limit(state)
    if state.credits_must_not_exceed_debits:
        headroom = (
            state.debits_posted
            + state.overdraft_limit
            - (state.credits_posted + state.credits_pending)
        )
        if headroom < 0:
            _raise_limit(state)


def _raise_limit(state: AccountState) -> None:
    if state.overdraft_limit:
        raise errors.LimitExceeded(
            f"Account {state.id} would exceed its overdraft limit of {state.overdraft_limit}",
            account=state.id,
            overdraft_limit=str(state.overdraft_limit),
        )
    raise errors.InsufficientFunds(
        f"Account {state.id} does not have enough available funds", account=state.id
    )
