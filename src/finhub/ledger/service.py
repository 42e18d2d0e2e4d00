"""The ledger's rules: accounts, postings, holds, reversals, balances and verification.

Every method takes the caller's connection and never commits: the request or task that owns the
transaction decides. Postings lock their accounts in id order, apply the rules in memory
(`PostingBook`) and write each table once per call, so a batch of a thousand transfers costs a
handful of statements and one row update per account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import DatabaseError

from finhub.errors import FinhubError
from finhub.kit.clock import Clock
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.logging import get_logger
from finhub.kit.money import MAX_SCALE, Asset, iso_currency
from finhub.ledger import errors
from finhub.ledger import repository as repo
from finhub.ledger.models import (
    Account,
    AccountState,
    AccountType,
    Direction,
    Entry,
    EntrySpec,
    Phase,
    Transaction,
    TransactionKind,
    TransactionSpec,
)
from finhub.ledger.posting import PostingBook

DEFAULT_LEDGER = "main"
log = get_logger(__name__)


@dataclass(slots=True)
class PostOutcome:
    """The result of one spec in a batch: a transaction, or the rule it broke."""

    spec: TransactionSpec
    transaction: Transaction | None = None
    error: FinhubError | None = None


@dataclass(slots=True)
class VerifyReport:
    transactions_checked: int = 0
    accounts_checked: int = 0
    unbalanced: list[dict[str, Any]] = field(default_factory=list)
    mismatched: list[dict[str, Any]] = field(default_factory=list)
    bad_snapshots: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unbalanced or self.mismatched or self.bad_snapshots)


@dataclass(frozen=True, slots=True)
class Balance:
    account: AccountState
    as_of: datetime | None


class LedgerService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    # --- assets -------------------------------------------------------------------------------

    async def create_asset(self, conn: Connection, code: str, scale: int, name: str) -> Asset:
        if iso_currency(code) is not None:
            raise errors.AssetExists(f"{code} is an ISO 4217 currency and exists already")
        if not 0 <= scale <= MAX_SCALE:
            raise FinhubError(
                f"scale must be between 0 and {MAX_SCALE}", code="invalid_scale", status=422
            )
        asset = Asset(code, scale, name, kind="custom")
        await repo.insert_asset(conn, asset)
        return asset

    async def resolve_asset(self, conn: Connection, code: str) -> Asset:
        """An ISO currency (recorded on first use) or a custom asset created earlier."""
        currency = iso_currency(code)
        if currency is not None:
            await repo.insert_asset(conn, currency, if_absent=True)
            return currency
        asset = await repo.get_asset(conn, code)
        if asset is None:
            raise errors.UnknownAsset(f"{code} is neither an ISO 4217 currency nor a custom asset")
        return asset

    async def list_assets(self, conn: Connection) -> list[Asset]:
        return await repo.list_assets(conn)

    # --- accounts -----------------------------------------------------------------------------

    async def create_account(self, conn: Connection, **spec: Any) -> Account:
        """Open an account: `asset`, `type`, and optionally `ledger_id`, `normal_side`, `name`,
        `external_ref`, `owner_ref`, `metadata`, `debits_must_not_exceed_credits`,
        `credits_must_not_exceed_debits`, `overdraft_limit`."""
        new = await self._new_account(conn, **spec)
        return await repo.insert_account(conn, new)

    async def ensure_account(self, conn: Connection, *, external_ref: str, **spec: Any) -> Account:
        """The account with `external_ref` in its ledger, opened with `spec` if there is none
        yet (how modules keep their chart of accounts: one call, safe under concurrency)."""
        new = await self._new_account(conn, external_ref=external_ref, **spec)
        return await repo.insert_account_once(conn, new)

    async def _new_account(
        self,
        conn: Connection,
        *,
        asset: str,
        type: AccountType,
        ledger_id: str = DEFAULT_LEDGER,
        normal_side: Direction | None = None,
        name: str | None = None,
        external_ref: str | None = None,
        owner_ref: str | None = None,
        metadata: dict[str, Any] | None = None,
        debits_must_not_exceed_credits: bool = False,
        credits_must_not_exceed_debits: bool = False,
        overdraft_limit: int = 0,
    ) -> repo.NewAccount:
        if debits_must_not_exceed_credits and credits_must_not_exceed_debits:
            raise FinhubError(
                "An account can't forbid both debits over credits and credits over debits",
                code="invalid_limits",
                status=422,
            )
        if overdraft_limit and not (
            debits_must_not_exceed_credits or credits_must_not_exceed_debits
        ):
            raise FinhubError(
                "overdraft_limit only applies to an account with a balance limit",
                code="invalid_limits",
                status=422,
            )
        await self.resolve_asset(conn, asset)
        return repo.NewAccount(
            ledger_id=ledger_id,
            id=new_id("acct"),
            asset=asset,
            type=type,
            normal_side=normal_side or type.normal_side,
            name=name,
            external_ref=external_ref,
            owner_ref=owner_ref,
            metadata=metadata or {},
            debits_must_not_exceed_credits=debits_must_not_exceed_credits,
            credits_must_not_exceed_debits=credits_must_not_exceed_debits,
            overdraft_limit=overdraft_limit,
        )

    async def get_account(self, conn: Connection, account_id: str) -> Account:
        account = await repo.get_account(conn, account_id)
        if account is None:
            raise errors.AccountNotFound(f"No account {account_id}")
        return account

    async def list_accounts(
        self,
        conn: Connection,
        where: repo.AccountFilter,
        *,
        limit: int,
        starting_after: str | None = None,
    ) -> list[Account]:
        return await repo.list_accounts(conn, where, limit=limit, starting_after=starting_after)

    async def close_account(self, conn: Connection, account_id: str) -> Account:
        account = await repo.get_account(conn, account_id, for_update=True)
        if account is None:
            raise errors.AccountNotFound(f"No account {account_id}")
        state = account.state
        if state.status == "closed":
            return account
        if state.posted_balance or state.debits_pending or state.credits_pending:
            raise errors.AccountNotEmpty(
                f"Account {account_id} still has a balance or holds; move them out first"
            )
        await repo.close_account(conn, state.ledger_id, account_id)
        return await self.get_account(conn, account_id)

    # --- posting ------------------------------------------------------------------------------

    async def post(
        self, conn: Connection, specs: Sequence[TransactionSpec], *, atomic: bool = True
    ) -> list[PostOutcome]:
        """Post many transactions in the caller's database transaction.

        Atomic: the first broken rule raises and nothing is written. Independent: each spec
        gets its own outcome and the valid ones are written.
        """
        account_ids = {entry.account_id for spec in specs for entry in spec.entries}
        book = PostingBook(await repo.lock_account_states(conn, account_ids))
        outcomes: list[PostOutcome] = []
        accepted: list[tuple[TransactionSpec, list[Entry]]] = []
        for index, spec in enumerate(specs):
            try:
                entries = book.apply(spec)
            except errors.LedgerRuleError as error:
                if atomic:
                    if len(specs) > 1:
                        error.extra["index"] = index
                    raise
                outcomes.append(PostOutcome(spec, error=error))
                continue
            accepted.append((spec, entries))
            outcomes.append(PostOutcome(spec))
        final_states = [book.accounts[account_id] for account_id in sorted(book.touched)]
        async with conn.pipeline():
            written = await repo.write_postings(conn, accepted, final_states)
        entries_of = {spec.id: entries for spec, entries in accepted}
        for outcome in outcomes:
            if outcome.error is None:
                info = written[outcome.spec.id]
                outcome.transaction = _as_transaction(
                    outcome.spec, entries_of[outcome.spec.id], info
                )
        return outcomes

    async def post_one(self, conn: Connection, spec: TransactionSpec) -> Transaction:
        [outcome] = await self.post(conn, [spec])
        assert outcome.transaction is not None
        return outcome.transaction

    def transfer_spec(
        self,
        *,
        from_account: str,
        to_account: str,
        amount: int,
        asset: str | None,
        ledger_id: str = DEFAULT_LEDGER,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        pending: bool = False,
        expires_at: datetime | None = None,
        effective_at: datetime | None = None,
    ) -> TransactionSpec:
        """The two-entry shorthand: debit `from_account`, credit `to_account`."""
        if from_account == to_account:
            raise errors.InvalidTransaction("from_account and to_account must differ")
        phase = Phase.PENDING if pending else Phase.POSTED
        return self.transaction_spec(
            ledger_id=ledger_id,
            entries=[
                EntrySpec(from_account, Direction.DEBIT, amount, phase, asset),
                EntrySpec(to_account, Direction.CREDIT, amount, phase, asset),
            ],
            description=description,
            metadata=metadata,
            pending=pending,
            expires_at=expires_at,
            effective_at=effective_at,
        )

    def transaction_spec(
        self,
        *,
        entries: list[EntrySpec],
        ledger_id: str = DEFAULT_LEDGER,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        pending: bool = False,
        expires_at: datetime | None = None,
        effective_at: datetime | None = None,
    ) -> TransactionSpec:
        if expires_at is not None and not pending:
            raise errors.InvalidTransaction("expires_at only applies to a pending transaction")
        if expires_at is not None and expires_at <= self.clock.now():
            raise errors.InvalidTransaction("expires_at must be in the future")
        phase = Phase.PENDING if pending else Phase.POSTED
        return TransactionSpec(
            id=new_id("txn"),
            ledger_id=ledger_id,
            kind=TransactionKind.PENDING if pending else TransactionKind.STANDARD,
            entries=[
                EntrySpec(e.account_id, e.direction, e.amount, phase, e.asset) for e in entries
            ],
            description=description,
            metadata=metadata or {},
            effective_at=effective_at,
            expires_at=expires_at,
        )

    # --- holds and reversals ------------------------------------------------------------------

    async def post_pending(
        self,
        conn: Connection,
        pending_id: str,
        *,
        amount: int | None = None,
        entries: list[EntrySpec] | None = None,
        description: str | None = None,
    ) -> Transaction:
        """Post a hold fully, or partly with `amount` (two-entry holds) or explicit `entries`."""
        pending = await self._open_hold(conn, pending_id)
        if pending.expires_at is not None and pending.expires_at <= self.clock.now():
            raise errors.PendingExpired(f"Transaction {pending_id} expired at {pending.expires_at}")
        posted = _posted_part(pending, amount, entries)
        spec = self._resolution(pending, TransactionKind.POST_PENDING, description, posted)
        return await self.post_one(conn, spec)

    async def void_pending(
        self, conn: Connection, pending_id: str, *, description: str | None = None
    ) -> Transaction:
        pending = await self._open_hold(conn, pending_id)
        spec = self._resolution(pending, TransactionKind.VOID_PENDING, description, [])
        return await self.post_one(conn, spec)

    async def expire_pending(self, conn: Connection, pending_id: str) -> Transaction | None:
        """Release a hold past its expiry; None if it was resolved meanwhile."""
        try:
            pending = await self._open_hold(conn, pending_id)
        except (errors.AlreadyResolved, errors.TransactionNotFound):
            return None
        if pending.expires_at is None or pending.expires_at > self.clock.now():
            return None
        spec = self._resolution(pending, TransactionKind.EXPIRE_PENDING, "Hold expired", [])
        return await self.post_one(conn, spec)

    async def reverse(
        self,
        conn: Connection,
        transaction_id: str,
        *,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Transaction:
        """Post the mirror of a posted transaction: every posted entry with its side swapped."""
        original = await repo.get_transaction(conn, transaction_id, self.clock.now(), lock=True)
        if original is None:
            raise errors.TransactionNotFound(f"No transaction {transaction_id}")
        if original.kind not in (TransactionKind.STANDARD, TransactionKind.POST_PENDING):
            raise errors.NotReversible(
                f"A {original.kind} transaction can't be reversed"
                + ("; void the hold instead" if original.kind is TransactionKind.PENDING else "")
            )
        if original.reversed_by:
            raise errors.AlreadyReversed(
                f"Transaction {transaction_id} was reversed by {original.reversed_by}"
            )
        mirror = [
            EntrySpec(e.account_id, e.direction.opposite, e.amount, Phase.POSTED)
            for e in original.entries
            if e.phase is Phase.POSTED
        ]
        spec = TransactionSpec(
            id=new_id("txn"),
            ledger_id=original.ledger_id,
            kind=TransactionKind.REVERSAL,
            entries=mirror,
            description=description or f"Reversal of {transaction_id}",
            metadata=metadata or {},
            reverses_id=transaction_id,
        )
        return await self.post_one(conn, spec)

    async def _open_hold(self, conn: Connection, pending_id: str) -> Transaction:
        pending = await repo.get_transaction(conn, pending_id, self.clock.now(), lock=True)
        if pending is None:
            raise errors.TransactionNotFound(f"No transaction {pending_id}")
        if pending.kind is not TransactionKind.PENDING:
            raise errors.NotPending(f"Transaction {pending_id} is not a pending transaction")
        if pending.resolved_by:
            raise errors.AlreadyResolved(
                f"Transaction {pending_id} is already {pending.status} by {pending.resolved_by}"
            )
        return pending

    def _resolution(
        self,
        pending: Transaction,
        kind: TransactionKind,
        description: str | None,
        posted: list[EntrySpec],
    ) -> TransactionSpec:
        releases = [
            EntrySpec(e.account_id, e.direction, e.amount, Phase.RELEASE) for e in pending.entries
        ]
        return TransactionSpec(
            id=new_id("txn"),
            ledger_id=pending.ledger_id,
            kind=kind,
            entries=releases + posted,
            description=description,
            pending_id=pending.id,
        )

    async def expire_due_holds(self, conn: Connection, *, limit: int = 500) -> int:
        """Release every hold whose expiry has passed (run by the worker).

        Each hold is released under its own savepoint, so one that can't be released (and is
        logged) never keeps the others locked up.
        """
        expired = 0
        for pending_id in await repo.expired_holds(conn, self.clock.now(), limit):
            try:
                async with conn.transaction():
                    if await self.expire_pending(conn, pending_id) is not None:
                        expired += 1
            except (FinhubError, DatabaseError):
                log.exception("hold could not be released", transaction=pending_id)
        return expired

    # --- reading ------------------------------------------------------------------------------

    async def find_transaction(self, conn: Connection, transaction_id: str) -> Transaction | None:
        return await repo.get_transaction(conn, transaction_id, self.clock.now())

    async def get_transaction(self, conn: Connection, transaction_id: str) -> Transaction:
        transaction = await self.find_transaction(conn, transaction_id)
        if transaction is None:
            raise errors.TransactionNotFound(f"No transaction {transaction_id}")
        return transaction

    async def list_transactions(
        self,
        conn: Connection,
        where: repo.TransactionFilter,
        *,
        limit: int,
        starting_after: str | None = None,
    ) -> list[Transaction]:
        return await repo.list_transactions(
            conn, where, self.clock.now(), limit=limit, starting_after=starting_after
        )

    async def balance(
        self, conn: Connection, account_id: str, as_of: datetime | None = None
    ) -> Balance:
        account = await self.get_account(conn, account_id)
        if as_of is None:
            return Balance(account.state, None)
        state = account.state
        last = await repo.last_entry_before(conn, state.ledger_id, account_id, as_of)
        return Balance(state.after(last), as_of)

    async def statement(
        self,
        conn: Connection,
        account_id: str,
        *,
        limit: int,
        starting_after: int | None = None,
    ) -> tuple[Account, list[Entry]]:
        """The account's entries, newest first; `starting_after` is an entry id."""
        account = await self.get_account(conn, account_id)
        before_seq = None
        if starting_after is not None:
            before_seq = await repo.entry_seq(
                conn, account.state.ledger_id, account_id, starting_after
            )
            if before_seq is None:
                raise FinhubError(
                    "starting_after is not an entry of this account",
                    code="invalid_cursor",
                    status=422,
                )
        entries = await repo.account_entries(
            conn, account.state.ledger_id, account_id, limit=limit, before_seq=before_seq
        )
        return account, entries

    async def verify(self, conn: Connection) -> VerifyReport:
        """Recompute every balance from the entries and check every transaction balances."""
        report = VerifyReport()
        cursor = await conn.execute(
            "SELECT (SELECT count(*) FROM ledger_transactions) AS t,"
            " (SELECT count(*) FROM ledger_accounts) AS a"
        )
        counts = await cursor.fetchone()
        assert counts is not None
        report.transactions_checked = counts["t"]
        report.accounts_checked = counts["a"]
        report.unbalanced = await repo.unbalanced_transactions(conn)
        report.mismatched = await repo.mismatched_accounts(conn)
        report.bad_snapshots = await repo.bad_snapshots(conn)
        return report


