"""Plain factory functions for ledger tests: keyword defaults, nothing hidden."""

from __future__ import annotations

from itertools import count
from typing import Any

from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.money import Asset
from finhub.ledger import errors
from finhub.ledger.models import (
    Account,
    AccountState,
    AccountType,
    Direction,
    EntrySpec,
    Phase,
    Transaction,
    TransactionKind,
    TransactionSpec,
)
from finhub.ledger.service import DEFAULT_LEDGER, LedgerService

_transaction_numbers = count(1)


def account_state(
    id: str = "acct_a",
    *,
    asset: str = "USD",
    ledger_id: str = DEFAULT_LEDGER,
    normal_side: Direction = Direction.CREDIT,
    status: str = "open",
    no_overdraft: bool = False,
    no_credit_over_debit: bool = False,
    overdraft_limit: int = 0,
    debits_posted: int = 0,
    credits_posted: int = 0,
    debits_pending: int = 0,
    credits_pending: int = 0,
    entry_count: int = 0,
) -> AccountState:
    """An in-memory account as `PostingBook` sees it after locking."""
    return AccountState(
        ledger_id=ledger_id,
        id=id,
        asset=asset,
        normal_side=normal_side,
        status=status,
        debits_must_not_exceed_credits=no_overdraft,
        credits_must_not_exceed_debits=no_credit_over_debit,
        overdraft_limit=overdraft_limit,
        debits_posted=debits_posted,
        credits_posted=credits_posted,
        debits_pending=debits_pending,
        credits_pending=credits_pending,
        entry_count=entry_count,
    )


def debit(account_id: str, amount: int, phase: Phase = Phase.POSTED) -> EntrySpec:
    return EntrySpec(account_id, Direction.DEBIT, amount, phase)


def credit(account_id: str, amount: int, phase: Phase = Phase.POSTED) -> EntrySpec:
    return EntrySpec(account_id, Direction.CREDIT, amount, phase)


def spec(
    *entries: EntrySpec,
    ledger_id: str = DEFAULT_LEDGER,
    kind: TransactionKind = TransactionKind.STANDARD,
) -> TransactionSpec:
    """A transaction spec with a readable, unique id (the pure tests never store it)."""
    return TransactionSpec(
        id=f"txn_test_{next(_transaction_numbers)}",
        ledger_id=ledger_id,
        kind=kind,
        entries=list(entries),
    )


async def make_account(
    ledger: LedgerService,
    conn: Connection,
    *,
    asset: str = "USD",
    type: AccountType = AccountType.LIABILITY,
    no_overdraft: bool = False,
    overdraft_limit: int = 0,
    **fields: Any,
) -> str:
    """Create an account through the service and return its id."""
    account: Account = await ledger.create_account(
        conn,
        asset=asset,
        type=type,
        debits_must_not_exceed_credits=no_overdraft,
        overdraft_limit=overdraft_limit,
        **fields,
    )
    return account.state.id


async def make_bank(ledger: LedgerService, conn: Connection, *, asset: str = "USD") -> str:
    """An unlimited asset account: the bank's cash, the source of every test's money."""
    return await make_account(ledger, conn, asset=asset, type=AccountType.ASSET, name="cash")


async def make_wallet(
    ledger: LedgerService, conn: Connection, *, asset: str = "USD", **fields: Any
) -> str:
    """A customer's wallet: a liability of the bank that can't go below zero."""
    return await make_account(ledger, conn, asset=asset, no_overdraft=True, **fields)


async def transfer(
    ledger: LedgerService,
    conn: Connection,
    from_account: str,
    to_account: str,
    amount: int,
    *,
    asset: str | None = None,
    **fields: Any,
) -> Transaction:
    """Post a two-entry transfer (debit `from_account`, credit `to_account`)."""
    transfer_spec = ledger.transfer_spec(
        from_account=from_account, to_account=to_account, amount=amount, asset=asset, **fields
    )
    return await ledger.post_one(conn, transfer_spec)


async def ensure_asset(ledger: LedgerService, conn: Connection, code: str, scale: int) -> Asset:
    """A custom asset, created unless an earlier test committed it already."""
    try:
        asset = await ledger.resolve_asset(conn, code)
    except errors.UnknownAsset:
        return await ledger.create_asset(conn, code, scale, f"{code} (test)")
    assert asset.scale == scale
    return asset


def unique_ref(prefix: str = "ref") -> str:
    """A value no other test uses, for owner/external references and filters."""
    return f"{prefix}_{new_id('idem').removeprefix('idem_').lower()}"
