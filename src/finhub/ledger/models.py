"""The ledger's records as plain dataclasses (rows in, domain objects out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"

    @property
    def normal_side(self) -> Direction:
        debit_normal = {AccountType.ASSET, AccountType.EXPENSE}
        return Direction.DEBIT if self in debit_normal else Direction.CREDIT


class Direction(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"

    @property
    def opposite(self) -> Direction:
        return Direction.CREDIT if self is Direction.DEBIT else Direction.DEBIT


class Phase(StrEnum):
    POSTED = "posted"  # moves the posted totals
    PENDING = "pending"  # reserves: moves the pending totals
    RELEASE = "release"  # gives a reservation back: undoes a pending entry


class TransactionKind(StrEnum):
    STANDARD = "standard"
    PENDING = "pending"
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"
    EXPIRE_PENDING = "expire_pending"
    REVERSAL = "reversal"


RESOLUTION_STATUS = {
    TransactionKind.POST_PENDING: "posted",
    TransactionKind.VOID_PENDING: "voided",
    TransactionKind.EXPIRE_PENDING: "expired",
}


@dataclass(slots=True)
class AccountState:
    """An account's limits and running totals, as locked for posting."""

    ledger_id: str
    id: str
    asset: str
    normal_side: Direction
    status: str
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    overdraft_limit: int
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    entry_count: int

    def clone(self) -> AccountState:
        """A working copy for a posting attempt (faster than `copy.copy` on a hot path)."""
        return self._with_totals(
            self.debits_posted,
            self.credits_posted,
            self.debits_pending,
            self.credits_pending,
            self.entry_count,
        )

    def after(self, entry: Entry | None) -> AccountState:
        """The account as it stood right after `entry` (None: before its first entry).

        Used once per line of every statement page, where `dataclasses.replace` cost several
        times as much.
        """
        if entry is None:
            return self._with_totals(0, 0, 0, 0, 0)
        return self._with_totals(
            entry.debits_posted_after,
            entry.credits_posted_after,
            entry.debits_pending_after,
            entry.credits_pending_after,
            entry.account_seq,
        )

    def _with_totals(
        self,
        debits_posted: int,
        credits_posted: int,
        debits_pending: int,
        credits_pending: int,
        entry_count: int,
    ) -> AccountState:
        return AccountState(
            self.ledger_id,
            self.id,
            self.asset,
            self.normal_side,
            self.status,
            self.debits_must_not_exceed_credits,
            self.credits_must_not_exceed_debits,
            self.overdraft_limit,
            debits_posted,
            credits_posted,
            debits_pending,
            credits_pending,
            entry_count,
        )

    @property
    def posted_balance(self) -> int:
        """Posted balance on the account's normal side (positive is the usual sign)."""
        net = self.debits_posted - self.credits_posted
        return net if self.normal_side is Direction.DEBIT else -net

    @property
    def available_balance(self) -> int:
        """What can still leave the account: posted less outgoing holds."""
        if self.normal_side is Direction.DEBIT:
            return self.debits_posted - self.credits_posted - self.credits_pending
        return self.credits_posted - self.debits_posted - self.debits_pending

    @property
    def pending_balance(self) -> int:
        """Posted balance with every hold applied as if it were posted."""
        net = (self.debits_posted + self.debits_pending) - (
            self.credits_posted + self.credits_pending
        )
        return net if self.normal_side is Direction.DEBIT else -net


@dataclass(slots=True)
class Account:
    state: AccountState
    type: AccountType
    name: str | None
    external_ref: str | None
    owner_ref: str | None
    metadata: dict[str, Any]
    version: int
    created_at: datetime
    closed_at: datetime | None


# Entries are plain (not frozen) slotted dataclasses: a batch creates thousands of them, and
# frozen dataclasses pay for object.__setattr__ on every field. Nothing mutates them.
@dataclass(slots=True)
class EntrySpec:
    """One requested leg of a transaction."""

    account_id: str
    direction: Direction
    amount: int
    phase: Phase = Phase.POSTED
    asset: str | None = None  # optional assertion of the account's asset


@dataclass(slots=True)
class TransactionSpec:
    """A transaction to post: already resolved into concrete entries."""

    id: str
    ledger_id: str
    kind: TransactionKind
    entries: list[EntrySpec]
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    effective_at: datetime | None = None
    expires_at: datetime | None = None
    pending_id: str | None = None
    reverses_id: str | None = None


@dataclass(slots=True)
class Entry:
    """A written entry, with the account's totals right after it."""

    transaction_id: str
    account_id: str
    asset: str
    direction: Direction
    phase: Phase
    amount: int
    account_seq: int
    debits_posted_after: int
    credits_posted_after: int
    debits_pending_after: int
    credits_pending_after: int
    posted_at: datetime | None = None
    id: int | None = None


@dataclass(slots=True)
class Transaction:
    id: str
    ledger_id: str
    kind: TransactionKind
    status: str
    entries: list[Entry]
    description: str | None
    metadata: dict[str, Any]
    effective_at: datetime
    created_at: datetime
    expires_at: datetime | None = None
    pending_id: str | None = None
    reverses_id: str | None = None
    resolved_by: str | None = None
    reversed_by: str | None = None