def _posted_part(
    pending: Transaction, amount: int | None, entries: list[EntrySpec] | None
) -> list[EntrySpec]:
    held = [e for e in pending.entries if e.phase is Phase.PENDING]
    if amount is not None and entries is not None:
        raise errors.InvalidTransaction("Give either amount or entries, not both")
    if entries is None and amount is None:
        return [EntrySpec(e.account_id, e.direction, e.amount, Phase.POSTED) for e in held]
    if amount is not None:
        if len(held) != 2:
            raise errors.InvalidTransaction(
                "amount applies to two-entry holds; give entries for this one"
            )
        if not 0 < amount <= held[0].amount:
            raise errors.InvalidTransaction(
                f"amount must be between 1 and the held {held[0].amount}"
            )
        return [EntrySpec(e.account_id, e.direction, amount, Phase.POSTED) for e in held]
    assert entries is not None
    remaining = {(e.account_id, e.direction): e.amount for e in held}
    posted: list[EntrySpec] = []
    for entry in entries:
        key = (entry.account_id, entry.direction)
        if key not in remaining:
            raise errors.InvalidTransaction(
                f"{entry.direction} on {entry.account_id} is not part of the hold"
            )
        if entry.amount > remaining[key]:
            raise errors.InvalidTransaction(f"Posting more than held on {entry.account_id}")
        remaining[key] -= entry.amount
        posted.append(EntrySpec(entry.account_id, entry.direction, entry.amount, Phase.POSTED))
    return posted


def _as_transaction(
    spec: TransactionSpec, entries: list[Entry], written: repo.WrittenTransaction
) -> Transaction:
    return Transaction(
        id=spec.id,
        ledger_id=spec.ledger_id,
        kind=spec.kind,
        status="pending" if spec.kind is TransactionKind.PENDING else "posted",
        entries=entries,
        description=spec.description,
        metadata=spec.metadata,
        effective_at=written.effective_at,
        created_at=written.created_at,
        expires_at=spec.expires_at,
        pending_id=spec.pending_id,
        reverses_id=spec.reverses_id,
    )
