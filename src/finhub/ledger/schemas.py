"""The ledger API's request and response shapes.

Responses are built as plain dicts by the `*_out` functions (the hot paths skip model
validation); the Pydantic models document them in OpenAPI and the tests check the dicts
against the models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from finhub.kit.money import MAX_AMOUNT, MAX_SCALE
from finhub.ledger.models import (
    Account,
    AccountState,
    AccountType,
    Direction,
    Entry,
    Transaction,
    TransactionKind,
)
from finhub.ledger.service import Balance, PostOutcome


def _reject_nul(value: Any) -> Any:
    """PostgreSQL text and jsonb can't hold U+0000; refuse it up front as a validation error."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain the NUL character")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    elif isinstance(value, list):
        for item in value:
            _reject_nul(item)
    return value


def _integer_only(value: Any) -> Any:
    """Amounts are whole minor units: a JSON float (even 10.0) is refused, digit strings are ok."""
    if isinstance(value, (float, bool)):  # JSON true would otherwise count as 1
        raise ValueError("amounts are integers in the asset's minor unit, not decimals")
    return value


Amount = Annotated[
    int,
    # Field first, so OpenAPI shows the bounds as exclusiveMinimum/maximum.
    Field(
        gt=0,
        le=MAX_AMOUNT,
        description="Integer amount in the asset's minor unit (up to 2^128 - 1).",
        examples=[1250],
    ),
    BeforeValidator(_integer_only),
]
LedgerId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$"),
    Field(description="The ledger (tenant) the account belongs to.", examples=["main"]),
]
AssetCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,15}$"),
    Field(description="ISO 4217 code or a custom asset's code.", examples=["USD", "BTC"]),
]
AccountId = Annotated[str, StringConstraints(pattern=r"^acct_[0-9A-Z]{26}$")]
Metadata = Annotated[
    dict[str, Any],
    Field(description="Free key-value data, returned as given.", max_length=50),
    AfterValidator(_reject_nul),
]
# Free text, checked for NUL where it is declared (one pass over the request, not one per
# nesting level).
AssetName = Annotated[
    str, StringConstraints(min_length=1, max_length=100), AfterValidator(_reject_nul)
]
AccountName = Annotated[str, StringConstraints(max_length=200), AfterValidator(_reject_nul)]
Reference = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_reject_nul)
]
Description = Annotated[str, StringConstraints(max_length=500), AfterValidator(_reject_nul)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- assets -----------------------------------------------------------------------------------


class AssetCreate(StrictModel):
    code: AssetCode
    scale: int = Field(ge=0, le=MAX_SCALE, description="Digits after the point: BTC 8, ETH 18.")
    name: AssetName


class AssetOut(BaseModel):
    object: Literal["asset"] = "asset"
    code: str
    scale: int
    name: str
    kind: Literal["currency", "custom"]


# --- accounts ---------------------------------------------------------------------------------


class AccountCreate(StrictModel):
    ledger: LedgerId = "main"
    asset: AssetCode
    type: AccountType = Field(description="Asset, liability, equity, revenue or expense.")
    normal_side: Direction | None = Field(
        None, description="Defaults from the type: debit for asset/expense, credit otherwise."
    )
    name: AccountName | None = None
    external_ref: Reference | None = Field(
        None, description="Your own reference, unique per ledger."
    )
    owner_ref: Reference | None = Field(
        None, description="Who the account belongs to, in your terms."
    )
    metadata: Metadata = Field(default_factory=dict)
    debits_must_not_exceed_credits: bool = Field(
        False, description="No overdraft: debits (incl. holds) may not exceed credits."
    )
    credits_must_not_exceed_debits: bool = Field(
        False, description="Credits (incl. holds) may not exceed debits."
    )
    overdraft_limit: int = Field(
        0, ge=0, le=MAX_AMOUNT, description="How far the limited side may go past the other."
    )


class Balances(BaseModel):
    posted: int = Field(description="Posted balance on the account's normal side.")
    pending: int = Field(description="Posted balance with every hold applied.")
    available: int = Field(description="Posted balance less outgoing holds.")
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int


class AccountOut(BaseModel):
    object: Literal["ledger.account"] = "ledger.account"
    id: str
    ledger: str
    asset: str
    type: AccountType
    normal_side: Direction
    name: str | None
    external_ref: str | None
    owner_ref: str | None
    metadata: dict[str, Any]
    status: Literal["open", "closed"]
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    overdraft_limit: int
    balances: Balances
    version: int
    created_at: datetime
    closed_at: datetime | None


class BalanceOut(BaseModel):
    object: Literal["ledger.balance"] = "ledger.balance"
    account: str
    asset: str
    as_of: datetime | None = Field(description="The moment asked for; null means now.")
    balances: Balances


# --- transactions -----------------------------------------------------------------------------


class EntryIn(StrictModel):
    account: AccountId
    direction: Direction
    amount: Amount
    asset: AssetCode | None = Field(None, description="Optional check of the account's asset.")


class TransactionCreate(StrictModel):
    ledger: LedgerId = "main"
    entries: list[EntryIn] = Field(min_length=2, max_length=100)
    description: Description | None = None
    metadata: Metadata = Field(default_factory=dict)
    effective_at: AwareDatetime | None = Field(None, description="Value date; defaults to now.")
    pending: bool = Field(False, description="Reserve the funds (a hold) instead of posting.")
    expires_at: AwareDatetime | None = Field(
        None, description="When an unposted hold is released automatically."
    )


class TransferCreate(StrictModel):
    ledger: LedgerId = "main"
    from_account: AccountId = Field(description="Debited account.")
    to_account: AccountId = Field(description="Credited account.")
    amount: Amount
    asset: AssetCode
    description: Description | None = None
    metadata: Metadata = Field(default_factory=dict)
    effective_at: AwareDatetime | None = None
    pending: bool = False
    expires_at: AwareDatetime | None = None


class PostPendingIn(StrictModel):
    amount: Amount | None = Field(None, description="Post part of a two-entry hold.")
    entries: list[EntryIn] | None = Field(
        None, description="Post part of a multi-entry hold; each at most its held amount."
    )
    description: Description | None = None


class VoidPendingIn(StrictModel):
    description: Description | None = None


class ReverseIn(StrictModel):
    description: Description | None = None
    metadata: Metadata = Field(default_factory=dict)


class EntryOut(BaseModel):
    account: str
    asset: str
    direction: Direction
    phase: Literal["posted", "pending", "release"]
    amount: int


class TransactionOut(BaseModel):
    object: Literal["ledger.transaction"] = "ledger.transaction"
    id: str
    ledger: str
    kind: TransactionKind
    status: Literal["posted", "pending", "voided", "expired"]
    entries: list[EntryOut]
    description: str | None
    metadata: dict[str, Any]
    effective_at: datetime
    created_at: datetime
    expires_at: datetime | None
    pending_id: str | None = Field(description="The hold this transaction posts, voids or expires.")
    reverses_id: str | None
    resolved_by: str | None = Field(description="The transaction that posted/voided this hold.")
    reversed_by: str | None


class BatchCreate(StrictModel):
    mode: Literal["atomic", "independent"] = Field(
        "atomic", description="atomic: all or nothing. independent: a result per item."
    )
    transactions: list[TransactionCreate] = Field(min_length=1, max_length=5000)


class BatchItemOut(BaseModel):
    index: int
    status: Literal["created", "failed"]
    transaction: TransactionOut | None = None
    error: dict[str, Any] | None = Field(None, description="problem+json of the broken rule.")


class BatchOut(BaseModel):
    object: Literal["ledger.batch"] = "ledger.batch"
    mode: Literal["atomic", "independent"]
    created: int
    failed: int
    results: list[BatchItemOut]


class StatementEntryOut(BaseModel):
    object: Literal["ledger.entry"] = "ledger.entry"
    id: str
    transaction: str
    account: str
    asset: str
    direction: Direction
    phase: Literal["posted", "pending", "release"]
    amount: int
    sequence: int = Field(description="The entry's position in the account's history.")
    balance_after: Balances
    posted_at: datetime


# --- renderers --------------------------------------------------------------------------------


def balances_out(state: AccountState) -> dict[str, int]:
    return {
        "posted": state.posted_balance,
        "pending": state.pending_balance,
        "available": state.available_balance,
        "debits_posted": state.debits_posted,
        "credits_posted": state.credits_posted,
        "debits_pending": state.debits_pending,
        "credits_pending": state.credits_pending,
    }


def asset_out(asset: Any) -> dict[str, Any]:
    return {
        "object": "asset",
        "code": asset.code,
        "scale": asset.scale,
        "name": asset.name,
        "kind": asset.kind,
    }


def account_out(account: Account) -> dict[str, Any]:
    state = account.state
    return {
        "object": "ledger.account",
        "id": state.id,
        "ledger": state.ledger_id,
        "asset": state.asset,
        "type": account.type.value,
        "normal_side": state.normal_side.value,
        "name": account.name,
        "external_ref": account.external_ref,
        "owner_ref": account.owner_ref,
        "metadata": account.metadata,
        "status": state.status,
        "debits_must_not_exceed_credits": state.debits_must_not_exceed_credits,
        "credits_must_not_exceed_debits": state.credits_must_not_exceed_debits,
        "overdraft_limit": state.overdraft_limit,
        "balances": balances_out(state),
        "version": account.version,
        "created_at": account.created_at.isoformat(),
        "closed_at": account.closed_at.isoformat() if account.closed_at else None,
    }


def balance_out(balance: Balance) -> dict[str, Any]:
    return {
        "object": "ledger.balance",
        "account": balance.account.id,
        "asset": balance.account.asset,
        "as_of": balance.as_of.isoformat() if balance.as_of else None,
        "balances": balances_out(balance.account),
    }


def entry_id(entry: Entry) -> str | None:
    return f"ent_{entry.id}" if entry.id is not None else None


def transaction_out(txn: Transaction) -> dict[str, Any]:
    return {
        "object": "ledger.transaction",
        "id": txn.id,
        "ledger": txn.ledger_id,
        "kind": txn.kind.value,
        "status": txn.status,
        "entries": [
            {
                "account": e.account_id,
                "asset": e.asset,
                "direction": e.direction.value,
                "phase": e.phase.value,
                "amount": e.amount,
            }
            for e in txn.entries
        ],
        "description": txn.description,
        "metadata": txn.metadata,
        "effective_at": txn.effective_at.isoformat(),
        "created_at": txn.created_at.isoformat(),
        "expires_at": txn.expires_at.isoformat() if txn.expires_at else None,
        "pending_id": txn.pending_id,
        "reverses_id": txn.reverses_id,
        "resolved_by": txn.resolved_by,
        "reversed_by": txn.reversed_by,
    }


def statement_entry_out(entry: Entry, account: AccountState) -> dict[str, Any]:
    return {
        "object": "ledger.entry",
        "id": entry_id(entry),
        "transaction": entry.transaction_id,
        "account": entry.account_id,
        "asset": entry.asset,
        "direction": entry.direction.value,
        "phase": entry.phase.value,
        "amount": entry.amount,
        "sequence": entry.account_seq,
        "balance_after": balances_out(account.after(entry)),
        "posted_at": entry.posted_at.isoformat() if entry.posted_at else None,
    }


def batch_out(mode: str, outcomes: list[PostOutcome], instance: str) -> dict[str, Any]:
    results = []
    for index, outcome in enumerate(outcomes):
        if outcome.transaction is not None:
            results.append(
                {
                    "index": index,
                    "status": "created",
                    "transaction": transaction_out(outcome.transaction),
                    "error": None,
                }
            )
        else:
            assert outcome.error is not None
            results.append(
                {
                    "index": index,
                    "status": "failed",
                    "transaction": None,
                    "error": outcome.error.to_problem(instance),
                }
            )
    created = sum(1 for r in results if r["status"] == "created")
    return {
        "object": "ledger.batch",
        "mode": mode,
        "created": created,
        "failed": len(results) - created,
        "results": results,
    }
